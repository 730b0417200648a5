"""data-breach: what starts it, the guard's one way to 0 tasks, the write-once evidence and what each audience hears.

Against moto: ECS, DynamoDB, S3 with Object Lock (retention applied on put, a locked version refuses deletion,
`If-None-Match: *` refuses a second write of a key), CloudWatch Logs and SNS read back through SQS.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from remediation.adapters import ecs, evidence, state_store
from remediation.domain import data_breach as rules
from remediation.domain import summaries
from remediation.domain.requests.common import ServiceRequest
from remediation.domain.requests.incidents import DataBreachRequest, normalize_data_breach
from remediation.domain.summaries import RunContext
from remediation.errors import InvalidInput
from remediation.logic import data_breach, guard
from remediation.settings import load_settings
from tests.unit.conftest import (
    ACCOUNT_ID,
    AGENTS_LOG_GROUP,
    AUDIENCES,
    CLUSTER,
    EVIDENCE_BUCKET,
    REGION,
    SERVICES,
    STATE_TABLE,
    boto,
)

AGENT = "financial-intelligence"
SERVICE = SERVICES[AGENT]
RESOURCE = f"{CLUSTER}/{SERVICE}"
RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-data-breach:breach-1"
OTHER_RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-data-breach:breach-2"
BY_HAND = {"service": AGENT, "reason": "exfiltration suspected, ticket SEC-123"}


def _finding(**changes) -> dict:
    """A GuardDuty Runtime Monitoring finding about a task of financial-intelligence (documented event shape)."""
    detail = {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT_ID,
        "region": REGION,
        "id": "8ec8d2c0a1b2c3d4e5f6",
        "type": "Exfiltration:Runtime/SuspiciousCommand",
        "severity": 8.0,
        "title": "A suspicious command was executed inside a task.",
        "updatedAt": "2026-11-27T09:00:00.000Z",
        "resource": {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": {
                "name": CLUSTER,
                "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}",
                "taskDetails": {
                    "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{CLUSTER}/0123456789abcdef",
                    "definitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/{SERVICE}:1",
                    "group": f"service:{SERVICE}",
                },
            },
        },
    }
    event = {
        "version": "0",
        "id": "evt-1",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": ACCOUNT_ID,
        "region": REGION,
        "time": "2026-11-27T09:00:00Z",
        "detail": detail,
    }
    for path, value in changes.items():
        node = event
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return event


def _normalize(raw, execution_name: str = "breach-1") -> DataBreachRequest:
    return normalize_data_breach(raw, load_settings(), execution_name, ACCOUNT_ID, REGION)


# -- What starts it -------------------------------------------------------------------------------------------------


def test_given_a_console_input_when_normalized_then_it_isolates_that_agent_for_the_given_reason(settings_only):
    request = _normalize(BY_HAND)

    assert (request.runbook, request.trigger, request.action, request.service_name) == (
        "data-breach",
        "console",
        "isolate",
        SERVICE,
    )
    assert request.reason == BY_HAND["reason"]
    assert request.idempotency_key == "console:breach-1#isolate"
    assert request.model_dump()["action"] == "isolate", "the guard step reads the action from the request"


def test_given_restore_true_when_normalized_then_it_is_a_restore_run(settings_only):
    request = _normalize(BY_HAND | {"restore": True})

    assert (request.action, request.restore, request.idempotency_key) == ("restore", True, "console:breach-1#restore")


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({"service": AGENT}, "reason"),
        (BY_HAND | {"desiredCount": 0}, "desiredCount"),
        (BY_HAND | {"service": "*"}, "Configured agents"),
        (BY_HAND | {"restore": "yes"}, "restore"),
        ({}, "Start this runbook with"),
    ],
)
def test_given_a_bad_console_input_when_normalized_then_it_is_rejected_saying_what_to_send(settings_only, raw, hint):
    with pytest.raises(InvalidInput, match=hint):
        _normalize(raw)


def test_given_a_high_severity_finding_about_an_agents_task_when_normalized_then_it_isolates_that_service(
    settings_only,
):
    request = _normalize(_finding())

    assert (request.trigger, request.action, request.agent) == ("finding", "isolate", AGENT)
    assert request.idempotency_key == "guardduty:8ec8d2c0a1b2c3d4e5f6#isolate", "one isolation per finding"
    assert request.finding["type"] == "Exfiltration:Runtime/SuspiciousCommand"
    assert "severity 8" in request.reason


@pytest.mark.parametrize(
    ("changes", "hint"),
    [
        ({"account": "210987654321", "detail.accountId": "210987654321"}, "acts only on account"),
        ({"detail.accountId": "210987654321"}, "acts only on account"),
        ({"detail.region": "us-east-1"}, "acts only on account"),
        ({"detail.severity": 5.0}, "only High and Critical"),
        ({"detail.resource.ecsClusterDetails.name": "someone-elses-cluster"}, "not a task of"),
        (
            {"detail.resource.ecsClusterDetails.arn": f"arn:aws:ecs:{REGION}:210987654321:cluster/{CLUSTER}"},
            "not a task of",
        ),
        ({"detail.resource.resourceType": "Instance"}, "not a task of"),
        ({"detail.resource.ecsClusterDetails.taskDetails.group": "family:acso-production-tool"}, "not a service"),
        ({"detail.resource.ecsClusterDetails.taskDetails.group": "service:payments"}, "Unknown service"),
        ({"source": "aws.securityhub"}, "not a GuardDuty finding"),
    ],
)
def test_given_a_finding_about_another_account_resource_or_severity_when_normalized_then_it_is_rejected(
    settings_only, changes, hint
):
    with pytest.raises(InvalidInput, match=hint):
        _normalize(_finding(**changes))


# -- The guard's one way to 0 tasks -----------------------------------------------------------------------------------


def _breach_request(**changes) -> DataBreachRequest:
    fields = {
        "runbook": "data-breach",
        "trigger": "console",
        "dry_run": False,
        "idempotency_key": "console:breach-1#isolate",
        "reason": "exfiltration suspected",
        "agent": AGENT,
        "service_name": SERVICE,
        "cluster_name": CLUSTER,
    }
    return DataBreachRequest(**fields | changes)


def _record_approval(execution: str = RUN, runbook: str = "data-breach", service: str = SERVICE, **changes) -> dict:
    """What logic/approval.py stores once a person approved (status APPROVED before Step Functions is told)."""
    approval_id = "5f0b6a56-2c55-4e4e-9a55-6bb3c3a0d0f1"
    item = {
        "pk": {"S": f"APPROVAL#{approval_id}"},
        "sk": {"S": "APPROVAL"},
        "status": {"S": "APPROVED"},
        "executionArn": {"S": execution},
        "runbook": {"S": runbook},
        "approver": {"S": "sara"},
        "taskToken": {"S": "AAAA-secret"},
        "proposal": {"S": json.dumps({"action": "isolate-service", "service": service})},
    } | {key: {"S": value} for key, value in changes.items()}
    boto("dynamodb").put_item(TableName=STATE_TABLE, Item=item)
    return {"approved": True, "approver": "sara", "approvalId": approval_id, "decidedAt": "2026-11-27T09:05:00"}


def _authorize(aws, request: ServiceRequest, approval: dict | None, execution: str = RUN):
    aws.create_service(AGENT, 2)
    current = ecs.describe_services(CLUSTER, [SERVICE])[SERVICE]
    return guard.authorize_write(request, current, 0, execution, load_settings(), approved_isolation=approval)


def test_given_no_approval_when_desired_0_is_asked_then_the_guard_refuses_it_below_the_floor(aws, virtual_clock):
    authorization = _authorize(aws, _breach_request(), None)

    assert (authorization.allowed, authorization.reason) == (False, "below-floor")


def test_given_an_approval_the_store_never_recorded_when_desired_0_is_asked_then_it_is_refused(aws, virtual_clock):
    claimed = {"approved": True, "approver": "mallory", "approvalId": "5f0b6a56-2c55-4e4e-9a55-6bb3c3a0d0f1"}

    assert _authorize(aws, _breach_request(), claimed).reason == "below-floor"


@pytest.mark.parametrize(
    "recorded",
    [
        {"execution": OTHER_RUN},
        {"service": SERVICES["supervisor"]},
        {"status": "REJECTED"},
        {"status": "PENDING"},
    ],
    ids=["another execution's", "another service's", "rejected", "still pending"],
)
def test_given_an_approval_that_is_not_for_this_isolation_when_desired_0_is_asked_then_it_is_refused(
    aws, virtual_clock, recorded
):
    approval = _record_approval(**recorded)

    assert _authorize(aws, _breach_request(), approval).reason == "below-floor"


def test_given_another_runbook_with_a_recorded_approval_when_it_asks_for_0_then_it_is_refused(aws, virtual_clock):
    approval = _record_approval(runbook="scale-agent")
    request = ServiceRequest(
        **_breach_request().model_dump(exclude={"restore", "finding", "action"}) | {"runbook": "scale-agent"}
    )

    assert _authorize(aws, request, approval).reason == "below-floor"


def test_given_this_runs_recorded_approval_when_desired_0_is_asked_then_the_isolation_is_authorized(aws, virtual_clock):
    approval = _record_approval()

    assert _authorize(aws, _breach_request(), approval).allowed is True


def test_given_an_approved_isolation_when_a_count_between_0_and_the_floor_is_asked_then_it_is_refused(
    aws, virtual_clock
):
    aws.use_settings(minDesiredCount=2)
    approval = _record_approval()
    aws.create_service(AGENT, 3)
    current = ecs.describe_services(CLUSTER, [SERVICE])[SERVICE]

    authorization = guard.authorize_write(
        _breach_request(), current, 1, RUN, load_settings(), approved_isolation=approval
    )

    assert authorization.reason == "below-floor", "only exactly 0 (isolation) may pass below the floor"


# -- Write-once evidence ----------------------------------------------------------------------------------------------


@pytest.fixture
def breach(aws):
    """The evidence bucket as the stack makes it (Object Lock, COMPLIANCE, a year), audiences' topics, the logs."""
    s3 = boto("s3")
    s3.create_bucket(
        Bucket=EVIDENCE_BUCKET,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object_lock_configuration(
        Bucket=EVIDENCE_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
        },
    )
    sns, sqs = boto("sns"), boto("sqs")
    queues = {}
    for audience in AUDIENCES:
        topic_arn = sns.create_topic(Name=f"acso-production-{audience}")["TopicArn"]
        url = sqs.create_queue(QueueName=f"{audience}-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        queues[audience] = url
    aws.queue_urls |= queues
    aws.create_service(AGENT, 2)
    return aws


def _versions(key: str) -> list[dict]:
    return boto("s3").list_object_versions(Bucket=EVIDENCE_BUCKET, Prefix=key).get("Versions", [])


def test_given_evidence_when_written_then_it_carries_its_checksum_and_the_buckets_compliance_lock(breach):
    stored = evidence.put_once(EVIDENCE_BUCKET, "data-breach/breach-1/service.json", b'{"a": 1}', "application/json")

    assert stored.written is True
    assert stored.checksum_sha256 == evidence.sha256_base64(b'{"a": 1}')
    assert stored.lock_mode == "COMPLIANCE"
    assert stored.retain_until and stored.version_id


def test_given_written_evidence_when_the_same_key_is_written_again_then_the_original_is_kept_unchanged(breach):
    key = "data-breach/breach-1/service.json"
    first = evidence.put_once(EVIDENCE_BUCKET, key, b"original", "text/plain")

    second = evidence.put_once(EVIDENCE_BUCKET, key, b"tampered", "text/plain")

    assert second.written is False
    assert (second.version_id, second.checksum_sha256) == (first.version_id, first.checksum_sha256)
    assert len(_versions(key)) == 1
    assert boto("s3").get_object(Bucket=EVIDENCE_BUCKET, Key=key)["Body"].read() == b"original"


def test_given_locked_evidence_when_someone_deletes_or_overwrites_it_then_the_bucket_refuses_and_keeps_it(breach):
    key = "data-breach/breach-1/manifest.json"
    stored = evidence.put_once(EVIDENCE_BUCKET, key, b"manifest", "application/json")
    s3 = boto("s3")

    with pytest.raises(ClientError) as deleted:
        s3.delete_object(Bucket=EVIDENCE_BUCKET, Key=key, VersionId=stored.version_id)
    with pytest.raises(ClientError) as bypassed:
        s3.delete_object(Bucket=EVIDENCE_BUCKET, Key=key, VersionId=stored.version_id, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as overwritten:
        s3.put_object(Bucket=EVIDENCE_BUCKET, Key=key, Body=b"forged", IfNoneMatch="*")

    assert deleted.value.response["Error"]["Code"] == "AccessDenied"
    assert bypassed.value.response["Error"]["Code"] == "AccessDenied", "COMPLIANCE: no bypass, not even root"
    assert overwritten.value.response["Error"]["Code"] == "PreconditionFailed"
    kept = s3.get_object(Bucket=EVIDENCE_BUCKET, Key=key, VersionId=stored.version_id)
    assert kept["Body"].read() == b"manifest"


# -- The runbook's steps ------------------------------------------------------------------------------------------


def _logs(virtual_clock, lines: int = 5) -> None:
    logs = boto("logs")
    logs.create_log_group(logGroupName=AGENTS_LOG_GROUP)
    logs.create_log_stream(logGroupName=AGENTS_LOG_GROUP, logStreamName="agents")
    start = virtual_clock.now - timedelta(minutes=30)
    events = [
        {"timestamp": int((start + timedelta(minutes=i)).timestamp() * 1000), "message": f"INFO [{agent}] line {i}"}
        for i in range(lines)
        for agent in (AGENT, "supervisor")
    ]
    logs.put_log_events(logGroupName=AGENTS_LOG_GROUP, logStreamName="agents", logEvents=events)


def test_given_a_running_service_when_planned_then_the_proposal_says_desired_n_to_0_and_where_the_evidence_goes(
    breach, virtual_clock
):
    plan = data_breach.plan(_breach_request(), {}, RUN, load_settings())

    assert plan["possible"] is True
    assert plan["proposal"]["action"] == guard.ISOLATE_ACTION
    assert (plan["proposal"]["from"], plan["proposal"]["to"]) == ("desired count 2", "desired count 0")
    assert f"isolate {SERVICE}: desired count 2 -> 0" in plan["summary"]
    assert f"s3://{EVIDENCE_BUCKET}/data-breach/breach-1/" in plan["summary"]
    assert "Object Lock COMPLIANCE retention for 365 days" in plan["summary"]


def test_given_an_approval_when_isolated_then_desired_is_0_and_the_prior_count_is_recorded_for_the_restore(
    breach, virtual_clock
):
    result = data_breach.isolate(_breach_request(), _record_approval(), RUN, load_settings())

    assert (result["outcome"], result["priorDesiredCount"]) == ("isolated", 2)
    assert breach.desired_count(AGENT) == 0
    assert state_store.isolation_record(STATE_TABLE, RESOURCE)["priorDesiredCount"] == 2


def test_given_an_isolation_that_already_happened_when_the_step_is_retried_then_the_prior_count_stays_2(
    breach, virtual_clock
):
    approval = _record_approval()
    data_breach.isolate(_breach_request(), approval, RUN, load_settings())

    retried = data_breach.isolate(_breach_request(), approval, RUN, load_settings())

    assert (retried["outcome"], retried["priorDesiredCount"]) == ("isolated", 2)
    assert state_store.isolation_record(STATE_TABLE, RESOURCE)["priorDesiredCount"] == 2


def test_given_no_recorded_approval_when_isolation_is_attempted_then_nothing_changes(breach, virtual_clock):
    result = data_breach.isolate(_breach_request(), {"approvalId": "made-up"}, RUN, load_settings())

    assert (result["outcome"], result["authorization"]["reason"]) == ("refused", "below-floor")
    assert breach.desired_count(AGENT) == 2
    assert state_store.isolation_record(STATE_TABLE, RESOURCE) is None


def test_given_an_isolated_service_when_an_approved_restore_runs_then_the_recorded_count_is_back(breach, virtual_clock):
    data_breach.isolate(_breach_request(), _record_approval(), RUN, load_settings())
    guard.release({"resource": RESOURCE}, RUN, load_settings())  # the isolation run recorded and ended
    restore = _breach_request(restore=True, idempotency_key="console:breach-2#restore")

    plan = data_breach.plan(restore, {}, OTHER_RUN, load_settings())
    result = data_breach.restore(restore, {"approver": "sara"}, OTHER_RUN, load_settings())

    assert (plan["possible"], plan["proposal"]["to"]) == (True, "desired count 2")
    assert (result["outcome"], result["restoredTo"]) == ("restored", 2)
    assert breach.desired_count(AGENT) == 2
    assert state_store.isolation_record(STATE_TABLE, RESOURCE) is None


def test_given_no_isolation_when_a_restore_is_planned_then_there_is_nothing_to_restore(breach, virtual_clock):
    plan = data_breach.plan(_breach_request(restore=True), {}, RUN, load_settings())

    assert plan["possible"] is False and "no isolation" in plan["why"]


def test_given_an_isolation_when_evidence_is_preserved_then_every_object_is_locked_listed_and_kept_on_retry(
    breach, virtual_clock
):
    _logs(virtual_clock)
    approval = _record_approval()
    action = data_breach.isolate(_breach_request(), approval, RUN, load_settings())

    first = data_breach.preserve_evidence(_breach_request(), approval, action, RUN, load_settings())
    retried = data_breach.preserve_evidence(_breach_request(), approval, action, RUN, load_settings())

    keys = sorted(item["key"] for item in first["objects"])
    assert keys == [
        "data-breach/breach-1/logs/financial-intelligence.jsonl",
        "data-breach/breach-1/service.json",
        f"data-breach/breach-1/task-definitions/{SERVICE}-1.json",
    ]
    assert first["manifestUri"] == f"s3://{EVIDENCE_BUCKET}/data-breach/breach-1/manifest.json"
    assert first["logEvents"] == 5, "only this service's lines"
    assert all(item["lock_mode"] == "COMPLIANCE" and item["checksum_sha256"] for item in first["objects"])
    assert not any(item["written"] for item in retried["objects"]) and retried["manifest"]["written"] is False
    manifest = json.loads(
        boto("s3").get_object(Bucket=EVIDENCE_BUCKET, Key="data-breach/breach-1/manifest.json")["Body"].read()
    )
    assert manifest["isolation"]["priorDesiredCount"] == 2
    assert [entry["checksum_sha256"] for entry in manifest["objects"]] == [
        o["checksum_sha256"] for o in first["objects"]
    ]


def _isolated_state(approval: dict) -> dict:
    return {
        "request": _breach_request().model_dump(),
        "approval": approval,
        "action": {"outcome": "isolated", "priorDesiredCount": 2, "before": {"desired_count": 2}},
        "forensics": {
            "manifestUri": f"s3://{EVIDENCE_BUCKET}/data-breach/breach-1/manifest.json",
            "count": 4,
            "retention": {"mode": "COMPLIANCE", "retainUntil": "2027-11-27T09:05:00+00:00"},
            "logEvents": 120,
        },
    }


def test_each_audience_hears_what_happened_what_was_done_where_the_evidence_is_the_prior_count_and_the_restore():
    messages = rules.audience_messages(
        _isolated_state({"approver": "sara", "decidedAt": "09:05"}), "production", REGION, RUN
    )

    assert sorted(messages) == sorted(AUDIENCES)
    for subject, message in messages.values():
        assert "DATA BREACH" in subject and "isolated" in subject
        assert "desired count 2 -> 0" in message and "approved by sara" in message
        assert f"s3://{EVIDENCE_BUCKET}/data-breach/breach-1/manifest.json" in message
        assert "Prior count: 2" in message
        assert "restore" in message.lower()
    assert '"restore": true' in messages["security"][1] and '"restore": true' in messages["compliance"][1]
    assert "aws " not in messages["legal"][1], "legal gets the facts and decisions, not commands"
    assert "notification duties" in messages["legal"][1]
    assert "Audit record" in messages["compliance"][1]


def test_given_a_retried_notify_step_when_it_runs_again_then_each_audience_is_told_only_once(breach, virtual_clock):
    state = _isolated_state({"approver": "sara", "decidedAt": "09:05"})

    first = data_breach.notify_stakeholders(state, RUN, REGION, load_settings())
    again = data_breach.notify_stakeholders(state, RUN, REGION, load_settings())

    assert first == again
    assert {audience: len(breach.notifications(audience)) for audience in AUDIENCES} == dict.fromkeys(AUDIENCES, 1)


def test_the_restore_instruction_starts_this_state_machine_in_restore_mode():
    instruction = rules.restore_instruction(RUN, AGENT)

    assert f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:acso-production-data-breach" in instruction
    assert json.loads(rules.restore_input(AGENT))["restore"] is True


# -- What the record says -------------------------------------------------------------------------------------------

CONTEXT = RunContext("production", REGION, RUN, AGENTS_LOG_GROUP, STATE_TABLE)


@pytest.mark.parametrize("reason", ["maintenance-window", "kill-switch", "cooldown", "locked", "breaker-open"])
def test_given_the_guard_refuses_an_isolation_when_recorded_then_l3_is_paged_with_the_command_to_isolate_by_hand(
    reason,
):
    state = {"request": _breach_request().model_dump(), "guard": {"proceed": False, "reason": reason, "detail": "x"}}

    decision = summaries.data_breach(state, CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L3"), "a breach is never suppressed silently"
    assert f"--service {SERVICE} --desired-count 0" in "\n".join(decision.lines)


def test_given_a_duplicate_finding_when_recorded_then_it_is_audited_only():
    state = {
        "request": _breach_request().model_dump(),
        "guard": {"proceed": False, "reason": "duplicate-event", "detail": "already handled by breach-0"},
    }

    assert (summaries.data_breach(state, CONTEXT).decision, summaries.data_breach(state, CONTEXT).level) == (
        "suppressed",
        None,
    )


def test_given_a_dry_run_when_recorded_then_it_names_the_exact_calls_and_nobody_was_asked():
    plan = {"possible": True, "calls": [{"operation": "ecs.UpdateService", "parameters": {"desiredCount": 0}}]}
    state = {"request": _breach_request(dry_run=True).model_dump(), "guard": {"proceed": True}, "plan": plan}

    decision = summaries.data_breach(state, CONTEXT)

    assert (decision.decision, decision.level) == ("dry-run", "L1")
    assert "ecs.UpdateService {'desiredCount': 0}" in decision.why


def test_given_nobody_answered_in_time_when_recorded_then_l3_hears_that_nothing_changed():
    state = {
        "request": _breach_request().model_dump(),
        "guard": {"proceed": True},
        "plan": {"possible": True, "desiredCount": 2},
        "error": {"Error": "States.Timeout", "Cause": "approval timed out"},
    }

    decision = summaries.rejected_or_failed(state, "data-breach", CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L3")
    assert "nothing was changed" in decision.why and "NOT isolated" in decision.subject
