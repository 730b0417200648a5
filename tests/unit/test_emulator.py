"""Canary tests for simulator/emulator.py: one per moto patch, so that a moto upgrade fails loudly here."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.models import botocore_stubber

from simulator.emulator import EmbeddedAws, ExecutionStillRunningError, VirtualClock, event_pattern_matches

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class InvalidInput(Exception):
    pass


class Throttled(Exception):
    pass


class QueueUnavailable(Exception):
    pass


def _list_queues_or_raise(event: dict[str, Any], context: Any) -> dict[str, int]:
    """A handler mapping the AWS error to its own error name, as the product's adapters do."""
    try:
        return {"queues": len(boto3.client("sqs").list_queues().get("QueueUrls", []))}
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        raise QueueUnavailable(f"{error.response['Error']['Code']} ({status})") from error


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(VirtualClock(START), region="eu-west-1") as embedded:
        yield embedded


def _machine(aws: EmbeddedAws, states: dict[str, Any], start_at: str) -> str:
    return aws.deploy_state_machine(f"sm-{time.monotonic_ns()}", {"StartAt": start_at, "States": states})


def _task(resource: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **extra}


# --- PATCH 1: LambdaSimpleBackend.invoke runs the registered Python handler ---------------------------


def test_lambda_task_runs_registered_handler_and_its_return_is_the_state_output(aws: EmbeddedAws) -> None:
    seen: dict[str, Any] = {}
    logger = Logger(service="emulator-canary")

    @logger.inject_lambda_context  # Powertools reads the context attributes the emulator provides
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.update(
            name=context.function_name,
            arn=context.invoked_function_arn,
            request_id=context.aws_request_id,
            memory=context.memory_limit_in_mb,
            remaining=context.get_remaining_time_in_millis(),
        )
        return {"doubled": event["value"] * 2}

    arn = aws.register_function("double", handler, timeout_s=30)
    machine = _machine(aws, {"Double": _task(arn, End=True)}, "Double")

    result = aws.run_execution(machine, {"value": 21})

    assert result.status == "SUCCEEDED"
    assert result.output == {"doubled": 42}
    assert seen["name"] == "double" and seen["arn"] == arn and seen["memory"] == 128
    assert len(seen["request_id"]) == 36 and 0 < seen["remaining"] <= 30_000


def test_handler_exception_is_caught_by_catch_on_its_class_name(aws: EmbeddedAws) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise InvalidInput("service name is missing")

    arn = aws.register_function("validate", handler)
    states = {
        "Validate": _task(
            arn,
            Catch=[{"ErrorEquals": ["InvalidInput"], "ResultPath": "$.failure", "Next": "Rejected"}],
            End=True,
        ),
        "Rejected": {"Type": "Pass", "End": True},
    }

    result = aws.run_execution(_machine(aws, states, "Validate"), {"id": 1})

    assert result.status == "SUCCEEDED"
    assert result.state_transitions == ["Validate", "Rejected"]
    failure = result.output["failure"]
    assert failure["Error"] == "InvalidInput"
    cause = json.loads(failure["Cause"])
    assert cause["errorType"] == "InvalidInput"
    assert cause["errorMessage"] == "service name is missing"
    assert "raise InvalidInput" in "".join(cause["stackTrace"])
    assert "LambdaFunctionFailed" in [event["type"] for event in result.history]


def test_uncaught_handler_exception_fails_the_execution_with_error_and_cause(aws: EmbeddedAws) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise InvalidInput("bad alarm payload")

    machine = _machine(aws, {"Run": _task(aws.register_function("run", handler), End=True)}, "Run")

    result = aws.run_execution(machine, {})

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    assert json.loads(result.cause)["errorMessage"] == "bad alarm payload"
    assert result.output is None


