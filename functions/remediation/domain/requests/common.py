"""What every request shares: the base models, the checks of an alarm event, resolving an agent's name, the
console input that names one service.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediation.errors import InvalidInput
from remediation.settings import Settings

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# Sanity bound of any count typed by hand; the configured floor and cap are the guard's to enforce.
SANE_MAX_DESIRED_COUNT = 100
SCHEDULED_EVENT = "Scheduled Event"


class Request(BaseModel):
    """What every runbook step receives about why it runs."""

    model_config = ConfigDict(frozen=True)

    runbook: str
    trigger: Literal["alarm", "schedule", "console", "finding"]
    dry_run: bool
    idempotency_key: str
    reason: str
    alarm_name: str | None = None
    alarm_arn: str | None = None
    alarm_state_at: str | None = None
    event_id: str | None = None
    """EventBridge event id of the triggering event (audit)."""


class ServiceRequest(Request):
    agent: str
    service_name: str
    cluster_name: str


class ConsoleRestart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(min_length=3, max_length=500)


def require_object(raw: Any, example: str) -> dict:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(f"The input is empty or not a JSON object ({raw!r}). Start this runbook with {example}.")
    return raw


def validation_message(error: ValidationError, example: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'input'}: {issue['msg']}" for issue in error.errors()
    )
    return f"Invalid input: {problems}. Expected {example}."


def resolve_agent(name: str, settings: Settings) -> str:
    """Accept an agent name or its ECS service name; never a pattern, never 'everything'."""
    if name in settings.services:
        return name
    agent = settings.agent_for_service(name)
    if agent:
        return agent
    raise InvalidInput(
        f"Unknown service {name!r}. Configured agents in {settings.environment}: {', '.join(settings.services)}."
    )


def alarm_service(detail: dict, settings: Settings) -> tuple[str, str]:
    """The ECS cluster and service named in the alarm's metric dimensions."""
    for metric in detail.get("configuration", {}).get("metrics", []):
        dimensions = metric.get("metricStat", {}).get("metric", {}).get("dimensions", {})
        if "ServiceName" in dimensions:
            return dimensions.get("ClusterName", ""), dimensions["ServiceName"]
    raise InvalidInput(f"Alarm {detail.get('alarmName')!r} has no ServiceName dimension; it is not an agent alarm.")


def check_alarm_event(raw: dict, account_id: str, region: str) -> dict:
    if raw.get("source") != "aws.cloudwatch":
        raise InvalidInput(f"Event source {raw.get('source')!r} is not aws.cloudwatch.")
    if raw.get("account") != account_id or raw.get("region") != region:
        raise InvalidInput(
            f"The alarm event comes from account {raw.get('account')} in {raw.get('region')}; this automation "
            f"acts only on account {account_id} in {region}."
        )
    detail = raw.get("detail")
    if not isinstance(detail, dict) or not detail.get("alarmName") or not isinstance(detail.get("state"), dict):
        raise InvalidInput("The alarm event has no detail.alarmName or detail.state.")
    if detail["state"].get("value") != "ALARM":
        raise InvalidInput(
            f"Alarm {detail['alarmName']} is in state {detail['state'].get('value')}, not ALARM: nothing to remediate."
        )
    return detail


def console_service_request(
    raw: Any,
    model: type[BaseModel],
    example: str,
    runbook: str,
    action: str,
    settings: Settings,
    execution_name: str,
    request_type: type[ServiceRequest] = ServiceRequest,
    **extra: Any,
) -> ServiceRequest:
    """The console inputs of the hand-started runbooks: validate, resolve the agent, one request."""
    raw = require_object(raw, example)
    try:
        console = model.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(validation_message(error, example)) from None
    agent = resolve_agent(console.service, settings)
    return request_type(
        runbook=runbook,
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#{action}",
        reason=console.reason,
        agent=agent,
        service_name=settings.services[agent],
        cluster_name=settings.cluster_name,
        **{name: getattr(console, field) for name, field in extra.items()},
    )


def scheduled(raw: dict) -> datetime | None:
    """The time of an EventBridge Scheduled Event, None when the input is not one."""
    if raw.get("detail-type") != SCHEDULED_EVENT or raw.get("source") != "aws.events":
        return None
    try:
        return datetime.fromisoformat(str(raw.get("time", "")).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"The scheduled event has no valid time ({raw.get('time')!r}).") from None
