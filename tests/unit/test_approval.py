"""Human approval of destructive actions: signed links, the request step, the decide step (link and CLI).

Step Functions is answered by a botocore Stubber on the adapter's own client: moto's default Step Functions
backend accepts any token silently, so it could not show a token that is no longer waited for. Everything else
(state table, topics, the signing-key secret, the decide function's URL) is moto. The last tests run the ASL Task
proposed for the runbooks in the embedded emulator (simulator/emulator.py): a real waitForTaskToken execution
answered through `lambda invoke` of the decide function, as the CLI command does.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from botocore.stub import Stubber

from remediation import clock
from remediation.adapters import stepfunctions
from remediation.adapters.aws import client
from remediation.domain import approval
from remediation.domain.approval import ApprovalRefused, TaskNoLongerWaiting
from remediation.errors import InvalidInput
from remediation.handlers import approval as handlers
from remediation.logic import approval as approvals
from remediation.observability import logger
from remediation.settings import load_settings
from simulator.emulator import EmbeddedAws, VirtualClock
from tests.unit.conftest import SERVICES, STATE_TABLE, boto, execution_arn, settings_document

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAZ0Wd8RkHxtvAqPxYq1cLh7tLz+n2o3VvT5Yk0bU9Xq1Qm4ZsRkq8sPr+w9GfakeTaskToken=="
RUN = execution_arn("run-approval")
DECIDE_FUNCTION = "acso-production-approval-decide"
KEY = b"k3y-for-tests-0123456789abcdef-0123456789abcdef"
SUPERVISOR = SERVICES["supervisor"]
PROPOSAL = {
    "action": "resize-task",
    "service": SUPERVISOR,
    "from": {"cpu": 256, "memory": 512},
    "to": {"cpu": 512, "memory": 1024},
}
SUMMARY = "CPU max (30 min): supervisor 97.0 %\nAt the cap: 6 running / 6 desired\nLogs: 42 timeouts"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64)"
VISITOR_IP = "203.0.113.7"


# -- Fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def approval_aws(aws, virtual_clock, monkeypatch) -> Iterator[dict]:
    """moto with the signing-key secret and the decide function behind a function URL; settings naming both."""
    secret_arn = boto("secretsmanager").create_secret(
        Name="acso-production-approval-signing-key", SecretString=KEY.decode()
    )["ARN"]
    role_arn = boto("iam").create_role(
        RoleName="approval-decide",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    boto("lambda").create_function(
        FunctionName=DECIDE_FUNCTION,
        Runtime="python3.11",
        Role=role_arn,
        Handler="remediation.handlers.approval.decide",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    url = boto("lambda").create_function_url_config(FunctionName=DECIDE_FUNCTION, AuthType="NONE")["FunctionUrl"]
    document = settings_document(aws.topic_arns) | {
        "approval": {"functionName": DECIDE_FUNCTION, "secretArn": secret_arn}
    }
    monkeypatch.setenv("ACSO_SETTINGS", json.dumps(document))
    load_settings.cache_clear()
    approvals.clear_caches()
    yield {"url": url, "secretArn": secret_arn}
    approvals.clear_caches()
    load_settings.cache_clear()


@pytest.fixture
def step_functions() -> Iterator[Stubber]:
    """The adapter's Step Functions client; a call without a queued answer fails the test."""
    with Stubber(client("stepfunctions")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def lambda_logs(monkeypatch) -> io.StringIO:
    """What the handlers log (Powertools writes JSON lines to its own stream)."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return stream


# -- Helpers ------------------------------------------------------------------------------------------------------


def approval_request(**overrides) -> dict:
    """The Payload the state machine's waitForTaskToken task sends."""
    return {
        "taskToken": TOKEN,
        "executionArn": RUN,
        "runbook": "high-cpu",
        "request": {"service_name": SUPERVISOR, "trigger": "alarm"},
        "proposal": PROPOSAL,
        "summary": SUMMARY,
        "level": "L2",
        "timeoutSeconds": 1800,
    } | overrides


def requested(aws, lambda_context) -> tuple[str, dict]:
    """Run the request step; (approval id, the one L2 notification)."""
    result = handlers.request_approval(approval_request(), lambda_context)
    notifications = aws.notifications("L2")
    assert len(notifications) == 1
    return result["approvalId"], notifications[0]


def link(notification: dict, verb: str) -> str:
    return re.search(rf"^{verb.capitalize()}:\s+(\S+)$", notification["Message"], re.MULTILINE).group(1)


def url_event(url: str, method: str = "GET", by: str | None = None) -> dict:
    """A Lambda function URL request (payload format 2.0); a POST carries the confirmation form, base64 encoded."""
    query = urlsplit(url).query
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": query,
        "queryStringParameters": dict(parse_qsl(query)),
        "headers": {"host": urlsplit(url).netloc, "user-agent": BROWSER},
        "requestContext": {
            "accountId": "anonymous",
            "domainName": urlsplit(url).netloc,
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": VISITOR_IP,
                "userAgent": BROWSER,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if method == "POST":
        event["headers"]["content-type"] = "application/x-www-form-urlencoded"
        event["body"] = base64.b64encode(urlencode({"by": by or ""}).encode()).decode()
        event["isBase64Encoded"] = True
    return event


def item(approval_id: str) -> dict:
    return boto("dynamodb").get_item(
        TableName=STATE_TABLE,
        Key={"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": "APPROVAL"}},
        ConsistentRead=True,
    )["Item"]


def expect_success(stubber: Stubber, approval_id: str, approver: str, decided_at: str) -> None:
    output = {"approved": True, "approver": approver, "approvalId": approval_id, "decidedAt": decided_at}
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": json.dumps(output)})


# -- Signing (pure) -----------------------------------------------------------------------------------------------


def test_given_a_link_signed_with_the_key_when_verified_before_it_expires_then_it_is_accepted(virtual_clock):
    approval_id, expires = str(uuid.uuid4()), int(virtual_clock.now.timestamp()) + 600
    signature = approval.sign(KEY, approval_id, "approve", expires)

    approval.verify_link(KEY, approval_id, "approve", expires, signature, virtual_clock.now)


@pytest.mark.parametrize("tampered", ["id", "decision", "expires", "sig", "key"])
def test_given_a_link_with_one_value_changed_when_verified_then_it_is_refused_as_forbidden(virtual_clock, tampered):
    approval_id, expires = str(uuid.uuid4()), int(virtual_clock.now.timestamp()) + 600
    values = {"id": approval_id, "decision": "reject", "expires": expires, "key": KEY}
    values["sig"] = approval.sign(KEY, approval_id, "reject", expires)
    values[tampered] = {
        "id": str(uuid.uuid4()),
        "decision": "approve",
        "expires": expires + 86400,
        "sig": "0" * 64,
        "key": b"another-environment-key-0123456789abcdef",
    }[tampered]

    with pytest.raises(ApprovalRefused) as refused:
        approval.verify_link(
            values["key"], values["id"], values["decision"], values["expires"], values["sig"], virtual_clock.now
        )

    assert (refused.value.status, refused.value.reason) == (403, "bad-signature")


def test_given_a_correctly_signed_link_when_opened_after_it_expires_then_it_is_refused_as_gone(virtual_clock):
    approval_id, expires = str(uuid.uuid4()), int(virtual_clock.now.timestamp()) + 600
    signature = approval.sign(KEY, approval_id, "approve", expires)

    with pytest.raises(ApprovalRefused) as refused:
        approval.verify_link(
            KEY, approval_id, "approve", expires, signature, virtual_clock.now + timedelta(seconds=600)
        )

    assert (refused.value.status, refused.value.reason) == (410, "link-expired")


def test_given_a_proposal_when_described_then_one_ascii_line_names_action_service_and_change():
    assert approval.describe_proposal(PROPOSAL) == (
        f"resize-task {SUPERVISOR} cpu=256 memory=512 -> cpu=512 memory=1024"
    )


# -- Request step -------------------------------------------------------------------------------------------------


def test_given_a_destructive_proposal_when_approval_is_requested_then_the_token_is_stored_and_one_notification_has_both_links_and_commands_but_not_the_token(  # noqa: E501
    approval_aws, aws, virtual_clock, lambda_context, lambda_logs, capsys, caplog
):
    caplog.set_level("INFO")  # botocore DEBUG logs print request bodies; nothing here enables them
    approval_id, notification = requested(aws, lambda_context)

    stored = item(approval_id)
    deadline = int(virtual_clock.now.timestamp()) + 1800
    assert stored["taskToken"]["S"] == TOKEN
    assert stored["executionArn"]["S"] == RUN
    assert stored["status"]["S"] == "PENDING"
    assert json.loads(stored["proposal"]["S"]) == PROPOSAL
    assert stored["expiresAt"]["N"] == stored["deadline"]["N"] == str(deadline)

    message = notification["Message"]
    assert notification["Subject"] == f"[ACSO production] APPROVAL NEEDED high-cpu: resize-task {SUPERVISOR}"
    assert f"Proposed action: resize-task {SUPERVISOR} cpu=256 memory=512 -> cpu=512 memory=1024" in message
    for verb in ("approve", "reject"):
        query = dict(parse_qsl(urlsplit(link(notification, verb)).query))
        assert link(notification, verb).startswith(approval_aws["url"])
        assert query == {
            "id": approval_id,
            "decision": verb,
            "expires": str(deadline),
            "sig": approval.sign(KEY, approval_id, verb, deadline),
        }
        payload = json.dumps(
            {"approvalId": approval_id, "decision": verb, "approver": "<your name>"}, separators=(",", ":")
        )
        assert (
            f"aws lambda invoke --function-name {DECIDE_FUNCTION} --cli-binary-format raw-in-base64-out "
            f"--payload '{payload}' /dev/stdout"
        ) in message
    assert SUMMARY in message
    assert "escalation L2: Development team lead, severity High, respond within 5 min" in message

    printed = capsys.readouterr()
    logged = lambda_logs.getvalue()
    assert approval_id in logged  # the approval is logged by its id ...
    for text in (message, notification["Subject"], json.dumps(notification["MessageAttributes"]), logged):
        assert TOKEN not in text  # ... never by its token
    assert TOKEN not in printed.out + printed.err
    assert "Approval requested" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in json.dumps(record.__dict__, default=str) for record in caplog.records)


