"""High CPU: scale the alarmed service out by one configured step, then verify the CPU came down."""

from __future__ import annotations

from datetime import timedelta

from remediation.adapters import ecs, metrics, state_store
from remediation.adapters.metrics import MetricQuery
from remediation.clock import utc_now
from remediation.domain.fargate import next_size
from remediation.domain.requests.common import ServiceRequest
from remediation.domain.scaling import plan_scale_out
from remediation.logic import scale_in_hold
from remediation.logic.guard import authorize_write, lease_resource
from remediation.settings import Settings

ACTION = "scale-out"
RUNBOOK = "high-cpu"
_PLAN_TTL_SECONDS = 7 * 24 * 3600


def scale_out(request: ServiceRequest, execution_arn: str, settings: Settings) -> dict:
    """Re-read the service (evidence may be minutes old), then set an absolute desired count."""
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    policy = settings.high_cpu
    plan = plan_scale_out(
        current.desired_count, policy.scale_out_step, policy.max_desired_count, settings.guard.min_desired_count
    )
    # A retry of this step (after UpdateService succeeded) must not plan a second step from the new count.
    first = state_store.remember_plan(
        settings.state_table,
        request.idempotency_key,
        {"before": current.to_dict(), "target": plan.target, "atCap": plan.at_cap},
        utc_now(),
        _PLAN_TTL_SECONDS,
    )
    before, target = first["before"], first["target"]
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": request.cluster_name, "service": request.service_name, "desiredCount": target},
    }
    result = {
        "action": ACTION,
        "service": request.service_name,
        "before": before,
        "cap": plan.cap,
        "verifyAfterSeconds": policy.verify_after_seconds,
        "authorization": None,
    }
    if first["atCap"]:
        return result | {"outcome": "at-cap", "after": current.to_dict(), "call": None}
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict(), "call": call}
    if current.desired_count != target:  # not yet done by an earlier attempt of this step
        authorization = authorize_write(request, current, target, execution_arn, settings)
        if not authorization.allowed:
            return result | {
                "outcome": "refused",
                "after": current.to_dict(),
                "call": call,
                "authorization": authorization.to_dict(),
            }
    autoscaler = scale_in_hold.hold(request.cluster_name, request.service_name, execution_arn, settings)
    after = ecs.set_desired_count(request.cluster_name, request.service_name, target)
    state_store.record_action(
        settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
    )
    return result | {"outcome": "scaled", "after": after.to_dict(), "call": call, "autoscaler": autoscaler}


def verify(request: ServiceRequest, target_desired: int, execution_arn: str, settings: Settings) -> dict:
    """Stable at the new count and CPU clearly under the alarm threshold (hysteresis), or escalate.

    A failed verification counts toward the runbook's circuit breaker; new tasks that never start are
    "worse than before", and the state machine then restores the prior desired count.
    """
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    now = utc_now()
    dimensions = {"ClusterName": request.cluster_name, "ServiceName": request.service_name}
    query = MetricQuery("cpu", "AWS/ECS", "CPUUtilization", dimensions, "Average", 60)
    cpu = metrics.get_metric_data([query], now - timedelta(minutes=5), now)["cpu"].latest
    policy = settings.high_cpu
    recovered_below = policy.alarm_threshold_percent - policy.recovery_margin_percent
    # A rollout still in progress (new tasks crashing while the old ones serve) is not stable, whatever the CPU.
    stable = (
        state.desired_count == target_desired
        and state.running_count == target_desired
        and state.deployments == 1
        and state.rollout_state == "COMPLETED"
    )
    verified = stable and cpu is not None and cpu < recovered_below
    result = {
        "verified": verified,
        "stable": stable,
        "restore": not stable,
        "cpuLatestPercent": None if cpu is None else round(cpu, 2),
        "cpuThresholdPercent": policy.alarm_threshold_percent,
        "cpuRecoveredBelowPercent": recovered_below,
        "service": state.to_dict(),
        "breaker": None,
    }
    if not verified:
        failures, opened = state_store.record_failed_verification(
            settings.state_table,
            RUNBOOK,
            execution_arn,
            now,
            settings.guard.breaker_window_seconds,
            settings.guard.breaker_failures,
        )
        result["breaker"] = {"failures": failures, "threshold": settings.guard.breaker_failures, "opened": opened}
    return result


