"""Canary tests for simulator/emulator.py: one per moto patch, so that a moto upgrade fails loudly here."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
from moto.core import utils as moto_core_utils
from moto.core.models import botocore_stubber
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

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


def test_given_a_clock_move_in_progress_when_another_thread_reads_now_then_it_sees_the_last_step() -> None:
    """A handler must never see an instant the simulated world has not reached yet (alarm-storm: a verify read
    "now" 5 minutes later than the last CPU sample while another execution's Wait was moving the world)."""
    clock, entered, release, seen = VirtualClock(START), threading.Event(), threading.Event(), []

    def slow_world(seconds: float) -> None:
        seen.append(clock.now())
        entered.set()
        release.wait(5)

    clock.on_advance(slow_world)
    mover = threading.Thread(target=clock.advance, args=(300,))
    mover.start()
    assert entered.wait(5)

    during = clock.now()
    release.set()
    mover.join(5)

    assert seen == [START + timedelta(seconds=300)]  # the listener itself sees the new instant
    assert during == START  # everyone else: the last step, until the world has caught up
    assert clock.now() == START + timedelta(seconds=300)


def test_given_two_threads_moving_the_clock_when_the_first_listener_runs_then_the_second_move_waits_for_it() -> None:
    clock, release, calls = VirtualClock(START), threading.Event(), []

    def world(seconds: float) -> None:
        calls.append(("enter", clock.now()))
        if len(calls) == 1:
            release.wait(5)
        calls.append(("exit", clock.now()))

    clock.on_advance(world)
    movers = [threading.Thread(target=clock.advance, args=(300,)) for _ in range(2)]
    for mover in movers:
        mover.start()
    time.sleep(0.2)  # the second mover has had time to call advance
    calls_while_blocked = list(calls)
    release.set()
    for mover in movers:
        mover.join(5)

    assert calls_while_blocked == [("enter", START + timedelta(seconds=300))]
    assert calls == [
        ("enter", START + timedelta(seconds=300)),
        ("exit", START + timedelta(seconds=300)),
        ("enter", START + timedelta(seconds=600)),
        ("exit", START + timedelta(seconds=600)),
    ]


def test_given_a_listener_that_moves_the_clock_itself_when_advanced_then_both_moves_count() -> None:
    clock = VirtualClock(START)
    clock.on_advance(lambda seconds: clock.advance(60) if seconds == 300 else None)

    assert clock.advance(300) == START + timedelta(seconds=360)
    assert clock.advance_to(START + timedelta(seconds=300)) == START + timedelta(seconds=360)  # never backwards
    assert clock.now() == START + timedelta(seconds=360)


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


# --- serve_http: the same account over HTTP, for clients in other processes (the AWS CLI) ----------------


def test_serve_http_reaches_the_same_backends_handlers_and_virtual_clock(aws: EmbeddedAws) -> None:
    aws.client("sqs").create_queue(QueueName="work")
    states = {
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "List"},
        "List": _task(aws.register_function("lister", _list_queues_or_raise), End=True),
    }
    machine = _machine(aws, states, "Pause")

    with aws.serve_http() as endpoint:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="eu-west-1", **keys)
        arn = sfn.start_execution(stateMachineArn=machine, name="over-http", input="{}")["executionArn"]
        result = aws.wait_for(arn, timeout_s=10)
        history = sfn.get_execution_history(executionArn=arn)["events"]
        with pytest.raises(urllib.error.HTTPError) as unsigned:
            urllib.request.urlopen(endpoint, timeout=5)
    port = int(endpoint.rsplit(":", 1)[1])

    assert result.output == {"queues": 1}  # the registered handler ran; its boto3 client saw the same SQS
    assert aws.clock.now() == START + timedelta(hours=1)  # the Wait moved the virtual clock
    assert history[-1]["type"] == "ExecutionSucceeded"
    assert unsigned.value.code == 400
    with pytest.raises(ConnectionRefusedError):  # closed with the context
        socket.create_connection(("127.0.0.1", port), timeout=5)


# --- PATCH 12: StepFunctionsParserBackend.start_execution names an unnamed execution with a UUID ---------


def test_executions_started_without_a_name_get_distinct_uuid_names(aws: EmbeddedAws) -> None:
    machine = _machine(aws, {"Done": {"Type": "Pass", "End": True}}, "Done")
    sfn = aws.client("stepfunctions")

    arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(2)]

    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert names[0] != names[1]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name) for name in names)
    assert [aws.wait_for(arn, timeout_s=5).status for arn in arns] == ["SUCCEEDED", "SUCCEEDED"]