def test_given_the_request_step_is_retried_with_the_same_token_when_it_runs_again_then_nobody_is_notified_twice(
    approval_aws, aws, lambda_context
):
    first = handlers.request_approval(approval_request(), lambda_context)

    second = handlers.request_approval(approval_request(), lambda_context)

    assert second["approvalId"] == first["approvalId"]
    assert len(aws.notifications("L2")) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_given_an_invalid_request_payload_when_approval_is_requested_then_the_error_names_fields_but_never_the_token(
    approval_aws, aws, lambda_context
):
    with pytest.raises(InvalidInput) as invalid:
        handlers.request_approval(
            approval_request(proposal={"service": SUPERVISOR}, timeoutSeconds=5, level="L9"), lambda_context
        )

    assert "proposal: Value error, must name the action" in str(invalid.value)
    assert "timeoutSeconds: Input should be greater than or equal to 60" in str(invalid.value)
    assert TOKEN not in str(invalid.value)
    assert aws.notifications("L2") == []


# -- Decide: links ------------------------------------------------------------------------------------------------


def test_given_an_approve_link_when_opened_then_a_confirmation_page_is_shown_and_nothing_is_decided(
    approval_aws, aws, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)

    page = handlers.decide(url_event(link(notification, "approve")), lambda_context)

    assert page["statusCode"] == 200
    assert page["headers"]["content-type"].startswith("text/html")
    assert '<form method="post"' in page["body"]
    assert f"resize-task {SUPERVISOR}" in page["body"]
    assert TOKEN not in page["body"]
    assert item(approval_id)["status"]["S"] == "PENDING"  # mail scanners that open links approve nothing


