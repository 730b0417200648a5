"""Requests of the continuity runbooks: maintenance-window, backup-verification, dr-test.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediation.domain.maintenance_window import duration_problem
from remediation.domain.requests.common import Request, require_object, scheduled, validation_message
from remediation.errors import InvalidInput
from remediation.settings import Settings

MAINTENANCE_WINDOW_EXAMPLE = (
    '{"durationMinutes": 120, "reason": "monthly patching, change CHG-42"} (optionally with "dryRun": true)'
)


class MaintenanceWindowRequest(Request):
    cluster_name: str
    agents: tuple[str, ...]
    """Every configured agent: the checklist and the checks cover them all."""
    duration_minutes: int
    """How long auto-remediation is suppressed, from `started_at`."""
    monitor_minutes: int
    """The window's last minutes: validated at their start, checked again at their end."""
    started_at: str
    """ISO instant the run started: the window's start."""


class _ConsoleMaintenanceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    durationMinutes: int  # noqa: N815 - the documented console key
    reason: str = Field(min_length=3, max_length=500)
    dryRun: bool = False  # noqa: N815


def normalize_maintenance_window(
    raw: Any, settings: Settings, execution_name: str, now: datetime
) -> MaintenanceWindowRequest:
    """The monthly schedule's event (the configured window length), or a console input: the window's length (bounded)
    and why. Anything else fails here, before any backup or flag is touched."""
    raw = require_object(raw, MAINTENANCE_WINDOW_EXAMPLE)
    policy = settings.maintenance_window
    common = {
        "runbook": "maintenance-window",
        "cluster_name": settings.cluster_name,
        "agents": tuple(settings.services),
        "monitor_minutes": policy.monitor_minutes,
        "started_at": now.isoformat(),
    }
    if scheduled(raw) is not None:
        return MaintenanceWindowRequest(
            trigger="schedule",
            dry_run=settings.guard.dry_run,
            # EventBridge may deliver a schedule's event twice (at-least-once): one window per event.
            idempotency_key=f"schedule:{raw.get('id') or execution_name}#maintenance-window",
            reason=f"monthly schedule {raw.get('time', '')}",
            event_id=raw.get("id"),
            duration_minutes=policy.duration_minutes,
            **common,
        )
    try:
        console = _ConsoleMaintenanceWindow.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(validation_message(error, MAINTENANCE_WINDOW_EXAMPLE)) from None
    problem = duration_problem(console.durationMinutes, policy.monitor_minutes)
    if problem:
        raise InvalidInput(f"{problem}. Expected {MAINTENANCE_WINDOW_EXAMPLE}.")
    return MaintenanceWindowRequest(
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#maintenance-window",
        reason=console.reason,
        duration_minutes=console.durationMinutes,
        **common,
    )


BACKUP_HISTORY_DAYS = 30
"""AWS Backup lists the jobs of the last 30 days: an older day cannot be verified."""
BACKUP_VERIFICATION_EXAMPLE = '{"date": "2026-11-27"} or {"date": "today"}'
DR_TEST_EXAMPLE = '{"reason": "quarterly DR drill"} (optionally with "dryRun": true)'


class BackupVerificationRequest(Request):
    day: str
    """The UTC day whose backup is verified (YYYY-MM-DD): prefix YYYY/MM/DD/ of the backup bucket."""
    as_of: str
    """ISO instant the check looks back from: the schedule's time, or now (the end of an earlier day)."""


class _ConsoleBackupVerification(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    date: str = Field(min_length=1, description='"today" or a UTC day YYYY-MM-DD')


def normalize_backup_verification(
    raw: Any, settings: Settings, execution_name: str, now: datetime
) -> BackupVerificationRequest:
    """The daily schedule's event (verifies the day it fired), or a console input naming the day."""
    raw = require_object(raw, BACKUP_VERIFICATION_EXAMPLE)
    fired = scheduled(raw)
    if fired is not None:
        day, as_of = fired.date(), fired
        trigger, reason = "schedule", f"daily schedule {raw.get('time', '')}"
        key = f"schedule:{raw.get('id') or execution_name}#backup-verification"
    else:
        try:
            console = _ConsoleBackupVerification.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(validation_message(error, BACKUP_VERIFICATION_EXAMPLE)) from None
        day = _backup_day(console.date, now)
        as_of = min(now, datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1))
        trigger, reason = "console", f"started from the console for {day.isoformat()}"
        key = f"console:{execution_name}#backup-verification"
    return BackupVerificationRequest(
        runbook="backup-verification",
        trigger=trigger,
        dry_run=False,
        idempotency_key=key,
        reason=reason,
        event_id=raw.get("id") if fired else None,
        day=day.isoformat(),
        as_of=as_of.isoformat(),
    )


def _backup_day(text: str, now: datetime) -> date:
    if text == "today":
        return now.date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f'date {text!r} is not a day (YYYY-MM-DD) nor "today". Expected {BACKUP_VERIFICATION_EXAMPLE}.'
        ) from None
    if day > now.date():
        raise InvalidInput(
            f"date {text} is in the future (today is {now.date()} UTC). Expected {BACKUP_VERIFICATION_EXAMPLE}."
        )
    if day < now.date() - timedelta(days=BACKUP_HISTORY_DAYS):
        raise InvalidInput(
            f"date {text} is more than {BACKUP_HISTORY_DAYS} days ago: AWS Backup keeps {BACKUP_HISTORY_DAYS} days of "
            f"job history. Expected {BACKUP_VERIFICATION_EXAMPLE}."
        )
    return day


class DrTestRequest(Request):
    started_at: str
    """ISO instant the drill was started (its RPO is measured at this instant)."""


class _ConsoleDrTest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    dryRun: bool = False  # noqa: N815 - the documented console key


def normalize_dr_test(raw: Any, settings: Settings, execution_name: str, now: datetime) -> DrTestRequest:
    """The quarterly schedule's event, or a console input saying why (and maybe dryRun)."""
    raw = require_object(raw, DR_TEST_EXAMPLE)
    fired = scheduled(raw)
    if fired is not None:
        return DrTestRequest(
            runbook="dr-test",
            trigger="schedule",
            dry_run=settings.guard.dry_run,
            # EventBridge may deliver a schedule's event twice (at-least-once): one drill per event.
            idempotency_key=f"schedule:{raw.get('id') or execution_name}#dr-test",
            reason=f"quarterly schedule {raw.get('time', '')}",
            event_id=raw.get("id"),
            started_at=now.isoformat(),
        )
    try:
        console = _ConsoleDrTest.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(validation_message(error, DR_TEST_EXAMPLE)) from None
    return DrTestRequest(
        runbook="dr-test",
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#dr-test",
        reason=console.reason,
        started_at=now.isoformat(),
    )