# --- PATCH 13: moto.backup.urls.url_paths routes ListBackupJobs to the jobs the world recorded -----------------


def _backup_job(job_id: str, state: str, created: datetime, vault: str = "acso-production-vault") -> dict[str, Any]:
    return {
        "BackupJobId": job_id,
        "BackupVaultName": vault,
        "ResourceArn": f"arn:aws:rds:eu-west-1:123456789012:db:{job_id}",
        "ResourceType": "RDS",
        "State": state,
        "CreationDate": created,
    }


def test_list_backup_jobs_answers_from_the_recorded_jobs_filtered_by_vault_time_and_state_and_paginated(
    aws: EmbeddedAws,
) -> None:
    for index, state in enumerate(("COMPLETED", "FAILED", "COMPLETED")):
        aws.put_backup_job(_backup_job(f"job-{index}", state, START - timedelta(hours=index * 10)))
    aws.put_backup_job(_backup_job("other-vault", "COMPLETED", START, vault="someone-elses"))
    aws.put_backup_job(_backup_job("job-1", "COMPLETED", START - timedelta(hours=10)))  # replaced by its id
    backup = boto3.client("backup", region_name="eu-west-1")

    recent = backup.list_backup_jobs(
        ByBackupVaultName="acso-production-vault", ByCreatedAfter=START - timedelta(hours=12), ByCreatedBefore=START
    )["BackupJobs"]
    pages = list(
        backup.get_paginator("list_backup_jobs").paginate(ByBackupVaultName="acso-production-vault", MaxResults=2)
    )
    failed = backup.list_backup_jobs(ByState="FAILED")["BackupJobs"]

    assert [(job["BackupJobId"], job["State"]) for job in recent] == [("job-0", "COMPLETED"), ("job-1", "COMPLETED")]
    assert recent[0]["CreationDate"] == START  # parsed back by botocore as a timestamp
    assert [[job["BackupJobId"] for job in page["BackupJobs"]] for page in pages] == [["job-0", "job-1"], ["job-2"]]
    assert failed == []
    assert aws.api_calls()["backup.ListBackupJobs"] == 4  # product calls (one per page), counted like any other


def test_list_backup_jobs_of_another_region_sees_only_that_regions_jobs(aws: EmbeddedAws) -> None:
    aws.put_backup_job(_backup_job("dr-job", "COMPLETED", START), region="us-west-2")

    assert boto3.client("backup", region_name="eu-west-1").list_backup_jobs()["BackupJobs"] == []
    assert len(boto3.client("backup", region_name="us-west-2").list_backup_jobs()["BackupJobs"]) == 1


# --- set_s3_last_modified: moto stamps objects with the real clock; the world backdates its backups --------------


def test_set_s3_last_modified_changes_what_list_and_head_report(aws: EmbeddedAws) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="backups", Key="2024/03/01/db.dump", Body=b"dump")
    nightly = START.replace(hour=2, minute=10)

    aws.set_s3_last_modified("backups", "2024/03/01/db.dump", nightly)

    listed = s3.list_objects_v2(Bucket="backups")["Contents"][0]["LastModified"]
    assert listed == nightly
    assert s3.head_object(Bucket="backups", Key="2024/03/01/db.dump")["LastModified"] == nightly
    with pytest.raises(KeyError):
        aws.set_s3_last_modified("backups", "missing", nightly)


def test_moto_stores_a_metric_math_alarm_as_deployed_and_sets_its_state(aws: EmbeddedAws) -> None:
    """simulator/synthesized.py deploys metric-math alarms (the agents' unavailable alarms) with their Metrics."""
    cloudwatch = aws.client("cloudwatch")
    count = {"Namespace": "ECS/ContainerInsights", "Dimensions": [{"Name": "ServiceName", "Value": "s"}]}
    metrics = [
        {"Id": "expr_1", "Expression": "desired - running", "Label": "missing", "ReturnData": True},
        {
            "Id": "desired",
            "MetricStat": {"Metric": {**count, "MetricName": "DesiredTaskCount"}, "Period": 60, "Stat": "Average"},
            "ReturnData": False,
        },
        {
            "Id": "running",
            "MetricStat": {"Metric": {**count, "MetricName": "RunningTaskCount"}, "Period": 60, "Stat": "Average"},
            "ReturnData": False,
        },
    ]
    cloudwatch.put_metric_alarm(
        AlarmName="s-unavailable",
        Metrics=metrics,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        TreatMissingData="missing",
    )
    cloudwatch.set_alarm_state(AlarmName="s-unavailable", StateValue="ALARM", StateReason="test")

    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["s-unavailable"])["MetricAlarms"]
    assert (alarm["StateValue"], [m["Id"] for m in alarm["Metrics"]]) == ("ALARM", ["expr_1", "desired", "running"])


