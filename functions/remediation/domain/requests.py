"""Normalize: an alarm event, a schedule or a console input becomes one validated request.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from remediation.domain.maintenance_window import duration_problem
from remediation.domain.rollback import requested_revision
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


class AutoScalingRange(BaseModel):
    """The scalable target's bounds for the seed's step-scaling policy (scale-agent's optional `autoScaling`)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    minCapacity: int = Field(ge=0, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815 - the documented console key
    maxCapacity: int = Field(ge=1, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815


class ScaleRequest(ServiceRequest):
    desired_count: int
    auto_scaling: AutoScalingRange | None = None


class HealthCheckRequest(Request):
    agents: tuple[str, ...]


class OutageRequest(Request):
    """complete-outage: about the whole fleet of agents, never one service."""

    cluster_name: str


class _ConsoleOutage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    dryRun: bool = False  # noqa: N815 - the documented console key


class RollbackRequest(ServiceRequest):
    task_definition: str | None = None
    """The revision asked for (`family:revision`), None for "the previous ACTIVE revision"."""
    rollback_from: str | None = None
    """The revision the service ran when the request was validated (set by logic/rollback.py)."""
    rollback_to: str | None = None
    """The validated target revision (set by logic/rollback.py)."""


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
    autoScaling: AutoScalingRange | None = None  # noqa: N815


class _ConsoleRestart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(min_length=3, max_length=500)


class _ConsoleRollback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    taskDefinition: str | None = Field(default=None, min_length=1, max_length=2048)  # noqa: N815 - console key
    dryRun: bool = False  # noqa: N815
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
    raw = _require_object(raw, example)
    days = settings.weekly_review.days
    if raw.get("detail-type") == SCHEDULED_EVENT and raw.get("source") == "aws.events":
        agents, trigger, reason = tuple(settings.services), "schedule", f"weekly schedule {raw.get('time', '')}"
    else:
        try:
            console = _ConsoleWeeklyReview.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(_validation_message(error, example)) from None
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


# -- security-patch-review and access-review (scheduled, or started by hand; read only) ---------------------------
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
    raw = _require_object(raw, SECURITY_PATCH_REVIEW_EXAMPLE)
    fired = _scheduled(raw)
    if fired is not None:
        agents, trigger, reason = tuple(settings.services), "schedule", f"monthly schedule {raw.get('time', '')}"
        key = f"schedule:{raw.get('id') or execution_name}#security-patch-review"
    else:
        try:
            console = _ConsoleHealthCheck.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(_validation_message(error, SECURITY_PATCH_REVIEW_EXAMPLE)) from None
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
    raw = _require_object(raw, ACCESS_REVIEW_EXAMPLE)
    fired = _scheduled(raw)
    days = settings.access_review.unused_after_days
    if fired is not None:
        trigger, reason, as_of = "schedule", f"quarterly schedule {raw.get('time', '')}", fired
        key = f"schedule:{raw.get('id') or execution_name}#access-review"
    else:
        try:
            console = _ConsoleAccessReview.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(_validation_message(error, ACCESS_REVIEW_EXAMPLE)) from None
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


def normalize_outage(
    raw: Any, action: str, settings: Settings, account_id: str, region: str, execution_name: str
) -> OutageRequest:
    """The complete-outage composite alarm going into ALARM, or a console input saying why (and maybe dryRun)."""
    example = '{"reason": "every agent is down after the network change"} (optionally with "dryRun": true)'
    raw = _require_object(raw, example)
    if raw.get("detail-type") == ALARM_STATE_CHANGE:
        detail = _check_alarm_event(raw, account_id, region)
        if detail["alarmName"] != settings.availability.outage_alarm:
            raise InvalidInput(
                f"Alarm {detail['alarmName']!r} is not the complete-outage alarm "
                f"{settings.availability.outage_alarm!r}; start this runbook by hand with {example}."
            )
        alarm_arn = (raw.get("resources") or [f"alarm:{detail['alarmName']}"])[0]
        state_at = detail["state"].get("timestamp", raw.get("time", ""))
        return OutageRequest(
            runbook="complete-outage",
            trigger="alarm",
            dry_run=settings.guard.dry_run,
            idempotency_key=f"{alarm_arn}@{state_at}#{action}",
            reason=detail["state"].get("reason", "alarm"),
            alarm_name=detail["alarmName"],
            alarm_arn=alarm_arn,
            alarm_state_at=state_at,
            event_id=raw.get("id"),
            cluster_name=settings.cluster_name,
        )
    try:
        console = _ConsoleOutage.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(_validation_message(error, example)) from None
    return OutageRequest(
        runbook="complete-outage",
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#{action}",
        reason=console.reason,
        cluster_name=settings.cluster_name,
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
    example = (
        '{"service": "supervisor", "desiredCount": 3, "reason": "expected load"} (optionally with '
        '"autoScaling": {"minCapacity": 2, "maxCapacity": 6})'
    )
    request = _console_service_request(
        raw,
        _ConsoleScale,
        example,
        "scale-agent",
        "scale",
        settings,
        execution_name,
        ScaleRequest,
        desired_count="desiredCount",
        auto_scaling="autoScaling",
    )
    bounds = request.auto_scaling
    if bounds and not bounds.minCapacity <= request.desired_count <= bounds.maxCapacity:
        raise InvalidInput(
            f"autoScaling: desiredCount {request.desired_count} must lie within minCapacity {bounds.minCapacity} "
            f"and maxCapacity {bounds.maxCapacity}. Expected {example}."
        )
    return request


def normalize_memory_leak(
    raw: Any, settings: Settings, account_id: str, region: str, execution_name: str
) -> ServiceRequest:
    """The agent's memory alarm going into ALARM, or a console input: one service and why (it may restart it)."""
    if isinstance(raw, dict) and raw.get("detail-type") == ALARM_STATE_CHANGE:
        return normalize_service_alarm(
            raw, "memory-leak", "memory-restart", settings, account_id, region, execution_name
        )
    example = '{"service": "supervisor", "reason": "memory keeps rising"} (optionally with "dryRun": true)'
    return _console_service_request(
        raw, _ConsoleRestart, example, "memory-leak", "memory-restart", settings, execution_name
    )


def normalize_restart(raw: Any, settings: Settings, execution_name: str) -> ServiceRequest:
    """Console input of restart-agent: one service and why."""
    example = '{"service": "supervisor", "reason": "agent unresponsive"}'
    return _console_service_request(raw, _ConsoleRestart, example, "restart-agent", "restart", settings, execution_name)


SERVICE_UNAVAILABLE_EXAMPLE = (
    '{"service": "supervisor", "reason": "health checks failing"} (optionally with "dryRun": true)'
)


def normalize_service_unavailable(
    raw: Any, settings: Settings, account_id: str, region: str, execution_name: str
) -> ServiceRequest:
    """The agent's unavailable alarm (running < desired) going into ALARM, or a console input: one service and why."""
    runbook, action = "service-unavailable", "unavailable-recover"
    if isinstance(raw, dict) and raw.get("detail-type") == ALARM_STATE_CHANGE:
        request = normalize_service_alarm(raw, runbook, action, settings, account_id, region, execution_name)
        expected = settings.unavailable_alarms.get(request.agent)
        if request.alarm_name != expected:
            raise InvalidInput(
                f"Alarm {request.alarm_name!r} is not {request.agent}'s unavailable alarm {expected!r}; start this "
                f"runbook by hand with {SERVICE_UNAVAILABLE_EXAMPLE}."
            )
        return request
    return _console_service_request(
        raw, _ConsoleRestart, SERVICE_UNAVAILABLE_EXAMPLE, runbook, action, settings, execution_name
    )


class ConfigUpdateRequest(ServiceRequest):
    config: dict[str, Any]
    """The agent's whole new configuration; written as `config_value(config)`."""


class _ConsoleConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    config: dict[str, Any] = Field(min_length=1, description="The agent's whole new configuration, a JSON object")
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(min_length=3, max_length=500)


CONFIG_UPDATE_EXAMPLE = (
    '{"service": "supervisor", "config": {"logLevel": "DEBUG", "maxParallelHunts": 8}, "reason": "enable debug"}'
)


def config_value(config: dict[str, Any]) -> str:
    """The exact SSM parameter value written for a configuration (JSON, keys in the order given)."""
    return json.dumps(config, ensure_ascii=False)


def normalize_config_update(raw: Any, settings: Settings, execution_name: str) -> ConfigUpdateRequest:
    """Console input of config-update: one service, its whole new configuration (a JSON object of bounded size)
    and why."""
    request = _console_service_request(
        raw,
        _ConsoleConfigUpdate,
        CONFIG_UPDATE_EXAMPLE,
        "config-update",
        "config-update",
        settings,
        execution_name,
        ConfigUpdateRequest,
        config="config",
    )
    if any(not key.strip() for key in request.config):
        raise InvalidInput(f"config: keys must be non-empty names. Expected {CONFIG_UPDATE_EXAMPLE}.")
    size, limit = len(config_value(request.config).encode()), settings.config_update.max_config_bytes
    if size > limit:
        raise InvalidInput(
            f"config: {size} bytes as JSON, at most {limit} are accepted (the agent's SSM parameter is a standard "
            f"one, 4 KB at most); shorten the values or split the change. Expected {CONFIG_UPDATE_EXAMPLE}."
        )
    return request


ROLLBACK_EXAMPLE = (
    '{"service": "supervisor", "reason": "bad release 2.3"} or {"service": "supervisor", '
    '"taskDefinition": "acso-production-supervisor:7", "reason": "bad release 2.3"}'
)


def normalize_rollback(
    raw: Any, settings: Settings, execution_name: str, account_id: str, region: str
) -> RollbackRequest:
    """Console input of rollback, as far as it can be checked without ECS: one service, why, and optionally a
    well-formed revision of this account and region (logic/rollback.py then checks it against ECS)."""
    request = _console_service_request(
        raw,
        _ConsoleRollback,
        ROLLBACK_EXAMPLE,
        "rollback",
        "rollback",
        settings,
        execution_name,
        RollbackRequest,
        task_definition="taskDefinition",
    )
    if request.task_definition is None:
        return request
    revision = requested_revision(request.task_definition, account_id, region, ROLLBACK_EXAMPLE)
    return request.model_copy(update={"task_definition": str(revision)})


# -- data-breach ------------------------------------------------------------------------------------------------
GUARDDUTY_FINDING = "GuardDuty Finding"
FINDING_MIN_SEVERITY = 7.0
"""GuardDuty's High (7.0-8.9) and Critical (9.0-10.0) findings; the stack's EventBridge rule filters the same."""
DATA_BREACH_EXAMPLE = (
    '{"service": "financial-intelligence", "reason": "exfiltration suspected, ticket SEC-123"} '
    '(add "restore": true to bring an isolated service back, "dryRun": true to rehearse)'
)


class DataBreachRequest(ServiceRequest):
    restore: bool = False
    """False: isolate the service (desired 0) and preserve evidence; True: set the recorded prior count back."""
    finding: dict[str, Any] | None = None
    """The GuardDuty finding that started the run (id, type, severity, title, task), None when started by hand."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def action(self) -> str:
        """The guard's action name (cooldown, idempotency): isolate or restore."""
        return "restore" if self.restore else "isolate"


class _ConsoleDataBreach(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    reason: str = Field(min_length=3, max_length=500)
    dryRun: bool = False  # noqa: N815 - the documented console key
    restore: bool = False


def normalize_data_breach(
    raw: Any, settings: Settings, execution_name: str, account_id: str, region: str
) -> DataBreachRequest:
    """Console input (isolate, or restore, one agent and why), or a High/Critical GuardDuty finding about a task of
    one of the agents' services in this account, region and cluster. Anything else is rejected before any write."""
    raw = _require_object(raw, DATA_BREACH_EXAMPLE)
    if raw.get("detail-type") == GUARDDUTY_FINDING or raw.get("source") == "aws.guardduty":
        return _guardduty_finding(raw, settings, account_id, region)
    action = "restore" if raw.get("restore") is True else "isolate"
    return _console_service_request(
        raw,
        _ConsoleDataBreach,
        DATA_BREACH_EXAMPLE,
        "data-breach",
        action,
        settings,
        execution_name,
        DataBreachRequest,
        restore="restore",
    )


def _guardduty_finding(raw: dict, settings: Settings, account_id: str, region: str) -> DataBreachRequest:
    """GuardDuty (ECS Runtime Monitoring) finding event: the task's group `service:<name>` names the service."""
    if raw.get("source") != "aws.guardduty" or raw.get("detail-type") != GUARDDUTY_FINDING:
        raise InvalidInput(
            f"Event {raw.get('source')!r} / {raw.get('detail-type')!r} is not a GuardDuty finding. "
            f"Start this runbook by hand with {DATA_BREACH_EXAMPLE}."
        )
    detail = raw.get("detail")
    if not isinstance(detail, dict) or not detail.get("id"):
        raise InvalidInput("The GuardDuty event has no detail.id: it is not a finding.")
    finding_id = str(detail["id"])
    if {raw.get("account"), detail.get("accountId")} != {account_id} or {raw.get("region"), detail.get("region")} != {
        region
    }:
        raise InvalidInput(
            f"Finding {finding_id} is about account {detail.get('accountId')} in {detail.get('region')}; this "
            f"automation acts only on account {account_id} in {region}."
        )
    severity = detail.get("severity")
    if isinstance(severity, bool) or not isinstance(severity, int | float) or severity < FINDING_MIN_SEVERITY:
        raise InvalidInput(
            f"Finding {finding_id} has severity {severity!r}; only High and Critical findings (>= "
            f"{FINDING_MIN_SEVERITY:g}) start an isolation."
        )
    resource = detail.get("resource") if isinstance(detail.get("resource"), dict) else {}
    cluster = resource.get("ecsClusterDetails") if isinstance(resource.get("ecsClusterDetails"), dict) else {}
    cluster_arn = f"arn:aws:ecs:{region}:{account_id}:cluster/{settings.cluster_name}"
    if (
        resource.get("resourceType") != "ECSCluster"
        or cluster.get("name") != settings.cluster_name
        or cluster.get("arn", cluster_arn) != cluster_arn
    ):
        raise InvalidInput(
            f"Finding {finding_id} is about {resource.get('resourceType')} {cluster.get('arn') or cluster.get('name')}"
            f", not a task of {cluster_arn}: this runbook isolates only the agents' services."
        )
    task = cluster.get("taskDetails") if isinstance(cluster.get("taskDetails"), dict) else {}
    group = str(task.get("group") or "")
    if not group.startswith("service:"):
        raise InvalidInput(
            f"Finding {finding_id} names task group {group!r}, not a service of {settings.cluster_name}; "
            "a task started outside a service is not isolated automatically."
        )
    agent = resolve_agent(group.removeprefix("service:"), settings)
    return DataBreachRequest(
        runbook="data-breach",
        trigger="finding",
        dry_run=settings.guard.dry_run,
        # GuardDuty re-sends a finding each time it is updated: one isolation per finding, whatever its updates.
        idempotency_key=f"guardduty:{finding_id}#isolate",
        reason=f"GuardDuty {detail.get('type', 'finding')} (severity {severity:g}): {detail.get('title', '')}"[:500],
        event_id=raw.get("id"),
        agent=agent,
        service_name=settings.services[agent],
        cluster_name=settings.cluster_name,
        finding={
            "id": finding_id,
            "type": detail.get("type"),
            "severity": severity,
            "title": detail.get("title"),
            "accountId": detail.get("accountId"),
            "region": detail.get("region"),
            "taskArn": task.get("arn"),
            "taskDefinitionArn": task.get("definitionArn"),
            "updatedAt": detail.get("updatedAt"),
        },
    )


# -- maintenance-window (monthly schedule, or started by hand) ---------------------------------------------------
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
    raw = _require_object(raw, MAINTENANCE_WINDOW_EXAMPLE)
    policy = settings.maintenance_window
    common = {
        "runbook": "maintenance-window",
        "cluster_name": settings.cluster_name,
        "agents": tuple(settings.services),
        "monitor_minutes": policy.monitor_minutes,
        "started_at": now.isoformat(),
    }
    if _scheduled(raw) is not None:
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
        raise InvalidInput(_validation_message(error, MAINTENANCE_WINDOW_EXAMPLE)) from None
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


# -- backup-verification and dr-test (scheduled, or started by hand) -------------------------------------------
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


def _scheduled(raw: dict) -> datetime | None:
    """The time of an EventBridge Scheduled Event, None when the input is not one."""
    if raw.get("detail-type") != SCHEDULED_EVENT or raw.get("source") != "aws.events":
        return None
    try:
        return datetime.fromisoformat(str(raw.get("time", "")).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"The scheduled event has no valid time ({raw.get('time')!r}).") from None


def normalize_backup_verification(
    raw: Any, settings: Settings, execution_name: str, now: datetime
) -> BackupVerificationRequest:
    """The daily schedule's event (verifies the day it fired), or a console input naming the day."""
    raw = _require_object(raw, BACKUP_VERIFICATION_EXAMPLE)
    fired = _scheduled(raw)
    if fired is not None:
        day, as_of = fired.date(), fired
        trigger, reason = "schedule", f"daily schedule {raw.get('time', '')}"
        key = f"schedule:{raw.get('id') or execution_name}#backup-verification"
    else:
        try:
            console = _ConsoleBackupVerification.model_validate(raw)
        except ValidationError as error:
            raise InvalidInput(_validation_message(error, BACKUP_VERIFICATION_EXAMPLE)) from None
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
    raw = _require_object(raw, DR_TEST_EXAMPLE)
    fired = _scheduled(raw)
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
        raise InvalidInput(_validation_message(error, DR_TEST_EXAMPLE)) from None
    return DrTestRequest(
        runbook="dr-test",
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#dr-test",
        reason=console.reason,
        started_at=now.isoformat(),
    )


# -- database-review and cache-review (their alarm, or started by hand; read only) -------------------------------
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
    raw = _require_object(raw, REVIEW_EXAMPLE)
    if raw.get("detail-type") == ALARM_STATE_CHANGE or raw.get("source") == "aws.cloudwatch":
        detail = _check_alarm_event(raw, account_id, region)
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
        raise InvalidInput(_validation_message(error, REVIEW_EXAMPLE)) from None
    return ReviewRequest(
        runbook=runbook,
        trigger="console",
        dry_run=False,
        idempotency_key=f"console:{execution_name}#{runbook}",
        reason=console.reason,
        hours=console.hours or default_hours,
        as_of=now.isoformat(),
    )