def test_lambda_invoke_integration_error_matches_states_all_catch(aws: EmbeddedAws) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise InvalidInput("via lambda:invoke")

    aws.register_function("integrated", handler)
    states = {
        "Invoke": _task(
            "arn:aws:states:::lambda:invoke",
            Parameters={"FunctionName": "integrated", "Payload.$": "$"},
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
            End=True,
        ),
        "Handled": {"Type": "Pass", "End": True},
    }

    result = aws.run_execution(_machine(aws, states, "Invoke"), {"x": 1})

    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "InvalidInput"
    assert json.loads(result.output["Cause"])["errorMessage"] == "via lambda:invoke"


def test_handler_running_past_the_scaled_wall_clock_task_timeout_fails_with_states_timeout(aws: EmbeddedAws) -> None:
    aws.wall_timeout_scale = 0.5  # a 2 s TimeoutSeconds becomes 1 s of wall time
    release = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        release.wait(10)  # really hangs, past the scaled wall-clock limit
        return {}

    hang = aws.register_function("hang", handler)
    machine = _machine(aws, {"Hang": _task(hang, TimeoutSeconds=2, End=True)}, "Hang")
    started = time.monotonic()
    try:
        result = aws.run_execution(machine, {}, timeout_s=10)
    finally:
        release.set()

    assert result.status == "FAILED"
    assert result.error == "States.Timeout"
    assert time.monotonic() - started < 5


def test_callback_task_times_out_on_the_virtual_clock(aws: EmbeddedAws) -> None:
    """A human approval (.waitForTaskToken) nobody answers: time passes in the simulation, not on the wall."""
    asked = threading.Event()

    def ask(event: dict[str, Any], context: Any) -> None:
        asked.set()

    ask_arn = aws.register_function("ask", ask)
    states = {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": ask_arn, "Payload": {"token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 1800,
            "End": True,
        }
    }
    arn = aws.start_execution(_machine(aws, states, "Ask"), {})
    assert asked.wait(5)
    aws.clock.advance(1801)  # nobody answered for 30 minutes

    result = aws.wait_for(arn, timeout_s=5)

    assert (result.status, result.error) == ("FAILED", "States.Timeout")


def test_direct_invoke_behaves_like_the_python_runtime(aws: EmbeddedAws) -> None:
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"at": datetime.now(UTC)} if event.get("unserialisable") else {"ok": True, "n": Decimal("1.5")}

    aws.register_function("runtime", handler)
    lambda_client = aws.client("lambda")

    sync = lambda_client.invoke(FunctionName="runtime", Payload=b'{"a": 1}')
    asynchronous = lambda_client.invoke(FunctionName="runtime", InvocationType="Event", Payload=b'{"b": 2}')
    marshal = lambda_client.invoke(FunctionName="runtime", Payload=b'{"unserialisable": true}')

    assert "FunctionError" not in sync and json.load(sync["Payload"]) == {"ok": True, "n": 1.5}
    assert asynchronous["StatusCode"] == 202 and events[1] == {"b": 2}
    assert marshal["FunctionError"] == "Unhandled"
    assert json.load(marshal["Payload"])["errorType"] == "Runtime.MarshalError"


# --- PATCH 2/3: WaitFunction._wait_interval and Timestamp._get_wait_seconds use the virtual clock -----------


