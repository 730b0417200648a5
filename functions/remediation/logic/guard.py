"""The shared guard in front of every write, in two places.

`admit` runs right after normalize, before anything else: flags (fail closed), kill switch,
maintenance, circuit breaker, duplicate event, blast radius, cooldown, per-service lease.
`authorize_write` runs inside the act step, immediately before the write: the alarm is still in
ALARM, no deployment is in progress, the target is within floor and cap (the one exception: desired 0 for a
data-breach isolation a person approved, see `_is_approved_isolation`), and the hourly action budget has room.
Dry run is not a refusal: the act step records the exact call instead of making it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from remediation.adapters import alarms, flags, state_store
from remediation.clock import utc_now
from remediation.domain.maintenance import active_window
from remediation.errors import FlagStoreUnavailable
from remediation.logic import maintenance_hold, scale_in_hold
from remediation.settings import Settings

if TYPE_CHECKING:  # annotations only: the record step releases leases without the requests' models or ECS
    from remediation.adapters.ecs import ServiceState
    from remediation.domain.requests.common import ServiceRequest

_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window
ISOLATING_RUNBOOKS = frozenset({"data-breach"})
"""The only runbooks that may take a service below the floor, to exactly 0 tasks, with a recorded approval."""
ISOLATE_ACTION = "isolate-service"
"""The approval proposal's action an isolation must carry (logic/data_breach.py)."""


@dataclass(frozen=True)
class GuardVerdict:
    proceed: bool
    reason: str
    detail: str
    lease: dict | None = None
    notify: str | None = None
    """Escalation level to tell about a refusal (None: audit only)."""

    def to_dict(self) -> dict:
        return asdict(self)


def lease_resource(request: ServiceRequest) -> str:
    return f"{request.cluster_name}/{request.service_name}"


def admit(request: ServiceRequest, action: str, execution_arn: str, settings: Settings) -> GuardVerdict:
    now = utc_now()
    refusal = _automation_paused(request.runbook, now, settings)
    if refusal:
        return refusal
    table = settings.state_table
    earlier = state_store.claim_event(table, request.idempotency_key, execution_arn, now, _CLAIM_TTL_SECONDS)
    if earlier is not None:
        return GuardVerdict(False, "duplicate-event", f"already handled by {earlier}")
    refusal = _blast_radius(request, execution_arn, now, settings)
    if refusal:
        return refusal
    resource = lease_resource(request)
    last = state_store.last_action_at(table, resource, action)
    cooldown = timedelta(seconds=settings.guard.cooldown_seconds)
    if last is not None and now - last < cooldown:
        return GuardVerdict(False, "cooldown", f"{action} on {resource} at {last.isoformat()}; cooldown {cooldown}")
    holder = state_store.acquire_lease(table, resource, execution_arn, now, settings.guard.lock_seconds)
    if holder is not None:
        return GuardVerdict(False, "locked", f"{resource} is held by {holder}")
    return GuardVerdict(
        True, "clear", "flags, breaker, duplicate, blast radius, cooldown and lease checked", {"resource": resource}
    )


def automation_paused(runbook: str, now: datetime, settings: Settings) -> GuardVerdict | None:
    """Flags (fail closed), kill switch, maintenance and the runbook's circuit breaker: the refusal, or None.

    For a runbook whose guard is not per service (complete-outage): it checks these before each write itself.
    """
    return _automation_paused(runbook, now, settings)


def _automation_paused(runbook: str, now: datetime, settings: Settings) -> GuardVerdict | None:
    try:
        current = flags.read(settings.guard.flags_parameter)
    except FlagStoreUnavailable as error:
        return GuardVerdict(False, "flag-store-unavailable", f"failing closed: {error}", notify="L2")
    if not current.enabled:
        return GuardVerdict(
            False,
            "kill-switch",
            f"automation disabled: {current.reason or 'no reason given'}; handle this by hand",
            notify="L1",
        )
    if current.suppressed_until and now < current.suppressed_until:
        return GuardVerdict(
            False, "maintenance-window", f"suppressed until {current.suppressed_until.isoformat()}: {current.reason}"
        )
    window = active_window(now, settings.guard.maintenance_windows)
    if window:
        return GuardVerdict(
            False, "maintenance-window", f"configured window {window.weekday} {window.start}-{window.end} UTC"
        )
    opened = state_store.breaker_open_since(settings.state_table, runbook)
    if opened:
        return GuardVerdict(
            False,
            "breaker-open",
            f"{runbook} automation disabled since {opened} after repeated "
            "failed verifications; see the README to re-enable",
        )
    return None


