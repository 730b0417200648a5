"""scale-agent: set a service's desired count by hand, through the same guard as every remediation."""

from __future__ import annotations

from remediation.adapters import alarms, autoscaling, ecs, state_store
from remediation.clock import utc_now
from remediation.domain import scaling
from remediation.domain.requests.agent_operations import ScaleRequest
from remediation.errors import WriteRefused
from remediation.logic import scale_in_hold
from remediation.logic.guard import authorize_write
from remediation.settings import Settings

ACTION = "scale"
_PLAN_TTL_SECONDS = 7 * 24 * 3600


def set_desired_count(request: ScaleRequest, execution_arn: str, settings: Settings) -> dict:
    """Absolute `desiredCount=N`; below the floor or above the cap it refuses and the execution fails."""
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    first = state_store.remember_plan(
        settings.state_table, request.idempotency_key, {"before": current.to_dict()}, utc_now(), _PLAN_TTL_SECONDS
    )
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {
            "cluster": request.cluster_name,
            "service": request.service_name,
            "desiredCount": request.desired_count,
        },
    }
    result = {
        "action": ACTION,
        "service": request.service_name,
        "before": first["before"],
        "call": call,
        "verifyAfterSeconds": settings.high_cpu.verify_after_seconds,
    }
    _check_autoscaling_bounds(request, settings)
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict()}
    if current.desired_count != request.desired_count:
        authorization = authorize_write(request, current, request.desired_count, execution_arn, settings)
        if not authorization.allowed:
            raise WriteRefused(f"{authorization.reason}: {authorization.detail}. Nothing was changed.")
    elif first["before"]["desired_count"] == request.desired_count:
        return result | {"outcome": "unchanged", "after": current.to_dict()}
    autoscaler = scale_in_hold.hold(request.cluster_name, request.service_name, execution_arn, settings)
    after = ecs.set_desired_count(request.cluster_name, request.service_name, request.desired_count)
    return result | {"outcome": "scaled", "after": after.to_dict(), "autoscaler": autoscaler}


def _check_autoscaling_bounds(request: ScaleRequest, settings: Settings) -> None:
    """The autoscaler gets the same floor and cap as every remediation; checked before anything changes."""
    bounds = request.auto_scaling
    floor, cap = settings.guard.min_desired_count, settings.high_cpu.max_desired_count
    if bounds and (bounds.minCapacity < floor or bounds.maxCapacity > cap):
        raise WriteRefused(
            f"autoscaling-bounds: minCapacity {bounds.minCapacity} / maxCapacity {bounds.maxCapacity} must lie "
            f"within the floor {floor} and the cap {cap}. Nothing was changed."
        )


def apply_scaling_policy(request: ScaleRequest, settings: Settings) -> dict:
    """The seed's step-scaling policy: scalable target (floor..cap), the policy, and the CPU alarm driving it."""
    bounds = request.auto_scaling
    if bounds is None:
        raise ValueError("apply_scaling_policy needs the request's autoScaling bounds")
    _check_autoscaling_bounds(request, settings)
    cluster, service = request.cluster_name, request.service_name
    name = scaling.step_policy_name(request.agent)
    threshold = scaling.step_policy_threshold(
        settings.high_cpu.alarm_threshold_percent, settings.high_cpu.recovery_margin_percent
    )
    configuration = scaling.step_scaling_configuration()
    resource = autoscaling.resource_id(cluster, service)
    calls = [
        {
            "operation": "application-autoscaling.RegisterScalableTarget",
            "parameters": {
                "resourceId": resource,
                "minCapacity": bounds.minCapacity,
                "maxCapacity": bounds.maxCapacity,
            },
        },
        {
            "operation": "application-autoscaling.PutScalingPolicy",
            "parameters": {"policyName": name, "policyType": "StepScaling", "configuration": configuration},
        },
        {
            "operation": "cloudwatch.PutMetricAlarm",
            "parameters": {"alarmName": name, "cpuAtLeastPercent": threshold},
        },
    ]
    result = {"policyName": name, "resourceId": resource, "cpuAtLeastPercent": threshold, "calls": calls}
    if request.dry_run:
        return result | {"outcome": "dry-run"}
    autoscaling.register_target(cluster, service, bounds.minCapacity, bounds.maxCapacity)
    policy_arn = autoscaling.put_step_scaling_policy(cluster, service, name, configuration)
    alarms.put_cpu_step_alarm(
        name,
        cluster,
        service,
        threshold,
        scaling.STEP_POLICY_ALARM_PERIOD_SECONDS,
        scaling.STEP_POLICY_ALARM_PERIODS,
        policy_arn,
    )
    return result | {"outcome": "applied", "policyArn": policy_arn}


def verify_stable(request: ScaleRequest, settings: Settings) -> dict:
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    stable = state.running_count == request.desired_count == state.desired_count and state.deployments == 1
    return {"verified": stable, "stable": stable, "service": state.to_dict()}
