"""Requests of the alarm-driven incident runbooks: high-cpu, memory-leak, service-unavailable, complete-outage,
data-breach.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from remediation.domain.requests.common import (
    ALARM_STATE_CHANGE,
    ConsoleRestart,
    Request,
    ServiceRequest,
    alarm_service,
    check_alarm_event,
    console_service_request,
    require_object,
    resolve_agent,
    validation_message,
)
from remediation.errors import InvalidInput
from remediation.settings import Settings


class OutageRequest(Request):
    """complete-outage: about the whole fleet of agents, never one service."""

    cluster_name: str


class _ConsoleOutage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    dryRun: bool = False  # noqa: N815 - the documented console key


class _ConsoleScaleOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1, description="Agent name, e.g. supervisor, or its ECS service name")
    dryRun: bool = False  # noqa: N815 - the documented console key
    reason: str = Field(default="started from the console", max_length=500)


def normalize_service_alarm(
    raw: Any, runbook: str, action: str, settings: Settings, account_id: str, region: str, execution_name: str
) -> ServiceRequest:
    """Alarm State Change event or console input -> a request about one configured service."""
    example = '{"service": "supervisor"} or {"service": "supervisor", "dryRun": true}'
    raw = require_object(raw, example)
    if raw.get("detail-type") == ALARM_STATE_CHANGE:
        detail = check_alarm_event(raw, account_id, region)
        cluster, service_name = alarm_service(detail, settings)
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
    return console_service_request(raw, _ConsoleScaleOut, example, runbook, action, settings, execution_name)


def normalize_outage(
    raw: Any, action: str, settings: Settings, account_id: str, region: str, execution_name: str
) -> OutageRequest:
    """The complete-outage composite alarm going into ALARM, or a console input saying why (and maybe dryRun)."""
    example = '{"reason": "every agent is down after the network change"} (optionally with "dryRun": true)'
    raw = require_object(raw, example)
    if raw.get("detail-type") == ALARM_STATE_CHANGE:
        detail = check_alarm_event(raw, account_id, region)
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
        raise InvalidInput(validation_message(error, example)) from None
    return OutageRequest(
        runbook="complete-outage",
        trigger="console",
        dry_run=console.dryRun or settings.guard.dry_run,
        idempotency_key=f"console:{execution_name}#{action}",
        reason=console.reason,
        cluster_name=settings.cluster_name,
    )


def normalize_memory_leak(
    raw: Any, settings: Settings, account_id: str, region: str, execution_name: str
) -> ServiceRequest:
    """The agent's memory alarm going into ALARM, or a console input: one service and why (it may restart it)."""
    if isinstance(raw, dict) and raw.get("detail-type") == ALARM_STATE_CHANGE:
        return normalize_service_alarm(
            raw, "memory-leak", "memory-restart", settings, account_id, region, execution_name
        )
    example = '{"service": "supervisor", "reason": "memory keeps rising"} (optionally with "dryRun": true)'
    return console_service_request(
        raw, ConsoleRestart, example, "memory-leak", "memory-restart", settings, execution_name
    )


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
    return console_service_request(
        raw, ConsoleRestart, SERVICE_UNAVAILABLE_EXAMPLE, runbook, action, settings, execution_name
    )


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
    raw = require_object(raw, DATA_BREACH_EXAMPLE)
    if raw.get("detail-type") == GUARDDUTY_FINDING or raw.get("source") == "aws.guardduty":
        return _guardduty_finding(raw, settings, account_id, region)
    action = "restore" if raw.get("restore") is True else "isolate"
    return console_service_request(
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