def test_moto_has_no_composite_alarms_so_the_harness_evaluates_them(aws: EmbeddedAws) -> None:
    """When moto learns PutCompositeAlarm, deploy composite alarms in simulator/synthesized.py instead of only
    recording them for Harness.composite_alarm_event."""
    with pytest.raises(NotImplementedError):
        aws.client("cloudwatch").put_composite_alarm(AlarmName="c", AlarmRule='AT_LEAST(1, ALARM, ("a"))')


def test_a_second_region_of_the_account_keeps_ecs_running_counts_until_its_deployments_complete(
    aws: EmbeddedAws,
) -> None:
    """The DR region (complete-outage): PATCH 9 holds there too; complete_ecs_deployments(region=...) ends it."""
    ecs = aws.client("ecs", "us-west-2")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="s", containerDefinitions=[{"name": "s", "image": "i", "memory": 512}])
    ecs.create_service(cluster="c", serviceName="s", taskDefinition="s", desiredCount=0)
    aws.complete_ecs_deployments("c", "us-west-2")

    ecs.update_service(cluster="c", service="s", desiredCount=2)
    before = ecs.describe_services(cluster="c", services=["s"])["services"][0]["runningCount"]
    aws.complete_ecs_deployments("c", "us-west-2")
    after = ecs.describe_services(cluster="c", services=["s"])["services"][0]["runningCount"]

    assert (before, after) == (0, 2)
    assert aws.client("ecs").list_clusters()["clusterArns"] == [], "the account's own region is another backend"


def test_a_stopped_task_of_a_service_is_listed_and_described_like_ecs_with_its_stop_code_times_and_exit_code(
    aws: EmbeddedAws,
) -> None:
    """add_stopped_task builds moto's own Task (its RunTask fails on awsvpc task definitions) and sets the fields
    ECS reports; add_service_event and update_primary_deployment set what moto never reports."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(
        family="s",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "agent", "image": "i", "essential": True}],
    )
    ecs.create_service(cluster="c", serviceName="s", taskDefinition="s", desiredCount=2)
    started = START - timedelta(hours=6)
    arn = aws.add_stopped_task(
        "c",
        "s",
        "s:1",
        started_by="ecs-svc/1",
        stop_code="EssentialContainerExited",
        stopped_reason="Essential container in task exited",
        exit_code=137,
        container_reason="OutOfMemoryError",
        created_at=started - timedelta(seconds=30),
        started_at=started,
        stopped_at=START,
    )
    aws.add_service_event("c", "s", "(service s) is unable to consistently start tasks successfully.", START)
    aws.update_primary_deployment("c", "s", failedTasks=3, rolloutState="FAILED")

    listed = ecs.list_tasks(cluster="c", serviceName="s", desiredStatus="STOPPED")["taskArns"]
    task = ecs.describe_tasks(cluster="c", tasks=listed)["tasks"][0]
    service = ecs.describe_services(cluster="c", services=["s"])["services"][0]

    assert listed == [arn]
    assert task["taskDefinitionArn"].endswith(":task-definition/s:1")
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED",
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert (task["group"], task["startedBy"]) == ("service:s", "ecs-svc/1")
    assert (task["startedAt"], task["stoppedAt"]) == (started, START)
    assert (task["containers"][0]["exitCode"], task["containers"][0]["reason"]) == (137, "OutOfMemoryError")
    assert [event["message"] for event in service["events"]] == [
        "(service s) is unable to consistently start tasks successfully."
    ]
    assert (service["deployments"][0]["failedTasks"], service["deployments"][0]["rolloutState"]) == (3, "FAILED")


# --- PATCH 14: percentile statistics; PATCH 15: GetMetricWidgetImage ------------------------------------------


def _latency(aws: EmbeddedAws, hour: datetime, values: list[float]) -> None:
    aws.client("cloudwatch").put_metric_data(
        Namespace="ACSO/Agents",
        MetricData=[
            {
                "MetricName": "CommunicationLatency",
                "Dimensions": [{"Name": "Agent", "Value": "supervisor"}],
                "Timestamp": hour,
                "Values": values,
                "Unit": "Milliseconds",
            }
        ],
    )


def test_percentile_statistics_are_the_nearest_rank_of_each_periods_values(aws: EmbeddedAws) -> None:
    """moto 5.2.5 answers None for pNN (and GetMetricData then fails); CloudWatch computes it per period."""
    _latency(aws, START - timedelta(hours=2), [float(v) for v in range(1, 101)])
    _latency(aws, START - timedelta(hours=1), [10.0, 20.0, 30.0])
    metric = {
        "Namespace": "ACSO/Agents",
        "MetricName": "CommunicationLatency",
        "Dimensions": [{"Name": "Agent", "Value": "supervisor"}],
    }
    queries = [
        {"Id": stat.replace(".", "_"), "MetricStat": {"Metric": metric, "Period": 3600, "Stat": stat}}
        for stat in ("p95", "p50", "p99.9", "Maximum")
    ]
    results = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries,
        StartTime=START - timedelta(hours=2),
        EndTime=START,
        ScanBy="TimestampAscending",
    )["MetricDataResults"]

    assert {r["Id"]: r["Values"] for r in results} == {
        "p95": [95.0, 30.0],
        "p50": [50.0, 20.0],
        "p99_9": [100.0, 30.0],
        "Maximum": [100.0, 30.0],
    }


def _png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert image[12:16] == b"IHDR"
    return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")


def test_moto_has_no_metric_widget_image_so_the_emulator_renders_it() -> None:
    """When moto implements GetMetricWidgetImage, compare its image with PATCH 15's and drop one of them."""
    from moto.cloudwatch.responses import CloudWatchResponse  # noqa: PLC0415 - moto's own class, unpatched

    assert not hasattr(CloudWatchResponse, "get_metric_widget_image")


