"""High-cpu act and verify steps against moto ECS and CloudWatch, called as the state machine calls them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from remediation.adapters import ecs
from remediation.adapters.aws import client
from remediation.errors import AwsThrottled
from remediation.handlers import high_cpu
from tests.unit.conftest import CLUSTER, SERVICES, STATE_TABLE, boto

SUPERVISOR = SERVICES["supervisor"]


RUN_ARN = "arn:aws:states:eu-west-1:123456789012:execution:acso-production-high-cpu:run-1"


def _request(lambda_context, service: str = "supervisor", dry_run: bool = False, execution: str = "run-1") -> dict:
    """The request NormalizeRequest hands on, from a console input."""
    raw = {"service": service, "dryRun": dry_run}
    return high_cpu.normalize({"input": raw, "executionName": execution}, lambda_context)["request"]


@pytest.fixture
def update_service_calls(aws) -> Iterator[list[dict]]:
    """Parameters of every ecs.UpdateService API call the adapters make."""
    calls: list[dict] = []
    events = client("ecs").meta.events

    def record(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record, unique_id="test-update-service-calls")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-update-service-calls")


def _cooldowns() -> list[dict]:
    scan = boto("dynamodb").scan(TableName=STATE_TABLE, ConsistentRead=True)
    return [item for item in scan["Items"] if item["pk"]["S"].startswith("COOLDOWN#")]


def _put_cpu(virtual_clock, *values: float) -> None:
    """One CPUUtilization datapoint per minute, the last one a minute ago."""
    now = virtual_clock.now
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SUPERVISOR}],
                "Timestamp": now - timedelta(minutes=len(values) - index),
                "Value": value,
                "Unit": "Percent",
            }
            for index, value in enumerate(values)
        ],
    )


# --- ScaleOut ------------------------------------------------------------------------------------------------


def test_given_two_tasks_when_scaling_out_then_desired_count_is_set_to_three_and_the_cooldown_is_recorded(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)

    action = high_cpu.scale_out({"executionArn": RUN_ARN, "request": _request(lambda_context)}, lambda_context)

    assert action["outcome"] == "scaled"
    assert action["call"] == {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "desiredCount": 3},
    }
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "desiredCount": 3}]
    assert (action["before"]["desired_count"], action["after"]["desired_count"]) == (2, 3)
    assert action["after"]["service_name"] == SUPERVISOR
    assert aws.desired_count("supervisor") == 3
    assert (action["cap"], action["verifyAfterSeconds"]) == (6, 300)
    [cooldown] = _cooldowns()
    assert (cooldown["pk"]["S"], cooldown["sk"]["S"]) == (f"COOLDOWN#{CLUSTER}/{SUPERVISOR}", "scale-out")
    assert cooldown["actedAt"]["S"] == virtual_clock.now.isoformat()
    assert int(cooldown["expiresAt"]["N"]) == int(virtual_clock.now.timestamp()) + 900


def test_given_the_service_at_the_cap_when_scaling_out_then_no_update_is_made_and_the_outcome_is_at_cap(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=6)

    action = high_cpu.scale_out({"executionArn": RUN_ARN, "request": _request(lambda_context)}, lambda_context)

    assert (action["outcome"], action["call"], action["cap"]) == ("at-cap", None, 6)
    assert action["after"] == action["before"]
    assert update_service_calls == []
    assert aws.desired_count("supervisor") == 6
    assert _cooldowns() == []


def test_given_a_dry_run_request_when_scaling_out_then_no_update_is_made_and_the_call_it_would_make_is_returned(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)

    action = high_cpu.scale_out(
        {"executionArn": RUN_ARN, "request": _request(lambda_context, dry_run=True)}, lambda_context
    )

    assert action["outcome"] == "dry-run"
    assert action["call"] == {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "desiredCount": 3},
    }
    assert update_service_calls == []
    assert aws.desired_count("supervisor") == 2
    assert action["after"]["desired_count"] == 2
    assert _cooldowns() == []


@pytest.mark.parametrize(("start", "expected"), [(2, [3, 3]), (5, [6, 6])])
def test_given_the_same_request_twice_when_scaling_out_then_one_step_is_added_in_total_and_never_past_the_cap(
    aws, virtual_clock, lambda_context, start, expected
):
    aws.create_service("supervisor", desired_count=start)
    event = {"executionArn": RUN_ARN, "request": _request(lambda_context)}

    observed = []
    for _ in range(2):
        action = high_cpu.scale_out(event, lambda_context)
        assert action["after"]["desired_count"] == min(start + 1, 6)
        observed.append(aws.desired_count("supervisor"))

    assert observed == expected


def test_given_another_service_when_scaling_out_then_only_the_alarmed_service_changes(
    aws, virtual_clock, lambda_context
):
    aws.create_service("supervisor", desired_count=2)
    aws.create_service("threat-hunter", desired_count=2)

    high_cpu.scale_out(
        {"executionArn": RUN_ARN, "request": _request(lambda_context, service="threat-hunter")}, lambda_context
    )

    assert (aws.desired_count("supervisor"), aws.desired_count("threat-hunter")) == (2, 3)


def test_given_the_re_read_after_update_was_throttled_when_step_functions_retries_then_one_step_is_added_in_total(
    aws, virtual_clock, lambda_context, monkeypatch
):
    aws.create_service("supervisor", desired_count=2)
    event = {"executionArn": RUN_ARN, "request": _request(lambda_context)}
    describe, reads = ecs.describe_services, []

    def throttle_the_re_read(cluster, names):
        reads.append(names)
        if len(reads) == 2:  # 1: before the update, 2: the re-read after it
            raise AwsThrottled("ecs.DescribeServices was throttled (ThrottlingException)")
        return describe(cluster, names)

    monkeypatch.setattr(ecs, "describe_services", throttle_the_re_read)
    with pytest.raises(AwsThrottled):
        high_cpu.scale_out(event, lambda_context)

    retried = high_cpu.scale_out(event, lambda_context)

    assert aws.desired_count("supervisor") == 3
    assert retried["after"]["desired_count"] == 3


# --- VerifyScaling -------------------------------------------------------------------------------------------


def _scaled_out(aws, lambda_context) -> dict:
    aws.create_service("supervisor", desired_count=2)
    request = _request(lambda_context)
    action = high_cpu.scale_out({"executionArn": RUN_ARN, "request": request}, lambda_context)
    return {"executionArn": RUN_ARN, "request": request, "targetDesiredCount": action["after"]["desired_count"]}


def test_given_the_new_count_running_and_cpu_under_the_threshold_when_verified_then_the_scale_out_is_verified(
    aws, virtual_clock, lambda_context
):
    event = _scaled_out(aws, lambda_context)
    virtual_clock.advance(300)
    _put_cpu(virtual_clock, 88.0, 71.0, 52.5)

    verification = high_cpu.verify_scaling(event, lambda_context)

    assert (verification["verified"], verification["stable"]) == (True, True)
    assert (verification["cpuLatestPercent"], verification["cpuThresholdPercent"]) == (52.5, 80)
    assert (verification["service"]["desired_count"], verification["service"]["running_count"]) == (3, 3)


@pytest.mark.parametrize(("cpu", "latest"), [((91.0, 85.2), 85.2), ((), None)], ids=["still-high", "no-data"])
def test_given_cpu_still_high_or_missing_when_verified_then_the_scale_out_is_not_verified(
    aws, virtual_clock, lambda_context, cpu, latest
):
    event = _scaled_out(aws, lambda_context)
    virtual_clock.advance(300)
    if cpu:
        _put_cpu(virtual_clock, *cpu)

    verification = high_cpu.verify_scaling(event, lambda_context)

    assert (verification["verified"], verification["stable"], verification["cpuLatestPercent"]) == (
        False,
        True,
        latest,
    )


def test_given_the_service_is_not_at_the_target_count_when_verified_then_it_is_not_stable(
    aws, virtual_clock, lambda_context
):
    event = _scaled_out(aws, lambda_context)
    boto("ecs").update_service(cluster=CLUSTER, service=SUPERVISOR, desiredCount=2)  # someone scaled it back
    _put_cpu(virtual_clock, 40.0)

    verification = high_cpu.verify_scaling(event, lambda_context)

    assert (verification["verified"], verification["stable"]) == (False, False)
