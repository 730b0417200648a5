"""rollback: deploy an earlier revision of the service's own task-definition family, wait until the service is
stable on it, then the smoke checks (running = desired on that revision, no FATAL/CRITICAL in the logs since).

Reusable by other runbooks (service-unavailable rolls back when the newest deployment is the cause):
`find_previous_revision`, `validate_revision`, `deploy_revision` (through the guard's last check) and
`check_rollout`; they take a plain `ServiceRequest` and `family:revision` strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediation.adapters import ecs, state_store
from remediation.clock import utc_now
from remediation.domain.requests.agent_operations import ROLLBACK_EXAMPLE, RollbackRequest, normalize_rollback
from remediation.domain.requests.common import ServiceRequest
from remediation.domain.rollback import Revision, check_rollback_target, parse_revision, previous_revision, revision_of
from remediation.errors import InvalidInput
from remediation.logic.guard import authorize_write, lease_resource
from remediation.settings import Settings

ACTION = "rollback"
ROLLOUT_CHECKS = 10  # x ROLLOUT_POLL_SECONDS: how long a rollback may take to stabilise before it escalates
ROLLOUT_POLL_SECONDS = 60
_PLAN_TTL_SECONDS = 7 * 24 * 3600


# -- reusable parts ------------------------------------------------------------------------------------------
def running_revision(cluster: str, service_name: str) -> Revision:
    """The task-definition revision the service runs now (its primary deployment's)."""
    return revision_of(ecs.describe_services(cluster, [service_name])[service_name].task_definition)


def find_previous_revision(running: Revision) -> Revision | None:
    """The newest ACTIVE revision of the running family older than the running one; None when there is none."""
    active = (parse_revision(arn) for arn in ecs.list_active_task_definitions(running.family))
    return previous_revision(running, [revision for revision in active if revision is not None])


def validate_revision(service_name: str, running: Revision, target: Revision) -> Revision:
    """A given target: same family as the running revision, not the running one, exists and is ACTIVE.
    Raises InvalidInput with what to send instead; ECS is asked only about a plausible target."""
    status = None
    if target.family == running.family and target.revision != running.revision:
        found = ecs.find_task_definition(str(target))
        status = found.get("status", "ACTIVE") if found else None
    return check_rollback_target(service_name, running, target, status)


def deploy_revision(
    request: ServiceRequest,
    target: str,
    execution_arn: str,
    settings: Settings,
    expected_running: str | None = None,
) -> dict:
    """`ecs.UpdateService(taskDefinition=target)` behind the guard's last check (absolute, idempotent).

    `expected_running`: the revision the decision was made on; if the service runs another one by now
    (someone deployed meanwhile), nothing is changed. A retried step reuses the first "before" and does not
    deploy twice. Outcomes: rolled-back | dry-run | refused | unchanged.
    """
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    first = state_store.remember_plan(
        settings.state_table,
        f"{request.idempotency_key}#deploy:{target}",
        {"before": current.to_dict()},
        utc_now(),
        _PLAN_TTL_SECONDS,
    )
    before = first["before"]
    ran = str(revision_of(before["task_definition"]))
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": request.cluster_name, "service": request.service_name, "taskDefinition": target},
    }
    result: dict[str, Any] = {
        "action": ACTION,
        "service": request.service_name,
        "from": ran,
        "to": target,
        "before": before,
        "call": call,
        "authorization": None,
        "pollSeconds": ROLLOUT_POLL_SECONDS,
        "checksLeft": ROLLOUT_CHECKS,
    }
    if ran == target:
        return result | {"outcome": "unchanged", "call": None, "after": current.to_dict()}
    if expected_running and ran != expected_running:
        refusal = {
            "allowed": False,
            "reason": "service-changed",
            "detail": f"{request.service_name} runs {ran} now, not {expected_running} as when the rollback was asked",
        }
        return result | {"outcome": "refused", "authorization": refusal, "after": current.to_dict()}
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict()}
    if str(revision_of(current.task_definition)) != target:  # not yet deployed by an earlier attempt of this step
        authorization = authorize_write(
            request, current, current.desired_count, execution_arn, settings, replaces_deployment=True
        )
        if not authorization.allowed:
            return result | {
                "outcome": "refused",
                "authorization": authorization.to_dict(),
                "after": current.to_dict(),
            }
        current = ecs.deploy_task_definition(request.cluster_name, request.service_name, target)
        state_store.record_action(
            settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
        )
    return result | {"outcome": "rolled-back", "after": current.to_dict(), "deployedAt": utc_now().isoformat()}


def check_rollout(request: ServiceRequest, target: str, checks_left: int, deployed_at: str) -> dict:
    """One bounded poll: stable (one completed deployment, running = desired) on the target revision.

    `logWindowMinutes`: whole minutes since the deploy, so the log smoke check reads only lines written
    since the rollback (the bad release's own errors from before are not held against it).
    """
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    on_target = str(revision_of(state.task_definition)) == target
    elapsed = (utc_now() - datetime.fromisoformat(deployed_at)).total_seconds()
    return {
        "stable": on_target and state.is_steady and state.rollout_state == "COMPLETED",
        "onTarget": on_target,
        "checksLeft": checks_left - 1,
        "service": state.to_dict(),
        "logWindowMinutes": max(1, int(elapsed // 60)),
    }


# -- the console runbook -------------------------------------------------------------------------------------
def normalize(raw: Any, settings: Settings, execution_name: str, account_id: str, region: str) -> RollbackRequest:
    """The console input checked against ECS (read only): the target is the given revision of the running
    family, or the previous ACTIVE one. Any problem raises InvalidInput before anything is changed."""
    request = normalize_rollback(raw, settings, execution_name, account_id, region)
    running = running_revision(request.cluster_name, request.service_name)
    if request.task_definition:
        target = validate_revision(request.service_name, running, revision_of(request.task_definition))
    else:
        target = find_previous_revision(running)
        if target is None:
            raise InvalidInput(
                f"{request.service_name} runs {running} and no older ACTIVE revision of {running.family} exists "
                f"to roll back to. Expected a taskDefinition of another ACTIVE revision, e.g. {ROLLBACK_EXAMPLE}."
            )
    return request.model_copy(update={"rollback_from": str(running), "rollback_to": str(target)})


def roll_back(request: RollbackRequest, execution_arn: str, settings: Settings) -> dict:
    return deploy_revision(request, request.rollback_to, execution_arn, settings, request.rollback_from)