def test_given_an_approve_link_when_its_button_is_pressed_then_step_functions_gets_one_success_naming_the_approver(
    approval_aws, aws, virtual_clock, lambda_context, step_functions, lambda_logs
):
    approval_id, notification = requested(aws, lambda_context)
    approver = f"Jane Doe, link from {VISITOR_IP} ({BROWSER})"
    expect_success(step_functions, approval_id, approver, virtual_clock.now.isoformat())

    page = handlers.decide(url_event(link(notification, "approve"), "POST", by="Jane Doe"), lambda_context)

    assert page["statusCode"] == 200
    assert "Approved" in page["body"]
    stored = item(approval_id)
    assert stored["status"]["S"] == "APPROVED"
    assert stored["approver"]["S"] == approver
    assert stored["channel"]["S"] == "link"
    assert stored["decidedAt"]["S"] == virtual_clock.now.isoformat()
    assert int(stored["expiresAt"]["N"]) > int(stored["deadline"]["N"])  # kept for the audit
    assert TOKEN not in lambda_logs.getvalue()
    assert "sig=" not in lambda_logs.getvalue()


def test_given_an_approved_link_when_the_same_request_is_replayed_then_it_is_refused_and_step_functions_hears_nothing(
    approval_aws, aws, virtual_clock, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)
    press = url_event(link(notification, "approve"), "POST", by="Jane Doe")
    expect_success(
        step_functions, approval_id, f"Jane Doe, link from {VISITOR_IP} ({BROWSER})", virtual_clock.now.isoformat()
    )
    handlers.decide(press, lambda_context)

    replay = handlers.decide(press, lambda_context)
    reject = handlers.decide(url_event(link(notification, "reject"), "POST"), lambda_context)

    assert replay["statusCode"] == reject["statusCode"] == 409
    assert "already approved by Jane Doe" in replay["body"]
    assert item(approval_id)["status"]["S"] == "APPROVED"


