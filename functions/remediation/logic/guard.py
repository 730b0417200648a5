"""The shared guard in front of every write: duplicate events, lease per service, cooldown.

Dry run is not a refusal here: investigations are read only, and the act step records the exact
call it would make instead of making it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from remediation.adapters import state_store
from remediation.clock import utc_now
from remediation.domain.requests import ServiceRequest
from remediation.settings import Settings

_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window


@dataclass(frozen=True)
class GuardVerdict:
    proceed: bool
    reason: str
    detail: str
    lease: dict | None

    def to_dict(self) -> dict:
        return asdict(self)


def lease_resource(request: ServiceRequest) -> str:
    return f"{request.cluster_name}/{request.service_name}"


def admit(request: ServiceRequest, action: str, execution_arn: str, settings: Settings) -> GuardVerdict:
    table, now = settings.state_table, utc_now()
    earlier = state_store.claim_event(table, request.idempotency_key, execution_arn, now, _CLAIM_TTL_SECONDS)
    if earlier is not None:
        return GuardVerdict(False, "duplicate-event", f"already handled by {earlier}", None)

    resource = lease_resource(request)
    last = state_store.last_action_at(table, resource, action)
    cooldown = timedelta(seconds=settings.guard.cooldown_seconds)
    if last is not None and now - last < cooldown:
        return GuardVerdict(
            False, "cooldown", f"{action} on {resource} at {last.isoformat()}, cooldown {cooldown} not over", None
        )

    holder = state_store.acquire_lease(table, resource, execution_arn, now, settings.guard.lock_seconds)
    if holder is not None:
        return GuardVerdict(False, "locked", f"{resource} is held by {holder}", None)
    return GuardVerdict(True, "clear", "no duplicate, no cooldown, lease acquired", {"resource": resource})


def release(lease: dict | None, execution_arn: str, settings: Settings) -> bool | None:
    """Release our lease if we hold one; None when there was nothing to release."""
    if not lease:
        return None
    return state_store.release_lease(settings.state_table, lease["resource"], execution_arn)
