"""Requests of the reviews (read only): daily-health-check, weekly-performance-review, security-patch-review,
access-review, database-review, cache-review.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from remediation.domain.requests.common import (
    ALARM_STATE_CHANGE,
    SCHEDULED_EVENT,
    Request,
    check_alarm_event,
    require_object,
    resolve_agent,
    scheduled,
    validation_message,
)
from remediation.errors import InvalidInput
from remediation.settings import Settings


class HealthCheckRequest(Request):
    agents: tuple[str, ...]


class _ConsoleHealthCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    services: Literal["all"] | list[str] = Field(description='"all" or a list of agent names')


def normalize_health_check(raw: Any, settings: Settings, execution_name: str) -> HealthCheckRequest:
    """The daily schedule's event, or a console input naming the agents (or "all") to check."""
    example = '{"services": "all"} or {"services": ["supervisor", "threat-hunter"]}'
    raw = require_object(raw, example)
    if raw.get("detail-type") == SCHEDULED_EVENT and raw.get("source") == "aws.events":
        agents, trigger, reason = tuple(settings.services), "schedule", f"daily schedule {raw.get('time', '')}"
    else:
        try:
            console = _ConsoleHealthCheck.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(validation_message(error, example)) from None
        if console.services == "all":
            agents = tuple(settings.services)
        elif not console.services:
            raise InvalidInput(f'"services" is an empty list; name agents or use "all". Expected {example}.')
        else:
            agents = tuple(dict.fromkeys(resolve_agent(name, settings) for name in console.services))
        trigger, reason = "console", "started from the console"
    return HealthCheckRequest(
        runbook="daily-health-check",
        trigger=trigger,
        dry_run=False,
        idempotency_key=f"{trigger}:{execution_name}",
        reason=reason,
        agents=agents,
    )


class WeeklyReviewRequest(Request):
    agents: tuple[str, ...]
    days: int
    """The review window, 1-28 days (configured: weeklyPerformanceReview.days)."""


MAX_REVIEW_DAYS = 28
"""A review window a single GetMetricData call reads at an hourly period (and the report stays readable)."""


class _ConsoleWeeklyReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    services: Literal["all"] | list[str] = Field(description='"all" or a list of agent names')
    days: int | None = Field(default=None, ge=1, le=MAX_REVIEW_DAYS)


def normalize_weekly_review(raw: Any, settings: Settings, execution_name: str) -> WeeklyReviewRequest:
    """The weekly schedule's event, or a console input naming the agents (or "all") and optionally the days."""
    example = '{"services": "all"} or {"services": ["supervisor", "threat-hunter"], "days": 14}'
    raw = require_object(raw, example)
    days = settings.weekly_review.days
    if raw.get("detail-type") == SCHEDULED_EVENT and raw.get("source") == "aws.events":
        agents, trigger, reason = tuple(settings.services), "schedule", f"weekly schedule {raw.get('time', '')}"
    else:
        try:
            console = _ConsoleWeeklyReview.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(validation_message(error, example)) from None
        if console.services == "all":
            agents = tuple(settings.services)
        elif not console.services:
            raise InvalidInput(f'"services" is an empty list; name agents or use "all". Expected {example}.')
        else:
            agents = tuple(dict.fromkeys(resolve_agent(name, settings) for name in console.services))
        days = console.days or days
        trigger, reason = "console", "started from the console"
    return WeeklyReviewRequest(
        runbook="weekly-performance-review",
        trigger=trigger,
        dry_run=False,
        idempotency_key=f"{trigger}:{execution_name}",
        reason=reason,
        agents=agents,
        days=days,
    )


SECURITY_PATCH_REVIEW_EXAMPLE = '{"services": "all"} or {"services": ["supervisor", "threat-hunter"]}'
ACCESS_REVIEW_EXAMPLE = '{"reason": "quarterly access review"} (optionally with "unusedAfterDays": 30)'


MAX_UNUSED_AFTER_DAYS = 400
"""IAM's last-accessed information covers the trailing 400 days: a longer window cannot be judged."""


class PatchReviewRequest(Request):
    agents: tuple[str, ...]


class AccessReviewRequest(Request):
    unused_after_days: int
    """A permission or role not used within this many days is reported as unused (accessReview.unusedAfterDays)."""
    as_of: str
    """ISO instant the review judges from (the schedule's time, or when it was started by hand)."""


class _ConsoleAccessReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    unusedAfterDays: int | None = Field(default=None, ge=1, le=MAX_UNUSED_AFTER_DAYS)  # noqa: N815 - console key


