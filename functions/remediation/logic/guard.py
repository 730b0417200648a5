"""The shared guard in front of every write, in two places.

`admit` runs right after normalize, before anything else: flags (fail closed), kill switch,
maintenance, circuit breaker, duplicate event, blast radius, cooldown, per-service lease.
`authorize_write` runs inside the act step, immediately before the write: the alarm is still in
ALARM, no deployment is in progress, the target is within floor and cap, and the hourly action
budget has room. Dry run is not a refusal: the act step records the exact call instead of making it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from remediation.adapters import alarms, flags, state_store
from remediation.adapters.ecs import ServiceState
from remediation.clock import utc_now
from remediation.domain.maintenance import active_window
from remediation.domain.requests import ServiceRequest
from remediation.errors import FlagStoreUnavailable
from remediation.settings import Settings

_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window


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
    request: ServiceRequest, current: ServiceState, target: int, execution_arn: str, settings: Settings
) -> WriteAuthorization:
    """The last checks before changing a service, made on the state just read, in this order."""
    if request.alarm_name:
        state = alarms.states([request.alarm_name]).get(request.alarm_name, "MISSING")
        if state != "ALARM":
            return WriteAuthorization(False, "alarm-resolved", f"{request.alarm_name} is {state} now")
    if current.deployments > 1 or current.rollout_state == "IN_PROGRESS":
        return WriteAuthorization(
            False, "deployment-in-progress", f"{current.service_name} has a deployment in progress"
        )
    floor, cap = settings.guard.min_desired_count, settings.high_cpu.max_desired_count
    if target < floor:
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


def release(lease: dict | None, execution_arn: str, settings: Settings) -> bool | None:
    """Release our lease if we hold one; None when there was nothing to release."""
    if not lease:
        return None
    return state_store.release_lease(settings.state_table, lease["resource"], execution_arn)