def test_metric_widget_image_is_a_png_of_the_widget_size_drawn_from_the_emulated_series(aws: EmbeddedAws) -> None:
    cloudwatch = aws.client("cloudwatch")
    for hours_ago in range(1, 7):
        stamp = START - timedelta(hours=hours_ago)
        cloudwatch.put_metric_data(
            Namespace="ACSO/Agents",
            MetricData=[
                {"MetricName": "ErrorLogEvents", "Timestamp": stamp, "Value": float(hours_ago)},
                {"MetricName": "LogEvents", "Timestamp": stamp, "Value": 200.0},
            ],
        )
        _latency(aws, stamp, [40.0, 50.0, 60.0 + hours_ago])
    widget = {
        "title": "Error rate",
        "start": "-PT6H",
        "end": START.isoformat(),
        "period": 3600,
        "stat": "Sum",
        "width": 640,
        "height": 280,
        "metrics": [
            [{"expression": "100 * errors / events", "label": "error rate", "id": "rate"}],
            ["ACSO/Agents", "ErrorLogEvents", {"id": "errors", "visible": False}],
            [".", "LogEvents", {"id": "events", "visible": False}],
            [".", "CommunicationLatency", "Agent", "supervisor", {"stat": "p95", "label": "latency p95"}],
        ],
        "annotations": {"horizontal": [{"value": 1, "label": "threshold 1 %"}]},
    }

    image = cloudwatch.get_metric_widget_image(MetricWidget=json.dumps(widget), OutputFormat="png")
    lines, start, end = aws.metric_widget_lines(widget)

    assert _png_size(image["MetricWidgetImage"]) == (640, 280)
    assert [line.label for line in lines] == ["error rate", "latency p95"], "hidden lines are not drawn"
    assert lines[0].values == (3.0, 2.5, 2.0, 1.5, 1.0, 0.5)
    assert lines[1].values == (66.0, 65.0, 64.0, 63.0, 62.0, 61.0)
    assert (start, end) == (START - timedelta(hours=6), START)


# --- PATCH 16: AmazonStateLanguageParser.parse keeps each definition's ANTLR parse tree ------------------------


