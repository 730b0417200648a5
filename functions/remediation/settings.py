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


class MemoryLeakPolicy(_Model):
    """memory-leak runbook (logic/memory_leak.py, domain/memory_trend.py)."""

    alarm_threshold_percent: float = Field(alias="alarmThresholdPercent")
    trend_hours: int = Field(alias="trendHours")
    min_rise_percent_per_hour: float = Field(alias="minRisePercentPerHour")
    verify_after_seconds: int = Field(alias="verifyAfterSeconds")


class ConfigUpdatePolicy(_Model):
    """config-update runbook (logic/config_update.py)."""

    max_config_bytes: int = Field(alias="maxConfigBytes")
    loaded_pattern: str = Field(alias="loadedPattern")
    """Logs filter pattern of the agent's "Configuration loaded" line; `{agent}` is the agent's name."""
    loaded_checks: int = Field(alias="loadedChecks")
    loaded_poll_seconds: int = Field(alias="loadedPollSeconds")


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


class Availability(_Model):
    """Per-agent "unavailable" alarms (running < desired) and the complete-outage composite alarm over them."""

    unavailable_alarms: dict[str, str] = Field(alias="unavailableAlarms")
    """Agent name -> name of its unavailable alarm."""
    outage_alarm: str = Field(alias="outageAlarm")
    outage_min_services_down: int = Field(alias="outageMinServicesDown")


class DisasterRecovery(_Model):
    """Where complete-outage fails over to, once a person approves (logic/complete_outage.py)."""

    region: str
    cluster_name: str = Field(alias="clusterName")
    active_region_parameter: str = Field(alias="activeRegionParameter")
    approver_level: str = Field(alias="approverLevel")
    approval_timeout_seconds: int = Field(alias="approvalTimeoutSeconds")
    ready_checks: int = Field(alias="readyChecks")
    ready_poll_seconds: int = Field(alias="readyPollSeconds")
    restore_bucket: str = Field(alias="restoreBucket")
    """dr-test (logic/dr_test.py): the bucket in `region` the newest backup is restored into, under dr-test/."""
    rto_minutes: int = Field(alias="rtoMinutes")
    rpo_minutes: int = Field(alias="rpoMinutes")


class Backups(_Model):
    """The platform's backups: backup-verification (logic/backup_verification.py) and dr-test read them."""

    bucket: str
    """S3 bucket written under `YYYY/MM/DD/` (UTC day) by the nightly backup."""
    vault: str
    """AWS Backup vault whose recent jobs must all have COMPLETED."""
    max_age_hours: int = Field(alias="maxAgeHours")


class WeeklyReviewPolicy(_Model):
    """weekly-performance-review runbook (logic/weekly_performance_review.py, domain/performance.py)."""

    days: int
    """The review window; only a run of exactly this many days updates the stored baseline."""
    anomaly_percent: float = Field(alias="anomalyPercent")
    anomaly_sigma: float = Field(alias="anomalySigma")
    forecast_days: int = Field(alias="forecastDays")
    load_balancer: str | None = Field(alias="loadBalancer", default=None)
    """`LoadBalancer` dimension of the agents' ALB (response-time percentiles); absent when there is none."""


class DataBreach(_Model):
    """data-breach runbook (logic/data_breach.py): the locked evidence bucket and the audiences it tells."""

    evidence_bucket: str = Field(alias="evidenceBucket")
    """S3 bucket with Object Lock (default retention below): evidence can be neither overwritten nor deleted."""
    evidence_retention_mode: str = Field(alias="evidenceRetentionMode")
    evidence_retention_days: int = Field(alias="evidenceRetentionDays")
    log_window_minutes: int = Field(alias="logWindowMinutes")
    audiences: dict[str, str]
    """Audience (security, legal, compliance) -> SNS topic ARN."""


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
    memory_leak: MemoryLeakPolicy = Field(alias="memoryLeak")
    guard: GuardLimits
    state_table: str = Field(alias="stateTable")
    reports_bucket: str = Field(alias="reportsBucket")
    escalation: dict[str, EscalationLevel]
    approval: ApprovalSettings
    availability: Availability
    dr: DisasterRecovery
    data_breach: DataBreach = Field(alias="dataBreach")
    agent_config_parameter: str = Field(alias="agentConfigParameter")
    """SSM parameter of an agent's configuration; `{agent}` is the agent's name (see `config_parameter`)."""
    config_update: ConfigUpdatePolicy = Field(alias="configUpdate")
    backups: Backups
    weekly_review: WeeklyReviewPolicy = Field(alias="weeklyPerformanceReview")

    def config_parameter(self, agent: str) -> str:
        return self.agent_config_parameter.replace("{agent}", agent)

    def agent_for_service(self, service_name: str) -> str | None:
        return next((agent for agent, name in self.services.items() if name == service_name), None)


@cache
def load_settings() -> Settings:
    return Settings.model_validate(json.loads(os.environ["ACSO_SETTINGS"]))