def test_wait_states_advance_virtual_clock_without_sleeping(aws: EmbeddedAws) -> None:
    until = (START + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    states = {
        "WaitHour": {"Type": "Wait", "Seconds": 3600, "Next": "WaitPath"},
        "WaitPath": {"Type": "Wait", "SecondsPath": "$.cooldown", "Next": "WaitUntil"},
        "WaitUntil": {"Type": "Wait", "Timestamp": until, "Next": "WaitPast"},
        "WaitPast": {"Type": "Wait", "TimestampPath": "$.past", "End": True},
    }
    machine = _machine(aws, states, "WaitHour")
    started = time.monotonic()

    result = aws.run_execution(machine, {"cooldown": 1800, "past": "2020-01-01T00:00:00Z"}, timeout_s=5)

    assert result.status == "SUCCEEDED"
    assert time.monotonic() - started < 5
    # 3600 s + 1800 s, then up to START+3h; a timestamp in the past does not move the clock.
    assert aws.clock.now() == START + timedelta(hours=3)


def test_clock_listeners_are_told_about_each_wait(aws: EmbeddedAws) -> None:
    advanced: list[float] = []
    aws.clock.on_advance(advanced.append)
    machine = _machine(aws, {"Pause": {"Type": "Wait", "Seconds": 300, "End": True}}, "Pause")

    aws.run_execution(machine, {}, timeout_s=5)

    assert advanced == [300]


# --- PATCH 4: retrier_decl.time.sleep advances the virtual clock ------------------------------------------


def test_retry_reattempts_on_error_class_and_waits_virtually(aws: EmbeddedAws) -> None:
    attempts: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise Throttled("slow down")
        return {"attempts": len(attempts)}

    retry = [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 600, "MaxAttempts": 5, "BackoffRate": 1.0}]
    task = _task(aws.register_function("flaky", handler), Retry=retry, End=True)
    started = time.monotonic()

    result = aws.run_execution(_machine(aws, {"Flaky": task}, "Flaky"), {}, timeout_s=5)

    assert result.status == "SUCCEEDED"
    assert result.output == {"attempts": 3}
    assert time.monotonic() - started < 5
    assert aws.clock.now() == START + timedelta(seconds=1200)


# --- PATCH 5/6: API call accounting -------------------------------------------------------------------------


def test_api_calls_count_product_calls_but_not_simulator_clients_nor_task_invokes(aws: EmbeddedAws) -> None:
    topic_arn = aws.client("sns").create_topic(Name="alerts")["TopicArn"]  # simulator set-up: not counted
    aws.client("sqs").create_queue(QueueName="work")
    fake_keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    early_client = boto3.client("sqs", region_name="eu-west-1", **fake_keys)

    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        fresh = boto3.client("sqs").list_queues()["QueueUrls"]
        return {"queues": len(fresh) + len(early_client.list_queues()["QueueUrls"])}

    states = {
        "List": _task(aws.register_function("lister", handler), Next="Notify"),
        "Notify": _task(
            "arn:aws:states:::sns:publish",
            Parameters={"TopicArn": topic_arn, "Message.$": "$"},
            ResultPath=None,
            End=True,
        ),
    }
    aws.reset_api_calls()

    result = aws.run_execution(_machine(aws, states, "List"), {})

    assert result.output == {"queues": 2}
    # Exact: lambda.Invoke (the interpreter running the Task) and the aws.client(...) calls are excluded.
    assert aws.api_calls() == {"sqs.ListQueues": 2, "sns.Publish": 1}
    aws.reset_api_calls()
    assert aws.api_calls() == {}


def test_client_missing_moto_hook_is_still_mocked(aws: EmbeddedAws) -> None:
    aws.client("sqs").create_queue(QueueName="only-in-moto")
    no_network = Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})
    client = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        "sqs", region_name="eu-west-1", config=no_network
    )
    client.meta.events.unregister("before-send", botocore_stubber)  # as if created before `import moto`

    assert [url.rsplit("/", 1)[-1] for url in client.list_queues()["QueueUrls"]] == ["only-in-moto"]


# --- PATCH 5: inject_fault -------------------------------------------------------------------------------


def test_injected_fault_fails_the_handlers_call_and_catch_sees_the_handlers_mapped_error(aws: EmbeddedAws) -> None:
    aws.inject_fault("sqs.ListQueues", "ServiceUnavailable", http_status=503)
    states = {
        "List": _task(
            aws.register_function("lister", _list_queues_or_raise),
            Catch=[{"ErrorEquals": ["QueueUnavailable"], "ResultPath": "$.failure", "Next": "Degraded"}],
            End=True,
        ),
        "Degraded": {"Type": "Pass", "End": True},
    }

    result = aws.run_execution(_machine(aws, states, "List"), {"alarm": "cpu"})

    assert result.state_transitions == ["List", "Degraded"]
    assert result.output["failure"]["Error"] == "QueueUnavailable"
    assert json.loads(result.output["failure"]["Cause"])["errorMessage"] == "ServiceUnavailable (503)"
    assert aws.api_calls() == {"sqs.ListQueues": 1}  # the faulted call was made
    assert [(fault["operation"], fault["code"]) for fault in aws.injected_faults()] == [
        ("sqs.ListQueues", "ServiceUnavailable")
    ]


