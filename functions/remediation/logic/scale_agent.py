"""scale-agent: set a service's desired count by hand, through the same guard as every remediation."""

from __future__ import annotations

from remediation.adapters import ecs, state_store
from remediation.clock import utc_now
from remediation.domain.requests import ScaleRequest
from remediation.errors import WriteRefused
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
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict()}
    if current.desired_count != request.desired_count:
        authorization = authorize_write(request, current, request.desired_count, execution_arn, settings)
        if not authorization.allowed:
            raise WriteRefused(f"{authorization.reason}: {authorization.detail}. Nothing was changed.")
    elif first["before"]["desired_count"] == request.desired_count:
        return result | {"outcome": "unchanged", "after": current.to_dict()}
    after = ecs.set_desired_count(request.cluster_name, request.service_name, request.desired_count)
    return result | {"outcome": "scaled", "after": after.to_dict()}


def verify_stable(request: ScaleRequest, settings: Settings) -> dict:
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    stable = state.running_count == request.desired_count == state.desired_count and state.deployments == 1
    return {"verified": stable, "stable": stable, "service": state.to_dict()}