def test_given_a_link_whose_decision_was_changed_when_pressed_then_it_is_forbidden_and_step_functions_hears_nothing(
    approval_aws, aws, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)
    forged = link(notification, "reject").replace("decision=reject", "decision=approve")

    page = handlers.decide(url_event(forged, "POST"), lambda_context)

    assert page["statusCode"] == 403
    assert "not valid" in page["body"]
    assert item(approval_id)["status"]["S"] == "PENDING"


def test_given_a_link_signed_for_another_approval_id_when_pressed_then_it_is_forbidden(
    approval_aws, aws, lambda_context, step_functions
):
    _, notification = requested(aws, lambda_context)
    foreign = link(notification, "approve").replace(
        dict(parse_qsl(urlsplit(link(notification, "approve")).query))["id"], str(uuid.uuid4())
    )

    page = handlers.decide(url_event(foreign, "POST"), lambda_context)

    assert page["statusCode"] == 403


def test_given_a_link_opened_after_the_approval_timed_out_then_it_is_gone_and_nothing_is_sent(
    approval_aws, aws, virtual_clock, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)
    virtual_clock.advance(1800)

    page = handlers.decide(url_event(link(notification, "approve"), "POST"), lambda_context)

    assert page["statusCode"] == 410
    assert "expired" in page["body"]
    assert item(approval_id)["status"]["S"] == "PENDING"


def test_given_step_functions_already_timed_the_task_out_when_approved_then_the_page_says_gone_and_the_item_is_expired(
    approval_aws, aws, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)
    step_functions.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)

    page = handlers.decide(url_event(link(notification, "approve"), "POST", by="Jane Doe"), lambda_context)

    assert page["statusCode"] == 410
    assert "stopped waiting" in page["body"]
    stored = item(approval_id)
    assert stored["status"]["S"] == "EXPIRED"
    assert stored["attemptedDecision"]["S"] == "APPROVED"
    assert stored["attemptedBy"]["S"].startswith("Jane Doe, link from")
    assert "approver" not in stored


