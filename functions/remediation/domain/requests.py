"""Normalize: an alarm event, a schedule or a console input becomes one validated request.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

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
    trigger: Literal["alarm", "schedule", "console"]
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


class ScaleRequest(ServiceRequest):
    desired_count: int


class HealthCheckRequest(Request):
    agents: tuple[str, ...]


class _ConsoleScaleOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1, description="Agent name, e.g. supervisor, or its ECS service name")
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(default="started from the console", max_length=500)


class _ConsoleScale(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    desiredCount: int = Field(ge=0, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815 - the documented console key
    dryRun: bool = False  # noqa: N815
    reason: str = Field(min_length=3, max_length=500)


class _ConsoleRestart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(min_length=3, max_length=500)


class _ConsoleHealthCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    services: Literal["all"] | list[str] = Field(description='"all" or a list of agent names')


def _require_object(raw: Any, example: str) -> dict:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(f"The input is empty or not a JSON object ({raw!r}). Start this runbook with {example}.")
    return raw


def _validation_message(error: ValidationError, example: str) -> str:
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


def _alarm_service(detail: dict, settings: Settings) -> tuple[str, str]:
    """The ECS cluster and service named in the alarm's metric dimensions."""
    for metric in detail.get("configuration", {}).get("metrics", []):
        dimensions = metric.get("metricStat", {}).get("metric", {}).get("dimensions", {})
        if "ServiceName" in dimensions:
            return dimensions.get("ClusterName", ""), dimensions["ServiceName"]
    raise InvalidInput(f"Alarm {detail.get('alarmName')!r} has no ServiceName dimension; it is not an agent alarm.")


def _check_alarm_event(raw: dict, account_id: str, region: str) -> dict:
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


def normalize_service_alarm(
    raw: Any, runbook: str, action: str, settings: Settings, account_id: str, region: str, execution_name: str
) -> ServiceRequest:
    """Alarm State Change event or console input -> a request about one configured service."""
    example = '{"service": "supervisor"} or {"service": "supervisor", "dryRun": true}'
    raw = _require_object(raw, example)
    if raw.get("detail-type") == ALARM_STATE_CHANGE:
        detail = _check_alarm_event(raw, account_id, region)
        cluster, service_name = _alarm_service(detail, settings)
        if cluster != settings.cluster_name:
            raise InvalidInput(f"Alarm names cluster {cluster!r}; this automation manages {settings.cluster_name}.")
        agent = resolve_agent(service_name, settings)
        alarm_arn = (raw.get("resources") or [f"alarm:{detail['alarmName']}"])[0]
        state_at = detail["state"].get("timestamp", raw.get("time", ""))
        return ServiceRequest(
            runbook=runbook,
            trigger="alarm",
            dry_run=settings.guard.dry_run,
            idempotency_key=f"{alarm_arn}@{state_at}#{action}",
            reason=detail["state"].get("reason", "alarm"),
            alarm_name=detail["alarmName"],
            alarm_arn=alarm_arn,
            alarm_state_at=state_at,
            event_id=raw.get("id"),
            agent=agent,
            service_name=settings.services[agent],
            cluster_name=settings.cluster_name,
        )
    return _console_service_request(raw, _ConsoleScaleOut, example, runbook, action, settings, execution_name)


def normalize_health_check(raw: Any, settings: Settings, execution_name: str) -> HealthCheckRequest:
    """The daily schedule's event, or a console input naming the agents (or "all") to check."""
    example = '{"services": "all"} or {"services": ["supervisor", "threat-hunter"]}'
    raw = _require_object(raw, example)
    if raw.get("detail-type") == SCHEDULED_EVENT and raw.get("source") == "aws.events":
        agents, trigger, reason = tuple(settings.services), "schedule", f"daily schedule {raw.get('time', '')}"
    else:
        try:
            console = _ConsoleHealthCheck.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(_validation_message(error, example)) from None
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


def _console_service_request(
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
    raw = _require_object(raw, example)
    try:
        console = model.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(_validation_message(error, example)) from None
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


def normalize_scale(raw: Any, settings: Settings, execution_name: str) -> ScaleRequest:
    """Console input of scale-agent: one service, an absolute desired count, and why."""
    example = '{"service": "supervisor", "desiredCount": 3, "reason": "expected load"}'
    return _console_service_request(
        raw,
        _ConsoleScale,
        example,
        "scale-agent",
        "scale",
        settings,
        execution_name,
        ScaleRequest,
        desired_count="desiredCount",
    )


def normalize_restart(raw: Any, settings: Settings, execution_name: str) -> ServiceRequest:
    """Console input of restart-agent: one service and why."""
    example = '{"service": "supervisor", "reason": "agent unresponsive"}'
    return _console_service_request(raw, _ConsoleRestart, example, "restart-agent", "restart", settings, execution_name)
