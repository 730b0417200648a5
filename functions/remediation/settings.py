"""Runtime settings of every handler, parsed once from the ACSO_SETTINGS variable the stack sets."""

from __future__ import annotations

import json
import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class HealthThresholds(_Model):
    cpu_percent: float = Field(alias="cpuPercent")
    memory_percent: float = Field(alias="memoryPercent")
    error_rate_percent: float = Field(alias="errorRatePercent")


class HighCpuPolicy(_Model):
    alarm_threshold_percent: float = Field(alias="alarmThresholdPercent")
    scale_out_step: int = Field(alias="scaleOutStep")
    max_desired_count: int = Field(alias="maxDesiredCount")
    verify_after_seconds: int = Field(alias="verifyAfterSeconds")
    recovery_margin_percent: float = Field(alias="recoveryMarginPercent")


class MaintenanceWindow(_Model):
    weekday: str
    start: str
    end: str
    week_of_month: int | None = Field(alias="weekOfMonth", default=None)


class GuardLimits(_Model):
    dry_run: bool = Field(alias="dryRun")
    lock_seconds: int = Field(alias="lockSeconds")
    cooldown_seconds: int = Field(alias="cooldownSeconds")
    min_desired_count: int = Field(alias="minDesiredCount")
    actions_per_hour: int = Field(alias="actionsPerHour")
    blast_radius_percent: float = Field(alias="blastRadiusPercent")
    breaker_failures: int = Field(alias="breakerFailures")
    breaker_window_seconds: int = Field(alias="breakerWindowSeconds")
    approval_timeout_seconds: int = Field(alias="approvalTimeoutSeconds")
    flags_parameter: str = Field(alias="flagsParameter")
    maintenance_windows: tuple[MaintenanceWindow, ...] = Field(alias="maintenanceWindows")


class EscalationLevel(_Model):
    role: str
    severity: str
    response_minutes: int = Field(alias="responseMinutes")
    topic_arn: str = Field(alias="topicArn")


class ApprovalSettings(_Model):
    """Human approval of destructive actions (logic/approval.py, stacks/approval.py)."""

    function_name: str = Field(alias="functionName")
    """The decide function's explicit name: the CLI command names it, the request step reads its URL."""
    secret_arn: str = Field(alias="secretArn")
    """Secrets Manager secret holding the HMAC key of the approval links."""
    endpoint_url: str | None = Field(alias="endpointUrl", default=None)
    """Fixed base of the links (e.g. a custom domain); absent: the decide function's URL, read at run time."""


class Settings(_Model):
    environment: str
    cluster_name: str = Field(alias="clusterName")
    services: dict[str, str]
    """Agent name -> ECS service name, in the configured order."""
    agents_log_group: str = Field(alias="agentsLogGroup")
    cpu_alarms: dict[str, str] = Field(alias="cpuAlarms")
    """Agent name -> name of its CPU alarm (the blast-radius check counts how many are in ALARM)."""
    health: HealthThresholds
    high_cpu: HighCpuPolicy = Field(alias="highCpu")
    guard: GuardLimits
    state_table: str = Field(alias="stateTable")
    reports_bucket: str = Field(alias="reportsBucket")
    escalation: dict[str, EscalationLevel]
    approval: ApprovalSettings

    def agent_for_service(self, service_name: str) -> str | None:
        return next((agent for agent, name in self.services.items() if name == service_name), None)


@cache
def load_settings() -> Settings:
    return Settings.model_validate(json.loads(os.environ["ACSO_SETTINGS"]))