def test_given_step_functions_throttles_when_approved_then_the_page_asks_to_retry_and_the_retry_succeeds(
    approval_aws, aws, virtual_clock, lambda_context, step_functions
):
    approval_id, notification = requested(aws, lambda_context)
    press = url_event(link(notification, "approve"), "POST", by="Jane Doe")
    step_functions.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)

    first = handlers.decide(press, lambda_context)

    assert first["statusCode"] == 503
    assert item(approval_id)["status"]["S"] == "PENDING"
    expect_success(
        step_functions, approval_id, f"Jane Doe, link from {VISITOR_IP} ({BROWSER})", virtual_clock.now.isoformat()
    )
    assert handlers.decide(press, lambda_context)["statusCode"] == 200


def test_given_an_incomplete_link_when_opened_then_a_readable_bad_request_page_is_shown(
    approval_aws, aws, lambda_context, step_functions
):
    page = handlers.decide(url_event(f"{approval_aws['url']}?id=nope"), lambda_context)

    assert page["statusCode"] == 400
    assert "missing decision, expires, sig" in page["body"]


# -- Decide: CLI --------------------------------------------------------------------------------------------------


def test_given_a_cli_reject_when_invoked_then_step_functions_gets_approval_rejected_and_the_approver_is_stored(
    approval_aws, aws, virtual_clock, lambda_context, step_functions
):
    approval_id, _ = requested(aws, lambda_context)
    decided_at = virtual_clock.now.isoformat()
    step_functions.add_response(
        "send_task_failure",
        {},
        {"taskToken": TOKEN, "error": "ApprovalRejected", "cause": f"Rejected by Jane Doe at {decided_at}"},
    )

    answer = handlers.decide({"approvalId": approval_id, "decision": "reject", "approver": "Jane Doe"}, lambda_context)

    assert answer == {
        "approvalId": approval_id,
        "outcome": "rejected",
        "runbook": "high-cpu",
        "proposal": PROPOSAL,
        "approver": "Jane Doe",
        "decidedAt": decided_at,
    }
    stored = item(approval_id)
    assert (stored["status"]["S"], stored["approver"]["S"], stored["channel"]["S"]) == ("REJECTED", "Jane Doe", "cli")


@pytest.mark.parametrize("approver", [None, "", "   ", "<your name>"])
def test_given_a_cli_decision_without_a_real_approver_name_when_invoked_then_it_is_invalid_input(
    approval_aws, aws, lambda_context, step_functions, approver
):
    approval_id, _ = requested(aws, lambda_context)
    payload = {"approvalId": approval_id, "decision": "approve"} | ({} if approver is None else {"approver": approver})

    with pytest.raises(InvalidInput, match='"approver" is required'):
        handlers.decide(payload, lambda_context)

    assert item(approval_id)["status"]["S"] == "PENDING"


def test_given_a_cli_decision_for_an_unknown_approval_id_when_invoked_then_it_is_refused(
    approval_aws, aws, lambda_context, step_functions
):
    with pytest.raises(ApprovalRefused) as refused:
        handlers.decide({"approvalId": str(uuid.uuid4()), "decision": "approve", "approver": "Jane"}, lambda_context)

    assert (refused.value.status, refused.value.reason) == (403, "unknown-approval")


def test_given_a_cli_approval_after_the_deadline_when_invoked_then_it_is_refused_as_expired(
    approval_aws, aws, virtual_clock, lambda_context, step_functions
):
    approval_id, _ = requested(aws, lambda_context)
    virtual_clock.advance(1801)

    with pytest.raises(ApprovalRefused) as refused:
        handlers.decide({"approvalId": approval_id, "decision": "approve", "approver": "Jane"}, lambda_context)

    assert (refused.value.status, refused.value.reason) == (410, "approval-expired")