def test_a_definition_is_parsed_with_antlr_once_and_every_execution_still_gets_its_own_program(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = []
    original = ASLParser.state_machine
    monkeypatch.setattr(ASLParser, "state_machine", lambda parser: parses.append(1) or original(parser))
    arn = aws.register_function("count", lambda event, context: {"n": event["n"] + 1})
    definition = {
        "Comment": f"parse-cache canary {time.monotonic_ns()}",  # a definition no other test deployed
        "StartAt": "Count",
        "States": {"Count": _task(arn, Next="Again"), "Again": _task(arn, End=True)},
    }
    first = aws.deploy_state_machine("parse-cache-a", definition)
    second = aws.deploy_state_machine("parse-cache-b", definition)

    results = [aws.run_execution(machine, {"n": n}) for machine in (first, second) for n in (0, 10)]

    assert [result.output for result in results] == [{"n": 2}, {"n": 12}, {"n": 2}, {"n": 12}]
    assert len(parses) == 1, "moto parses on CreateStateMachine and StartExecution; the tree is reused after one"
    with pytest.raises(ClientError, match="ASLParserException"):  # an invalid definition is still refused
        aws.deploy_state_machine("parse-cache-invalid", {"StartAt": "Missing", "States": {"X": {"Type": "Nope"}}})


# --- PATCH 17: StartBackupJob and DescribeBackupJob answered from the jobs the world records -----------------------
def test_start_backup_job_records_an_on_demand_job_once_per_idempotency_token_and_describe_reads_it(
    aws: EmbeddedAws,
) -> None:
    backup = boto3.client("backup", region_name="eu-west-1")
    backup.create_backup_vault(BackupVaultName="acso-production-vault")
    request = {
        "BackupVaultName": "acso-production-vault",
        "ResourceArn": "arn:aws:rds:eu-west-1:123456789012:db:acso-production-db",
        "IamRoleArn": "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole",
        "IdempotencyToken": "run-1-0",
    }

    started = backup.start_backup_job(**request)
    again = backup.start_backup_job(**request)  # a retried step
    described = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
    listed = backup.list_backup_jobs(ByBackupVaultName="acso-production-vault")["BackupJobs"]

    assert again["BackupJobId"] == started["BackupJobId"] and started["CreationDate"] == START
    assert (described["State"], described["ResourceType"], described["ResourceName"]) == (
        "CREATED",
        "RDS",
        "acso-production-db",
    )
    assert described["RecoveryPointArn"] == started["RecoveryPointArn"]
    assert [job["BackupJobId"] for job in listed] == [started["BackupJobId"]]
    assert aws.api_calls()["backup.StartBackupJob"] == 2


def test_start_backup_job_into_a_missing_vault_and_describing_an_unknown_job_fail_like_aws_backup(
    aws: EmbeddedAws,
) -> None:
    backup = boto3.client("backup", region_name="eu-west-1")

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        backup.start_backup_job(
            BackupVaultName="nope",
            ResourceArn="arn:aws:rds:eu-west-1:123456789012:db:x",
            IamRoleArn="arn:aws:iam::1:role/r",
        )
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        backup.describe_backup_job(BackupJobId="unknown")


def test_on_demand_backup_jobs_lists_only_the_jobs_start_backup_job_created(aws: EmbeddedAws) -> None:
    backup = boto3.client("backup", region_name="eu-west-1")
    backup.create_backup_vault(BackupVaultName="vault")
    aws.put_backup_job(
        {"BackupJobId": "nightly", "BackupVaultName": "vault", "State": "COMPLETED", "CreationDate": START}
    )
    started = backup.start_backup_job(
        BackupVaultName="vault", ResourceArn="arn:aws:dynamodb:eu-west-1:123456789012:table/t", IamRoleArn="r"
    )

    assert [job["BackupJobId"] for job in aws.on_demand_backup_jobs()] == [started["BackupJobId"]]


# --- PATCH 21: IAM last-accessed; ECR scan findings (moto's custom results) ----------------------------------
def _role_with_policies(aws: EmbeddedAws, name: str = "acso-production-probe") -> str:
    iam = boto3.client("iam", region_name="eu-west-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="runtime",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}],
            }
        ),
    )
    managed = iam.create_policy(
        PolicyName="logs-writer",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    return arn


def test_moto_has_no_iam_last_accessed_so_the_emulator_answers_it() -> None:
    """When moto implements these, compare its answers with PATCH 21's and drop one of them."""
    from moto.iam.responses import IamResponse  # noqa: PLC0415 - moto's own class, unpatched

    for name in (
        "generate_service_last_accessed_details",
        "get_service_last_accessed_details",
        "list_policies_granting_service_access",
    ):
        assert not hasattr(IamResponse, name), name


def test_a_last_accessed_job_completes_in_virtual_time_listing_every_granted_service_and_the_recorded_use(
    aws: EmbeddedAws,
) -> None:
    iam = boto3.client("iam", region_name="eu-west-1")
    arn = _role_with_policies(aws)
    aws.record_service_access("acso-production-probe", "logs", START - timedelta(hours=1))
    job = iam.generate_service_last_accessed_details(Arn=arn, Granularity="SERVICE_LEVEL")["JobId"]

    assert iam.get_service_last_accessed_details(JobId=job)["JobStatus"] == "IN_PROGRESS"
    aws.clock.advance(EmbeddedAws.LAST_ACCESSED_JOB_SECONDS)
    report = iam.get_service_last_accessed_details(JobId=job)

    assert report["JobStatus"] == "COMPLETED"
    assert {s["ServiceNamespace"]: s.get("LastAuthenticated") for s in report["ServicesLastAccessed"]} == {
        "logs": START - timedelta(hours=1),
        "s3": None,
        "sqs": None,
    }
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_service_last_accessed_details(JobId="00000000-0000-4000-8000-000000000000")


def test_policies_granting_service_access_name_the_inline_and_the_managed_policy(aws: EmbeddedAws) -> None:
    iam = boto3.client("iam", region_name="eu-west-1")
    arn = _role_with_policies(aws)

    entries = iam.list_policies_granting_service_access(Arn=arn, ServiceNamespaces=["logs", "s3", "ecs"])

    assert {e["ServiceNamespace"]: e["Policies"] for e in entries["PoliciesGrantingServiceAccess"]} == {
        "logs": [
            {
                "PolicyName": "logs-writer",
                "PolicyType": "MANAGED",
                "PolicyArn": "arn:aws:iam::123456789012:policy/logs-writer",
            }
        ],
        "s3": [
            {
                "PolicyName": "runtime",
                "PolicyType": "INLINE",
                "EntityType": "ROLE",
                "EntityName": "acso-production-probe",
            }
        ],
        "ecs": [],
    }


def test_set_role_activity_changes_create_date_and_role_last_used(aws: EmbeddedAws) -> None:
    iam = boto3.client("iam", region_name="eu-west-1")
    _role_with_policies(aws)

    aws.set_role_activity("acso-production-probe", created=START - timedelta(days=300), last_used=START)
    role = iam.get_role(RoleName="acso-production-probe")["Role"]

    assert role["CreateDate"] == START - timedelta(days=300)
    assert role["RoleLastUsed"] == {"LastUsedDate": START, "Region": "eu-west-1"}


def test_image_scan_findings_are_moto_s_custom_result_for_that_image_and_its_fake_default_otherwise(
    aws: EmbeddedAws,
) -> None:
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="acso/probe")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "1" * 64},
            "layers": [],
        }
    )
    for tag in ("1.0", "1.1"):
        ecr.put_image(repositoryName="acso/probe", imageManifest=manifest.replace("1" * 64, tag[-1] * 64), imageTag=tag)
        ecr.start_image_scan(repositoryName="acso/probe", imageId={"imageTag": tag})
    finding = {"severity": "CRITICAL", "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2024-45490"}}
    aws.put_image_scan_findings(
        "acso/probe",
        "1.0",
        {
            "imageScanStatus": {"status": "ACTIVE"},
            "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 1}, "enhancedFindings": [finding]},
        },
    )

    seeded = ecr.describe_image_scan_findings(repositoryName="acso/probe", imageId={"imageTag": "1.0"})
    default = ecr.describe_image_scan_findings(repositoryName="acso/probe", imageId={"imageTag": "1.1"})

    assert seeded["imageScanFindings"]["enhancedFindings"][0]["packageVulnerabilityDetails"]["vulnerabilityId"] == (
        "CVE-2024-45490"
    )
    again = ecr.describe_image_scan_findings(repositoryName="acso/probe", imageId={"imageTag": "1.0"})
    assert again["imageScanFindings"] == seeded["imageScanFindings"], "kept for the image, not consumed"
    assert [f["name"] for f in default["imageScanFindings"]["findings"]] == ["CVE-9999-9999"]


