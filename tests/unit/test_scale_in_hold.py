"""While a remediation holds a service, the autoscaler may not scale it back in (moto Application Auto Scaling)."""

from __future__ import annotations

import boto3
import pytest

from remediation.adapters import state_store
from remediation.clock import utc_now
from remediation.domain.requests.agent_operations import AutoScalingRange, ScaleRequest, normalize_scale
from remediation.errors import InvalidInput, WriteRefused
from remediation.logic import guard, scale_agent, scale_in_hold
from remediation.settings import load_settings
from tests.unit.conftest import CLUSTER, execution_arn

SERVICE = "acso-production-supervisor"
RESOURCE = f"{CLUSTER}/{SERVICE}"
RUN, OTHER = execution_arn("remediation"), execution_arn("other")


def _register_target(aws, suspended: bool = False) -> None:
    aws.create_service("supervisor", 2)
    boto3.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{RESOURCE}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=6,
        SuspendedState={"DynamicScalingInSuspended": suspended},
    )


def _scale_in_suspended() -> bool:
    target = boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")
    return target["ScalableTargets"][0].get("SuspendedState", {}).get("DynamicScalingInSuspended", False)


def _hold_lease(owner: str = RUN) -> dict:
    assert state_store.acquire_lease(load_settings().state_table, RESOURCE, owner, utc_now(), 900) is None
    return {"resource": RESOURCE}


def test_given_an_autoscaled_service_when_a_remediation_writes_then_scale_in_is_suspended_until_its_lease_is_released(
    aws, virtual_clock
):
    _register_target(aws)
    lease = _hold_lease()

    held = scale_in_hold.hold(CLUSTER, SERVICE, RUN, load_settings())

    assert held == {"scaleInSuspended": True, "suspendedByThisRun": True}
    assert _scale_in_suspended()
    assert guard.release(lease, RUN, load_settings()) is True
    assert not _scale_in_suspended()


def test_given_scale_in_suspended_by_an_operator_when_a_remediation_ends_then_the_suspension_stays(aws, virtual_clock):
    _register_target(aws, suspended=True)
    lease = _hold_lease()

    held = scale_in_hold.hold(CLUSTER, SERVICE, RUN, load_settings())
    guard.release(lease, RUN, load_settings())

    assert held == {"scaleInSuspended": True, "suspendedByThisRun": False}
    assert _scale_in_suspended()


def test_given_no_autoscaler_when_a_remediation_writes_then_nothing_is_registered(aws, virtual_clock):
    _hold_lease()

    assert scale_in_hold.hold(CLUSTER, SERVICE, RUN, load_settings()) is None
    assert (
        boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        == []
    )


def test_given_a_lease_taken_over_by_another_run_when_the_first_releases_then_the_hold_is_not_lifted(
    aws, virtual_clock
):
    _register_target(aws)
    _hold_lease()
    scale_in_hold.hold(CLUSTER, SERVICE, RUN, load_settings())
    virtual_clock.advance(901)  # the lease expired ...
    _hold_lease(OTHER)  # ... and another run holds the service now

    assert guard.release({"resource": RESOURCE}, RUN, load_settings()) is False
    assert _scale_in_suspended()


def _scale_request(minimum: int, maximum: int, desired: int = 3) -> ScaleRequest:
    return ScaleRequest(
        runbook="scale-agent",
        trigger="console",
        dry_run=False,
        idempotency_key="console:x#scale",
        reason="launch week",
        agent="supervisor",
        service_name=SERVICE,
        cluster_name=CLUSTER,
        desired_count=desired,
        auto_scaling=AutoScalingRange(minCapacity=minimum, maxCapacity=maximum),
    )


def test_given_autoscaling_bounds_above_the_cap_when_scaling_then_it_is_refused_before_any_write(aws, virtual_clock):
    aws.create_service("supervisor", 2)

    with pytest.raises(WriteRefused, match="maxCapacity 9 must lie within the floor 1 and the cap 6"):
        scale_agent.set_desired_count(_scale_request(2, 9), RUN, load_settings())

    assert aws.desired_count("supervisor") == 2


def test_given_bounds_that_exclude_the_desired_count_when_normalized_then_the_input_is_rejected(aws):
    raw = {
        "service": "supervisor",
        "desiredCount": 8,
        "reason": "x y z",
        "autoScaling": {"minCapacity": 2, "maxCapacity": 6},
    }
    with pytest.raises(InvalidInput, match="desiredCount 8 must lie within minCapacity 2 and maxCapacity 6"):
        normalize_scale(raw, load_settings(), "run-1")


def test_given_a_dry_run_when_the_policy_is_applied_then_the_calls_are_recorded_and_none_is_made(aws, virtual_clock):
    request = _scale_request(2, 6).model_copy(update={"dry_run": True})

    result = scale_agent.apply_scaling_policy(request, load_settings())

    assert result["outcome"] == "dry-run"
    assert [call["operation"] for call in result["calls"]] == [
        "application-autoscaling.RegisterScalableTarget",
        "application-autoscaling.PutScalingPolicy",
        "cloudwatch.PutMetricAlarm",
    ]
    assert (
        boto3.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
        == []
    )