# -- Step Functions adapter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_given_step_functions_no_longer_waits_for_a_token_when_answered_then_task_no_longer_waiting_hides_the_token(
    step_functions, code
):
    step_functions.add_client_error(
        "send_task_failure", service_error_code=code, service_message=f"Invalid token {TOKEN}", http_status_code=400
    )

    with pytest.raises(TaskNoLongerWaiting) as gone:
        stepfunctions.send_task_failure(TOKEN, "ApprovalRejected", "Rejected by Jane")

    assert str(gone.value).startswith(f"states.SendTaskFailure: {code}")
    assert TOKEN not in str(gone.value)
    assert gone.value.__cause__ is None


# -- The proposed ASL Task, run in the embedded emulator (moto's interpreter, handlers in-process) ----------------

REQUEST_FUNCTION = "acso-production-approval-request"
# The Task proposed for the runbooks' ASL files (see the report); every Catch goes to the one failure path.
APPROVAL_TASK = {
    "Type": "Task",
    "Comment": "Destructive action: wait for a person (signed link or CLI). Rejected (ApprovalRejected) or "
    "unanswered (States.Timeout): nothing is done and the failure path escalates.",
    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters": {
        "FunctionName": "${RequestApprovalFunctionArn}",
        "Payload": {
            "taskToken.$": "$$.Task.Token",
            "executionArn.$": "$$.Execution.Id",
            "runbook": "high-cpu",
            "request.$": "$.request",
            "proposal.$": "$.proposal",
            "summary.$": "$.summary",
            "level": "L2",
            "timeoutSeconds": 1800,
        },
    },
    "TimeoutSeconds": 1800,
    "Retry": [
        {
            "ErrorEquals": [
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            "IntervalSeconds": 2,
            "MaxAttempts": 3,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        },
        {
            "ErrorEquals": ["AwsThrottled"],
            "IntervalSeconds": 5,
            "MaxAttempts": 4,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        },
    ],
    "ResultPath": "$.approval",
    "Catch": [
        {"ErrorEquals": ["ApprovalRejected"], "ResultPath": "$.error", "Next": "RecordFailure"},
        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "RecordFailure"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"},
    ],
    "Next": "ResizeTask",
}


@pytest.fixture
def emulated(monkeypatch) -> Iterator[tuple[EmbeddedAws, str]]:
    """EmbeddedAws (simulator/emulator.py) with the approval's table, topic, key, decide URL and both handlers."""
    virtual = VirtualClock()
    with EmbeddedAws(virtual, region="eu-west-1") as embedded:
        clock.use_source(virtual.now)
        embedded.client("dynamodb").create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        topics = {
            level: embedded.client("sns").create_topic(Name=f"acso-production-escalation-{level}")["TopicArn"]
            for level in ("L1", "L2", "L3", "L4")
        }
        secret_arn = embedded.client("secretsmanager").create_secret(Name="signing", SecretString=KEY.decode())["ARN"]
        document = settings_document(topics) | {"approval": {"functionName": DECIDE_FUNCTION, "secretArn": secret_arn}}
        embedded.set_environment({"ACSO_SETTINGS": json.dumps(document)})
        load_settings.cache_clear()
        approvals.clear_caches()
        request_arn = embedded.register_function(REQUEST_FUNCTION, handlers.request_approval)
        embedded.register_function(DECIDE_FUNCTION, handlers.decide)
        embedded.client("lambda").create_function_url_config(FunctionName=DECIDE_FUNCTION, AuthType="NONE")
        definition = {
            "StartAt": "RequestApproval",
            "States": {
                "RequestApproval": json.loads(
                    json.dumps(APPROVAL_TASK).replace("${RequestApprovalFunctionArn}", request_arn)
                ),
                "ResizeTask": {"Type": "Pass", "Result": "resized", "ResultPath": "$.acted", "End": True},
                "RecordFailure": {"Type": "Pass", "Result": "escalated", "ResultPath": "$.recorded", "Next": "Failed"},
                "Failed": {"Type": "Fail", "Error": "RunbookFailed"},
            },
        }
        state_machine = embedded.deploy_state_machine("approval-probe", definition)
        try:
            yield embedded, state_machine
        finally:
            clock.use_source(None)
            approvals.clear_caches()
            load_settings.cache_clear()


