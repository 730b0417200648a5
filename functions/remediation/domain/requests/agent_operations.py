"""Requests of the runbooks an operator starts on one agent: restart-agent, scale-agent, rollback, config-update.

Everything here runs before any write. A rejected input raises InvalidInput with a message
written for the person who started the execution from the console.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from remediation.domain.requests.common import (
    SANE_MAX_DESIRED_COUNT,
    ConsoleRestart,
    ServiceRequest,
    console_service_request,
)
from remediation.domain.rollback import requested_revision
from remediation.errors import InvalidInput
from remediation.settings import Settings


class AutoScalingRange(BaseModel):
    """The scalable target's bounds for the seed's step-scaling policy (scale-agent's optional `autoScaling`)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    minCapacity: int = Field(ge=0, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815 - the documented console key
    maxCapacity: int = Field(ge=1, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815


class ScaleRequest(ServiceRequest):
    desired_count: int
    auto_scaling: AutoScalingRange | None = None


class RollbackRequest(ServiceRequest):
    task_definition: str | None = None
    """The revision asked for (`family:revision`), None for "the previous ACTIVE revision"."""
    rollback_from: str | None = None
    """The revision the service ran when the request was validated (set by logic/rollback.py)."""
    rollback_to: str | None = None
    """The validated target revision (set by logic/rollback.py)."""


class _ConsoleScale(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    desiredCount: int = Field(ge=0, le=SANE_MAX_DESIRED_COUNT)  # noqa: N815 - the documented console key
    dryRun: bool = False  # noqa: N815
    reason: str = Field(min_length=3, max_length=500)
    autoScaling: AutoScalingRange | None = None  # noqa: N815


class _ConsoleRollback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1)
    taskDefinition: str | None = Field(default=None, min_length=1, max_length=2048)  # noqa: N815 - console key
    dryRun: bool = False  # noqa: N815
    reason: str = Field(min_length=3, max_length=500)


def normalize_scale(raw: Any, settings: Settings, execution_name: str) -> ScaleRequest:
    """Console input of scale-agent: one service, an absolute desired count, and why."""
    example = (
        '{"service": "supervisor", "desiredCount": 3, "reason": "expected load"} (optionally with '
        '"autoScaling": {"minCapacity": 2, "maxCapacity": 6})'
    )
    request = console_service_request(
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


def normalize_restart(raw: Any, settings: Settings, execution_name: str) -> ServiceRequest:
    """Console input of restart-agent: one service and why."""
    example = '{"service": "supervisor", "reason": "agent unresponsive"}'
    return console_service_request(raw, ConsoleRestart, example, "restart-agent", "restart", settings, execution_name)


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
    request = console_service_request(
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
    request = console_service_request(
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