def _blast_radius(
    request: ServiceRequest, execution_arn: str, now: datetime, settings: Settings
) -> GuardVerdict | None:
    """Many agents alarming at once is a platform problem, not five service problems: page, do not act."""
    current = alarms.states(list(settings.cpu_alarms.values()))
    alarming = sorted(name for name, state in current.items() if state == "ALARM")
    share = 100.0 * len(alarming) / max(len(settings.cpu_alarms), 1)
    if share < settings.guard.blast_radius_percent:
        return None
    first = state_store.claim_once(
        settings.state_table, f"blast-radius#{request.runbook}#{now:%Y-%m-%dT%H}", execution_arn, now, 2 * 3600
    )
    return GuardVerdict(
        False,
        "blast-radius",
        f"{len(alarming)} of {len(settings.cpu_alarms)} agents alarm at once ({share:.0f} % >= "
        f"{settings.guard.blast_radius_percent:g} %): {', '.join(alarming)}",
        notify="L3" if first else None,
    )


@dataclass(frozen=True)
class WriteAuthorization:
    allowed: bool
    reason: str
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def authorize_write(
    request: ServiceRequest,
    current: ServiceState,
    target: int,
    execution_arn: str,
    settings: Settings,
    *,
    replaces_deployment: bool = False,
    approved_isolation: dict | None = None,
) -> WriteAuthorization:
    """The last checks before changing a service, made on the state just read, in this order.

    `replaces_deployment`: the write is a rollback, whose very purpose is to replace a deployment that may
    still be in progress (a failing release); every other check still applies.
    """
    if request.alarm_name:
        state = alarms.states([request.alarm_name]).get(request.alarm_name, "MISSING")
        if state != "ALARM":
            return WriteAuthorization(False, "alarm-resolved", f"{request.alarm_name} is {state} now")
    if not replaces_deployment and (current.deployments > 1 or current.rollout_state == "IN_PROGRESS"):
        return WriteAuthorization(
            False, "deployment-in-progress", f"{current.service_name} has a deployment in progress"
        )
    floor, cap = settings.guard.min_desired_count, settings.high_cpu.max_desired_count
    if target < floor and not _is_approved_isolation(request, target, execution_arn, settings, approved_isolation):
        return WriteAuthorization(False, "below-floor", f"desired {target} is below the floor {floor}")
    if target > cap:
        return WriteAuthorization(False, "above-cap", f"desired {target} is above the cap {cap}")
    now = utc_now()
    if not state_store.consume_budget(
        settings.state_table, f"{now:%Y-%m-%dT%H}", settings.guard.actions_per_hour, execution_arn, now, 2 * 3600
    ):
        return WriteAuthorization(
            False, "budget-exhausted", f"{settings.guard.actions_per_hour} automated actions this hour already"
        )
    return WriteAuthorization(True, "authorized", "alarm, deployment, floor, cap and budget checked")


def _is_approved_isolation(
    request: ServiceRequest, target: int, execution_arn: str, settings: Settings, approval: dict | None
) -> bool:
    """The one way below the floor: desired exactly 0 (isolation), asked by an isolating runbook, and approved
    by a person for THIS execution and THIS service, as the approval store recorded it (the state machine's
    `$.approval` alone is not trusted)."""
    if target != 0 or not approval or request.runbook not in ISOLATING_RUNBOOKS:
        return False
    from remediation.domain.approval import APPROVED  # noqa: PLC0415 - isolation only: not every cold start's

    recorded = state_store.approval_record(settings.state_table, str(approval.get("approvalId") or ""))
    try:
        proposal = json.loads(recorded.get("proposal") or "{}")
    except ValueError:
        return False
    return (
        recorded.get("status") == APPROVED
        and recorded.get("executionArn") == execution_arn
        and recorded.get("runbook") == request.runbook
        and bool(recorded.get("approver"))
        and proposal.get("action") == ISOLATE_ACTION
        and proposal.get("service") == request.service_name
    )


def release(lease: dict | None, execution_arn: str, settings: Settings) -> bool | None:
    """Release our lease if we hold one (and end what it held, see logic/scale_in_hold.py); None when there
    was nothing to release."""
    if not lease:
        return None
    return release_resource(lease["resource"], execution_arn, settings)


def release_resource(resource: str, execution_arn: str, settings: Settings) -> bool:
    released = state_store.release_lease_item(settings.state_table, resource, execution_arn)
    scale_in_hold.let_go(resource, released)
    maintenance_hold.let_go(resource, released)  # a maintenance window's suppression ends with its lease
    return released is not None