def restore(request: ServiceRequest, prior_desired: int, settings: Settings) -> dict:
    """Undo a scale-out whose tasks never started: back to the recorded prior count (absolute)."""
    target = max(prior_desired, settings.guard.min_desired_count)
    after = ecs.set_desired_count(request.cluster_name, request.service_name, target)
    return {"restoredTo": target, "after": after.to_dict()}


def roll_back_resize(request: ServiceRequest, resized: dict) -> dict:
    """Undo an approved resize whose tasks never started: the recorded prior revision again (absolute)."""
    prior = resized["before"]["taskDefinition"]
    after = ecs.deploy_task_definition(request.cluster_name, request.service_name, prior)
    return {"restoredTo": prior, "after": after.to_dict()}


def plan_resize(request: ServiceRequest, settings: Settings) -> dict:
    """At the scaling cap: the next Fargate size for the service's task definition, for a person to approve."""
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    current = ecs.describe_task_definition(state.task_definition)
    cpu, memory = int(current.get("cpu", 0) or 0), int(current.get("memory", 0) or 0)
    bigger = next_size(cpu, memory) if cpu and memory else None
    revision = f"{current['family']}:{current['revision']}"
    plan = {"possible": bigger is not None, "from": {"taskDefinition": revision, "cpu": cpu, "memory": memory}}
    if bigger is None:
        return plan | {"why": f"{revision} ({cpu} CPU / {memory} MiB) has no larger Fargate size"}
    plan["to"] = {"cpu": bigger[0], "memory": bigger[1]}
    plan["proposal"] = {
        "action": "resize-task",
        "service": request.service_name,
        "from": f"{revision}: {cpu} CPU units / {memory} MiB",
        "to": f"new revision of {current['family']}: {bigger[0]} CPU units / {bigger[1]} MiB",
        "impact": f"rolling replacement of all {state.running_count} tasks",
    }
    plan["summary"] = (
        f"{request.service_name} is at its scaling cap ({state.desired_count} of "
        f"{settings.high_cpu.max_desired_count} tasks) and its CPU alarm {request.alarm_name or ''} is in ALARM.\n"
        f"Proposed: give each task {bigger[0]} CPU units / {bigger[1]} MiB instead of {cpu} / {memory}."
    )
    return plan


def resize(request: ServiceRequest, plan: dict, execution_arn: str, settings: Settings) -> dict:
    """Approved by a person: register the bigger revision and deploy it (absolute `family:revision`)."""
    # The approval may have taken longer than the lease: take it again (ours, or expired) before acting.
    holder = state_store.acquire_lease(
        settings.state_table, lease_resource(request), execution_arn, utc_now(), settings.guard.lock_seconds
    )
    if holder is not None:
        refusal = {"allowed": False, "reason": "locked", "detail": f"{lease_resource(request)} is held by {holder}"}
        return {"outcome": "refused", "authorization": refusal, "before": plan["from"]}
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    authorization = authorize_write(request, state, state.desired_count, execution_arn, settings)
    if not authorization.allowed:
        return {"outcome": "refused", "authorization": authorization.to_dict(), "before": plan["from"]}
    current = ecs.describe_task_definition(plan["from"]["taskDefinition"])
    revision = ecs.register_resized_revision(current, plan["to"]["cpu"], plan["to"]["memory"])
    after = ecs.deploy_task_definition(request.cluster_name, request.service_name, revision)
    return {
        "outcome": "resized",
        "before": plan["from"],
        "after": plan["to"] | {"taskDefinition": revision},
        "service": after.to_dict(),
    }