def _waiting_approval(embedded, timeout_s: float = 10) -> str:
    """The approval id, once the request step has notified (the execution is then waiting for the token)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = embedded.client("dynamodb").scan(TableName=STATE_TABLE, ConsistentRead=True)["Items"]
        notified = [i for i in items if i["pk"]["S"].startswith("APPROVAL#") and "messageId" in i]
        if notified:
            return notified[0]["approvalId"]["S"]
        time.sleep(0.02)
    raise AssertionError("the request step did not notify")


def _cli(embedded, payload: dict) -> tuple[str | None, dict]:
    """What `aws lambda invoke --function-name <decide> --payload '<json>' /dev/stdout` gets: (error, body)."""
    response = embedded.client("lambda").invoke(FunctionName=DECIDE_FUNCTION, Payload=json.dumps(payload))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def _recorded_error(result) -> dict:
    """The $.error the failure path received (what the record step audits and pages about)."""
    (exited,) = [
        event
        for event in result.history
        if event["type"] == "PassStateExited" and event["stateExitedEventDetails"]["name"] == "RecordFailure"
    ]
    return json.loads(exited["stateExitedEventDetails"]["output"])["error"]


def _execution_input() -> dict:
    return {"request": {"service_name": SUPERVISOR}, "proposal": PROPOSAL, "summary": SUMMARY}


def test_given_the_proposed_approval_task_when_a_person_approves_by_cli_then_the_execution_acts_with_the_approver(
    emulated,
):
    embedded, state_machine = emulated
    execution = embedded.start_execution(state_machine, _execution_input())
    approval_id = _waiting_approval(embedded)

    error, answer = _cli(embedded, {"approvalId": approval_id, "decision": "approve", "approver": "Jane Doe"})
    result = embedded.wait_for(execution)

    assert (error, answer["outcome"], answer["approver"]) == (None, "approved", "Jane Doe")

    assert result.status == "SUCCEEDED"
    assert result.output["acted"] == "resized"
    assert result.output["approval"]["approved"] is True
    assert result.output["approval"]["approver"] == "Jane Doe"
    assert result.output["approval"]["approvalId"] == approval_id


def test_given_the_proposed_approval_task_when_a_person_rejects_then_the_failure_path_gets_approval_rejected(
    emulated,
):
    embedded, state_machine = emulated
    execution = embedded.start_execution(state_machine, _execution_input())
    approval_id = _waiting_approval(embedded)

    _cli(embedded, {"approvalId": approval_id, "decision": "reject", "approver": "Jane Doe"})
    result = embedded.wait_for(execution)

    assert result.status == "FAILED"
    assert "ResizeTask" not in result.state_transitions
    assert _recorded_error(result)["Error"] == "ApprovalRejected"
    # moto's SendTaskFailure drops `cause`; the Stubber test above shows "Rejected by <approver> at <time>" is sent.
    error, answer = _cli(embedded, {"approvalId": approval_id, "decision": "approve", "approver": "Mallory"})
    assert (error, answer["errorType"]) == ("Unhandled", "ApprovalRefused")
    assert "already rejected by Jane Doe" in answer["errorMessage"]


def test_given_the_proposed_approval_task_when_nobody_answers_in_time_then_it_escalates_and_a_late_approval_is_refused(
    emulated,
):
    embedded, state_machine = emulated
    execution = embedded.start_execution(state_machine, _execution_input())
    approval_id = _waiting_approval(embedded)

    embedded.clock.advance(1800)
    result = embedded.wait_for(execution)
    error, answer = _cli(embedded, {"approvalId": approval_id, "decision": "approve", "approver": "Late Larry"})

    assert result.status == "FAILED"
    assert "ResizeTask" not in result.state_transitions
    assert _recorded_error(result)["Error"] == "States.Timeout"
    assert (error, answer["errorType"]) == ("Unhandled", "ApprovalRefused")
    assert "expired" in answer["errorMessage"]