def normalize_security_patch_review(raw: Any, settings: Settings, execution_name: str) -> PatchReviewRequest:
    """The monthly schedule's event (every agent), or a console input naming the agents (or "all")."""
    raw = require_object(raw, SECURITY_PATCH_REVIEW_EXAMPLE)
    fired = scheduled(raw)
    if fired is not None:
        agents, trigger, reason = tuple(settings.services), "schedule", f"monthly schedule {raw.get('time', '')}"
        key = f"schedule:{raw.get('id') or execution_name}#security-patch-review"
    else:
        try:
            console = _ConsoleHealthCheck.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(validation_message(error, SECURITY_PATCH_REVIEW_EXAMPLE)) from None
        if console.services == "all":
            agents = tuple(settings.services)
        elif not console.services:
            raise InvalidInput(
                f'"services" is an empty list; name agents or use "all". Expected {SECURITY_PATCH_REVIEW_EXAMPLE}.'
            )
        else:
            agents = tuple(dict.fromkeys(resolve_agent(name, settings) for name in console.services))
        trigger, reason, key = "console", "started from the console", f"console:{execution_name}#security-patch-review"
    return PatchReviewRequest(
        runbook="security-patch-review",
        trigger=trigger,
        dry_run=False,
        idempotency_key=key,
        reason=reason,
        event_id=raw.get("id") if fired else None,
        agents=agents,
    )


def normalize_access_review(raw: Any, settings: Settings, execution_name: str, now: datetime) -> AccessReviewRequest:
    """The quarterly schedule's event, or a console input saying why (and optionally another unused window)."""
    raw = require_object(raw, ACCESS_REVIEW_EXAMPLE)
    fired = scheduled(raw)
    days = settings.access_review.unused_after_days
    if fired is not None:
        trigger, reason, as_of = "schedule", f"quarterly schedule {raw.get('time', '')}", fired
        key = f"schedule:{raw.get('id') or execution_name}#access-review"
    else:
        try:
            console = _ConsoleAccessReview.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(validation_message(error, ACCESS_REVIEW_EXAMPLE)) from None
        trigger, reason, as_of = "console", console.reason, now
        days = console.unusedAfterDays or days
        key = f"console:{execution_name}#access-review"
    return AccessReviewRequest(
        runbook="access-review",
        trigger=trigger,
        dry_run=False,
        idempotency_key=key,
        reason=reason,
        event_id=raw.get("id") if fired else None,
        unused_after_days=days,
        as_of=as_of.isoformat(),
    )


MAX_REVIEW_HOURS = 168
"""A week of slow-query log and metrics at most in one review."""
REVIEW_EXAMPLE = '{"reason": "agents slow since the release", "hours": 24}'


class ReviewRequest(Request):
    hours: int
    """The window reviewed, ending at `as_of`."""
    as_of: str
    """ISO instant the review looks back from (the run's start): every step reads the same window."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def window_minutes(self) -> int:
        """The window in minutes, for the shared log search step."""
        return self.hours * 60


class _ConsoleReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    hours: int | None = Field(default=None, ge=1, le=MAX_REVIEW_HOURS)


def normalize_review(
    raw: Any,
    runbook: str,
    alarm_name: str,
    default_hours: int,
    account_id: str,
    region: str,
    execution_name: str,
    now: datetime,
) -> ReviewRequest:
    """database-review / cache-review: the runbook's own alarm going into ALARM (reviews the configured hours), or a
    console input saying why, optionally with the hours to review. Read only: there is no dry run."""
    raw = require_object(raw, REVIEW_EXAMPLE)
    if raw.get("detail-type") == ALARM_STATE_CHANGE or raw.get("source") == "aws.cloudwatch":
        detail = check_alarm_event(raw, account_id, region)
        if detail["alarmName"] != alarm_name:
            raise InvalidInput(
                f"Alarm {detail['alarmName']!r} is not the {runbook} alarm {alarm_name!r}; start this runbook by hand "
                f"with {REVIEW_EXAMPLE}."
            )
        alarm_arn = (raw.get("resources") or [f"alarm:{alarm_name}"])[0]
        state_at = detail["state"].get("timestamp", raw.get("time", ""))
        return ReviewRequest(
            runbook=runbook,
            trigger="alarm",
            dry_run=False,
            idempotency_key=f"{alarm_arn}@{state_at}#{runbook}",
            reason=detail["state"].get("reason", "alarm"),
            alarm_name=alarm_name,
            alarm_arn=alarm_arn,
            alarm_state_at=state_at,
            event_id=raw.get("id"),
            hours=default_hours,
            as_of=now.isoformat(),
        )
    try:
        console = _ConsoleReview.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(validation_message(error, REVIEW_EXAMPLE)) from None
    return ReviewRequest(
        runbook=runbook,
        trigger="console",
        dry_run=False,
        idempotency_key=f"console:{execution_name}#{runbook}",
        reason=console.reason,
        hours=console.hours or default_hours,
        as_of=now.isoformat(),
    )