# --- PATCH 17: symmetric KMS keys share one (unused) private key; asymmetric keys still get their own --------------


def test_symmetric_kms_keys_still_encrypt_and_decrypt_and_asymmetric_keys_keep_their_own_key_pair(
    aws: EmbeddedAws,
) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    first, second = (kms.create_key(Description=name)["KeyMetadata"]["KeyId"] for name in ("first", "second"))
    signing = [kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"] for _ in range(2)]

    blob = kms.encrypt(KeyId=first, Plaintext=b"page L2")["CiphertextBlob"]

    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"page L2"
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"].endswith(first) and first != second
    public_keys = {kms.get_public_key(KeyId=key)["PublicKey"] for key in signing}
    assert len(public_keys) == 2, "asymmetric keys are generated as before, each its own"


# --- PATCH 18: moto lists a response class's methods once per EmbeddedAws, not on every request ------------------


def test_each_response_class_is_inspected_once_and_actions_patched_in_by_the_emulator_still_answer() -> None:
    inspected: list[type] = []
    original = moto_core_utils.method_names_from_class

    def counting(clazz: type) -> list[str]:
        inspected.append(clazz)
        return original(clazz)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("moto.core.responses.method_names_from_class", counting)
        with EmbeddedAws(VirtualClock(START), region="eu-west-1") as aws:
            sqs = aws.client("sqs")
            for index in range(5):
                sqs.create_queue(QueueName=f"q{index}")
            cloudwatch = aws.client("cloudwatch")
            widget = {"metrics": [["AWS/SQS", "NumberOfMessagesSent"]], "width": 640, "height": 280}
            image = cloudwatch.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"]

    assert len([clazz for clazz in inspected if clazz.__name__ == "SQSResponse"]) == 1
    assert image.startswith(b"\x89PNG")


# --- PATCH 19: CloudWatchBackend.get_metric_data answers each query from its own metric's datapoints -------------

_UNPATCHED_GET_METRIC_DATA = CloudWatchBackend.get_metric_data


def test_get_metric_data_answers_exactly_as_moto_does_from_each_querys_own_metric(aws: EmbeddedAws) -> None:
    cloudwatch = aws.client("cloudwatch")
    for namespace, name, service, value in (
        ("AWS/ECS", "CPUUtilization", "s1", 40.0),
        ("AWS/ECS", "CPUUtilization", "s2", 70.0),
        ("Custom/Other", "CPUUtilization", "s1", 99.0),  # same name and dimensions, another namespace
        ("AWS/ECS", "MemoryUtilization", "s1", 55.0),
    ):
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "ServiceName", "Value": service}],
                    "Timestamp": START - timedelta(minutes=minutes),
                    "Value": value + minutes,
                }
                for minutes in range(1, 120, 7)
            ],
        )

    def stat(query_id: str, name: str, statistic: str, service: str | None = None) -> dict:
        dimensions = [{"Name": "ServiceName", "Value": service}] if service else []
        metric = {"Namespace": "AWS/ECS", "MetricName": name, "Dimensions": dimensions}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": 900, "Stat": statistic}}

    backend = cloudwatch_backends[aws.account_id][aws.region]
    calls = [
        [
            stat("a", "CPUUtilization", "Maximum", "s1"),
            stat("b", "CPUUtilization", "Average"),
            stat("c", "MemoryUtilization", "p90", "s1"),
        ],
        [
            stat("m1", "CPUUtilization", "Sum", "s1") | {"ReturnData": False},
            stat("m2", "MemoryUtilization", "Sum", "s1"),
            {"Id": "total", "Expression": "m1 + m2"},
        ],
    ]
    for queries in calls:
        for scan_by in ("TimestampAscending", "TimestampDescending"):
            window = (START - timedelta(hours=2)).replace(tzinfo=None), START.replace(tzinfo=None)
            answered = backend.get_metric_data(queries, *window, scan_by)
            assert answered == _UNPATCHED_GET_METRIC_DATA(backend, queries, *window, scan_by)
            assert all(result["values"] for result in answered if result["id"] != "total")  # moto's math: none