def test_fault_for_two_calls_lets_the_third_retry_attempt_through_after_virtual_back_off(aws: EmbeddedAws) -> None:
    fault = aws.inject_fault("sqs.ListQueues", "RequestThrottled", times=2)
    retry = [{"ErrorEquals": ["QueueUnavailable"], "IntervalSeconds": 60, "MaxAttempts": 3, "BackoffRate": 2.0}]
    task = _task(aws.register_function("lister", _list_queues_or_raise), Retry=retry, End=True)

    result = aws.run_execution(_machine(aws, {"List": task}, "List"), {}, timeout_s=5)

    assert result.status == "SUCCEEDED" and result.output == {"queues": 0}
    assert aws.clock.now() == START + timedelta(seconds=60 + 120)
    assert aws.api_calls() == {"sqs.ListQueues": 3}
    assert len(aws.injected_faults()) == 2 and fault.hits == 2 and fault.remaining == 0


def test_faults_spare_simulator_clients_and_follow_when_times_and_clear(aws: EmbeddedAws) -> None:
    aws.client("ssm").put_parameter(Name="/acso/flag", Value="on", Type="String")
    product_ssm = boto3.client("ssm")  # a default-session client, like the handlers': counted, faultable
    forever = aws.inject_fault(
        "ssm.GetParameter", "ParameterNotFound", times=None, when=lambda params: params["Name"] == "/acso/flag"
    )

    assert aws.client("ssm").get_parameter(Name="/acso/flag")["Parameter"]["Value"] == "on"
    for _ in range(2):
        with pytest.raises(product_ssm.exceptions.ParameterNotFound) as raised:  # botocore's modeled class
            product_ssm.get_parameter(Name="/acso/flag")
        assert raised.value.response["Error"]["Code"] == "ParameterNotFound"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(product_ssm.exceptions.ParameterNotFound):  # `when` is false: moto's own answer
        product_ssm.get_parameter(Name="/acso/other")
    forever.clear()
    assert product_ssm.get_parameter(Name="/acso/flag")["Parameter"]["Value"] == "on"
    aws.inject_fault("ssm.GetParameter", "InternalServerError", times=None, http_status=500)
    aws.clear_faults()
    assert product_ssm.get_parameter(Name="/acso/flag")["Parameter"]["Value"] == "on"

    assert aws.api_calls() == {"ssm.GetParameter": 5}
    assert aws.injected_faults()[0]["params"] == {"Name": "/acso/flag"} and len(aws.injected_faults()) == 2
    with pytest.raises(ValueError, match="no operation 'getParameter'"):
        aws.inject_fault("ssm.getParameter", "X")


def test_fault_on_sns_publish_fails_the_states_sns_publish_integration(aws: EmbeddedAws) -> None:
    topic_arn = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    aws.inject_fault("sns.Publish", "Throttled", http_status=429, message="Rate exceeded")
    states = {
        "Notify": _task(
            "arn:aws:states:::sns:publish",
            Parameters={"TopicArn": topic_arn, "Message.$": "$"},
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Unnotified"}],
            End=True,
        ),
        "Unnotified": {"Type": "Pass", "End": True},
    }

    result = aws.run_execution(_machine(aws, states, "Notify"), {"alarm": "cpu"})

    assert result.state_transitions == ["Notify", "Unnotified"]
    # moto's interpreter names an SNS error code X "SNS.XException", and quotes the service's answer.
    assert result.output["Error"] == "SNS.ThrottledException"
    assert "Rate exceeded (Service: AmazonSNS; Status Code: 429; Error Code: Throttled" in result.output["Cause"]
    assert aws.api_calls() == {"sns.Publish": 1}


