"""restart-agent: force a new deployment, wait until the service is stable again, check the agent's logs."""

from __future__ import annotations

from remediation.adapters import ecs, state_store
from remediation.clock import utc_now
from remediation.domain.requests.common import ServiceRequest
from remediation.logic.guard import authorize_write, lease_resource

ACTION = "restart"  # the guard's cooldown key (AcquireGuard's action in restart_agent.asl.json)
ROLLOUT_CHECKS = 10  # x ROLLOUT_POLL_SECONDS: how long a restart may take before it escalates
ROLLOUT_POLL_SECONDS = 60
_PLAN_TTL_SECONDS = 7 * 24 * 3600


def restart(request: ServiceRequest, execution_arn: str, settings) -> dict:
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    first = state_store.remember_plan(
        settings.state_table, request.idempotency_key, {"before": current.to_dict()}, utc_now(), _PLAN_TTL_SECONDS
    )
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": request.cluster_name, "service": request.service_name, "forceNewDeployment": True},
    }
    result = {
        "action": "restart",
        "service": request.service_name,
        "before": first["before"],
        "call": call,
        "pollSeconds": ROLLOUT_POLL_SECONDS,
        "checksLeft": ROLLOUT_CHECKS,
    }
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict()}
    if first["before"] != current.to_dict():
        # An earlier attempt of this step already forced the deployment (and failed after it): never twice.
        return result | {"outcome": "restarted", "after": current.to_dict()}
    authorization = authorize_write(request, current, current.desired_count, execution_arn, settings)
    if not authorization.allowed:
        return result | {"outcome": "refused", "after": current.to_dict(), "authorization": authorization.to_dict()}
    after = ecs.force_new_deployment(request.cluster_name, request.service_name)
    state_store.record_action(
        settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
    )
    return result | {"outcome": "restarted", "after": after.to_dict()}


def check_rollout(request: ServiceRequest, checks_left: int) -> dict:
    """One bounded poll (the state machine loops with a Wait, in virtual time in the emulator)."""
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    return {
        "stable": state.is_steady and state.rollout_state == "COMPLETED",
        "checksLeft": checks_left - 1,
        "service": state.to_dict(),
    }