# --- The simulator's reads and writes straight into moto's backends (no API call) -------------------------------
def test_execution_history_read_from_moto_is_what_get_execution_history_answers(aws: EmbeddedAws) -> None:
    """EmbeddedAws._history reads moto's Step Functions backend instead of paging GetExecutionHistory: the same
    events, timestamps and types as the API returns them, for tasks, failures caught, retries, waits and branches."""
    calls = {"flaky": 0}

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise Throttled("slow down")
        return {"ok": True}

    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise InvalidInput("no such agent")

    flaky_arn, broken_arn = aws.register_function("flaky", flaky), aws.register_function("broken", broken)
    retry = [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 2, "MaxAttempts": 2}]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Pause"}]
    states = {
        "Flaky": _task(flaky_arn, Retry=retry, ResultPath="$.flaky", Next="Broken"),
        "Broken": _task(broken_arn, Catch=catch, Next="Pause"),
        "Pause": {"Type": "Wait", "Seconds": 30, "Next": "Both"},
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "L", "States": {"L": {"Type": "Pass", "End": True}}},
                {"StartAt": "R", "States": {"R": _task(flaky_arn, End=True)}},
            ],
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$[0].x", "IsPresent": True, "Next": "Done"}],
            "Default": "Fail",
        },
        "Done": {"Type": "Succeed"},
        "Fail": {"Type": "Fail", "Error": "Nope", "Cause": "no x"},
    }

    result = aws.run_execution(_machine(aws, states, "Flaky"), {"agent": "supervisor"})

    paginator = aws.client("stepfunctions").get_paginator("get_execution_history")
    answered = [event for page in paginator.paginate(executionArn=result.execution_arn) for event in page["events"]]
    assert result.status == "FAILED" and len(answered) > 30
    assert result.history == answered
    assert [type(event["type"]) for event in result.history] == [str] * len(answered)
    assert [event["timestamp"].tzinfo for event in result.history] == [event["timestamp"].tzinfo for event in answered]