# --- before_invoke / hang_function ------------------------------------------------------------------------


def test_before_invoke_runs_once_just_before_the_handler_and_its_error_is_a_handler_error(aws: EmbeddedAws) -> None:
    world = {"alarm": "ALARM"}
    timeline: list[str] = []

    def alarm_recovers(event: dict[str, Any]) -> None:
        timeline.append(f"hook step {event['step']}")
        world["alarm"] = "OK"

    def act(event: dict[str, Any], context: Any) -> dict[str, Any]:
        timeline.append(f"handler sees {world['alarm']}")
        return {"step": event["step"] + 1}

    arn = aws.register_function("act", act)
    aws.before_invoke("act", alarm_recovers)
    states = {"First": _task(arn, Next="Second"), "Second": _task(arn, End=True)}

    aws.run_execution(_machine(aws, states, "First"), {"step": 1})

    assert timeline == ["hook step 1", "handler sees OK", "handler sees OK"]

    def world_breaks(event: dict[str, Any]) -> None:
        raise InvalidInput("world broke")

    aws.register_function("guarded", lambda event, context: timeline.append("guarded handler"))
    aws.before_invoke("guarded", world_breaks)
    response = aws.client("lambda").invoke(FunctionName="guarded", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled" and timeline[-1] != "guarded handler"
    assert json.load(response["Payload"])["errorMessage"] == "world broke"


def test_hang_function_fails_the_task_with_sandbox_timedout_without_running_the_handler(aws: EmbeddedAws) -> None:
    calls: list[dict[str, Any]] = []
    arn = aws.register_function("slow", lambda event, context: calls.append(event) or {"ok": True}, timeout_s=30)
    aws.hang_function("slow")
    states = {
        "Slow": _task(arn, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "TimedOut"}], End=True),
        "TimedOut": {"Type": "Pass", "End": True},
    }

    result = aws.run_execution(_machine(aws, states, "Slow"), {})

    assert result.state_transitions == ["Slow", "TimedOut"] and calls == []
    assert result.output["Error"] == "Sandbox.Timedout"
    cause = json.loads(result.output["Cause"])
    assert cause["errorType"] == "Sandbox.Timedout"
    assert cause["errorMessage"].startswith("RequestId: ")
    assert cause["errorMessage"].endswith(" Error: Task timed out after 30.00 seconds")
    assert aws.clock.now() == START + timedelta(seconds=30)
    response = aws.client("lambda").invoke(FunctionName="slow", Payload=b'{"n": 1}')  # times=1: spent
    assert "FunctionError" not in response and calls == [{"n": 1}]


# --- Step Functions plumbing ----------------------------------------------------------------------


def test_parallel_branches_each_run_their_lambda(aws: EmbeddedAws) -> None:
    left = aws.register_function("left", lambda event, context: {"side": "left", "n": event["n"]})
    right = aws.register_function("right", lambda event, context: {"side": "right", "n": event["n"] + 1})
    states = {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "L", "States": {"L": _task(left, End=True)}},
                {"StartAt": "R", "States": {"R": _task(right, End=True)}},
            ],
            "End": True,
        }
    }

    result = aws.run_execution(_machine(aws, states, "Both"), {"n": 1})

    assert result.status == "SUCCEEDED"
    assert result.output == [{"side": "left", "n": 1}, {"side": "right", "n": 2}]
    assert result.state_transitions[0] == "Both" and sorted(result.state_transitions[1:]) == ["L", "R"]