def _stored_datums(aws: EmbeddedAws, namespace: str) -> list[tuple]:
    backend = cloudwatch_backends[aws.account_id][aws.region]
    return [
        (datum.name, datum.timestamp, datum.value, datum.unit, [(d.name, d.value) for d in datum.dimensions])
        for datum in backend.metric_data
        if datum.namespace == namespace
    ]


def test_world_metric_data_written_straight_into_moto_is_stored_as_put_metric_data_stores_it(aws: EmbeddedAws) -> None:
    """EmbeddedAws.put_metric_data (the simulated world's writes) takes PutMetricData's arguments and leaves moto's
    CloudWatch backend as the API call does: values, lists of values with counts, units, dimensions, timestamps."""
    dimensions = [{"Name": "ClusterName", "Value": "c"}, {"Name": "ServiceName", "Value": "s"}]
    data = [
        {"MetricName": "CPUUtilization", "Dimensions": dimensions, "Timestamp": START, "Value": 42, "Unit": "Percent"},
        {
            "MetricName": "CPUUtilization",
            "Dimensions": dimensions,
            "Timestamp": START.replace(microsecond=250_000),
            "Value": 43.5,
            "Unit": "Percent",
        },
        {
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Agent", "Value": "a"}],
            "Timestamp": START - timedelta(hours=1),
            "Values": [10, 12.5, 30.0],
            "Counts": [1, 2, 1],
            "Unit": "Milliseconds",
        },
        {"MetricName": "Errors", "Timestamp": START.astimezone(timezone(timedelta(hours=2))), "Value": 3.0},
    ]

    aws.client("cloudwatch").put_metric_data(Namespace="Through/Api", MetricData=data)
    aws.put_metric_data(Namespace="Straight/Backend", MetricData=data)

    assert _stored_datums(aws, "Straight/Backend") == _stored_datums(aws, "Through/Api")
    assert len(_stored_datums(aws, "Through/Api")) == 7


def test_world_log_events_written_straight_into_moto_are_stored_as_put_log_events_stores_them(aws: EmbeddedAws) -> None:
    """EmbeddedAws.put_log_events takes PutLogEvents' arguments and stores what the API call stores (moto keeps only
    events of the last 14 days, real time, either way)."""
    logs, now = aws.client("logs"), datetime.now(UTC)
    logs.create_log_group(logGroupName="agents")
    for stream in ("through-api", "straight-to-backend"):
        logs.create_log_stream(logGroupName="agents", logStreamName=stream)
    events = [
        {"timestamp": int((now - timedelta(days=20)).timestamp() * 1000), "message": "too old: dropped"},
        *(
            {"timestamp": int((now - timedelta(minutes=60 - m)).timestamp() * 1000), "message": f"INFO {m} ok"}
            for m in range(5)
        ),
    ]

    logs.put_log_events(logGroupName="agents", logStreamName="through-api", logEvents=events)
    aws.put_log_events(logGroupName="agents", logStreamName="straight-to-backend", logEvents=events)

    def stored(stream: str) -> list[tuple[int, str]]:
        answered = logs.get_log_events(logGroupName="agents", logStreamName=stream, startFromHead=True)["events"]
        return [(event["timestamp"], event["message"]) for event in answered]

    assert stored("straight-to-backend") == stored("through-api")
    assert [message for _, message in stored("through-api")] == [f"INFO {m} ok" for m in range(5)]


def test_visible_messages_counts_what_receive_message_can_return(aws: EmbeddedAws) -> None:
    """EmbeddedAws.visible_messages reads moto's SQS backend: sent messages count, received (in flight, invisible) and
    deleted ones do not."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="inbox-l1")["QueueUrl"]
    assert aws.visible_messages(url) == 0
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{index}")
    assert aws.visible_messages(url) == 3

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert aws.visible_messages(url) == 1
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert aws.visible_messages(url) == 1
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 1


def test_lambda_tasks_of_every_execution_thread_share_one_uncounted_client_per_region(aws: EmbeddedAws) -> None:
    """PATCH 6: moto's interpreter gets the client for its Lambda tasks from `boto_client_for`; each region's is made
    once for every execution thread, and its calls are not counted as the product's."""
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(lambda_eval_utils.boto_client_for("eu-west-1", "lambda")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other_region = lambda_eval_utils.boto_client_for("us-east-1", "lambda")

    assert len({id(client) for client in got}) == 1 and other_region is not got[0]
    got[0].list_functions()
    assert aws.api_calls() == {}