def test_state_transitions_list_entered_states_in_order(aws: EmbeddedAws) -> None:
    states = {
        "Prepare": {"Type": "Pass", "Result": {"healthy": False}, "ResultPath": "$.check", "Next": "Decide"},
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.check.healthy", "BooleanEquals": True, "Next": "Done"}],
            "Default": "Pause",
        },
        "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    }

    result = aws.run_execution(_machine(aws, states, "Prepare"), {}, timeout_s=5)

    assert result.state_transitions == ["Prepare", "Decide", "Pause", "Done"]
    assert result.history[0]["type"] == "ExecutionStarted"
    assert result.history[-1]["type"] == "ExecutionSucceeded"


def test_concurrent_executions_are_awaited_independently(aws: EmbeddedAws) -> None:
    arn = aws.register_function("echo", lambda event, context: event)
    machine = _machine(aws, {"Echo": _task(arn, End=True)}, "Echo")

    executions = [aws.start_execution(machine, {"alarm": index}) for index in range(4)]
    results = [aws.wait_for(execution) for execution in executions]

    assert [result.output for result in results] == [{"alarm": index} for index in range(4)]


def test_wait_for_raises_when_execution_stays_running(aws: EmbeddedAws) -> None:
    release = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        release.wait(10)
        return {}

    machine = _machine(aws, {"Stuck": _task(aws.register_function("stuck", handler), End=True)}, "Stuck")
    execution = aws.start_execution(machine, {})
    try:
        with pytest.raises(ExecutionStillRunningError, match="Stuck"):
            aws.wait_for(execution, timeout_s=0.3)
    finally:
        release.set()


def test_environment_is_faked_inside_and_restored_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-real")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)

    with EmbeddedAws(VirtualClock(START), region="eu-west-1"):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"

    assert os.environ["AWS_PROFILE"] == "someone-real"
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_set_environment_reaches_handlers_and_is_restored_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACSO_SETTINGS", raising=False)
    with EmbeddedAws(VirtualClock(START)) as aws:
        aws.set_environment({"ACSO_SETTINGS": '{"environment": "test"}'})
        arn = aws.register_function("env", lambda _event, _context: json.loads(os.environ["ACSO_SETTINGS"]))
        result = aws.run_execution(_machine(aws, {"Read": _task(arn, End=True)}, "Read"), {})

    assert result.output == {"environment": "test"}
    assert "ACSO_SETTINGS" not in os.environ
    with pytest.raises(ValueError, match="default account 123456789012 only, not 999999999999"):
        EmbeddedAws(VirtualClock(START), account_id="999999999999")


def test_event_pattern_matches_with_eventbridge_semantics() -> None:
    pattern = {"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}}
    alarm = {"source": "aws.cloudwatch", "detail": {"state": {"value": "ALARM"}, "alarmName": "x"}}

    assert event_pattern_matches(pattern, alarm)
    assert not event_pattern_matches(pattern, {**alarm, "detail": {"state": {"value": "OK"}}})
    assert event_pattern_matches(json.dumps(pattern), alarm)


def test_send_task_failure_passes_the_cause_on_to_the_catch(aws: EmbeddedAws) -> None:
    """moto drops `cause`; Step Functions hands it to the Catch (who rejected an approval, and when)."""
    tokens: list[str] = []

    def ask(event: dict[str, Any], context: Any) -> None:
        tokens.append(event["token"])

    states = {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": aws.register_function("ask", ask), "Payload": {"token.$": "$$.Task.Token"}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Declined"}],
            "End": True,
        },
        "Declined": {"Type": "Pass", "End": True},
    }
    arn = aws.start_execution(_machine(aws, states, "Ask"), {})
    deadline = time.monotonic() + 5
    while not tokens and time.monotonic() < deadline:
        time.sleep(0.02)
    aws.client("stepfunctions").send_task_failure(
        taskToken=tokens[0], error="ApprovalRejected", cause="Rejected by erik"
    )

    result = aws.wait_for(arn, timeout_s=5)

    assert result.output["error"] == {"Error": "ApprovalRejected", "Cause": "Rejected by erik"}
