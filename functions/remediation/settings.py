"""Runtime settings of every handler, parsed once per container from the SSM parameter the stack creates."""

from __future__ import annotations

import json
import os
from functools import cache, cached_property

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

    unavailable_alarm: str = Field(alias="unavailableAlarm")
    """Name of an agent's unavailable alarm; `{agent}` is the agent's name (see `Settings.unavailable_alarms`)."""
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


class MaintenanceWindowPolicy(_Model):
    """maintenance-window runbook (logic/maintenance_window.py, domain/maintenance_window.py)."""

    duration_minutes: int = Field(alias="durationMinutes")
    """The scheduled window's length; a console run gives its own (within the same bounds)."""
    monitor_minutes: int = Field(alias="monitorMinutes")
    backup_resources: tuple[str, ...] = Field(alias="backupResources")
    """ARNs backed up with StartBackupJob into `backups.vault` before auto-remediation is suppressed."""
    backup_role_arn: str = Field(alias="backupRoleArn")
    """The role AWS Backup assumes for those jobs."""
    backup_checks: int = Field(alias="backupChecks")
    backup_poll_seconds: int = Field(alias="backupPollSeconds")


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


class DatabaseReview(_Model):
    """database-review runbook (logic/database_review.py, domain/database_review.py)."""

    instance_id: str = Field(alias="instanceId")
    slow_query_log_group: str = Field(alias="slowQueryLogGroup")
    max_connections: int = Field(alias="maxConnections")
    connections_alarm_percent: float = Field(alias="connectionsAlarmPercent")
    cpu_percent: float = Field(alias="cpuPercent")
    free_memory_percent: float = Field(alias="freeMemoryPercent")
    latency_ms: float = Field(alias="latencyMs")
    review_hours: int = Field(alias="reviewHours")
    top_queries: int = Field(alias="topQueries")
    alarm_name: str = Field(alias="alarmName")
    """The connections alarm whose going into ALARM starts the review."""


class CacheReview(_Model):
    """cache-review runbook (logic/cache_review.py, domain/cache_review.py)."""

    cluster_id: str = Field(alias="clusterId")
    hit_rate_target_percent: float = Field(alias="hitRateTargetPercent")
    memory_percent: float = Field(alias="memoryPercent")
    engine_cpu_percent: float = Field(alias="engineCpuPercent")
    review_hours: int = Field(alias="reviewHours")
    alarm_name: str = Field(alias="alarmName")
    """The hit-rate alarm whose going into ALARM starts the review."""


class SecurityPatchReview(_Model):
    """security-patch-review runbook (logic/security_patch_review.py, domain/security_patch_review.py)."""

    top_findings: int = Field(alias="topFindings")
    """Findings listed per image and in the report's fleet table (the counts cover all of them)."""
    max_scan_age_days: int = Field(alias="maxScanAgeDays")
    """A scan older than this is reported as stale (basic scanning runs on push only)."""


class AccessReview(_Model):
    """access-review runbook (logic/access_review.py, domain/access_review.py)."""

    role_name_contains: str = Field(alias="roleNameContains")
    """Roles whose name contains this text (case-sensitive, like the seed's `contains(RoleName, 'acso')`)."""
    unused_after_days: int = Field(alias="unusedAfterDays")
    last_accessed_poll_seconds: int = Field(alias="lastAccessedPollSeconds")
    last_accessed_checks: int = Field(alias="lastAccessedChecks")
    """How long the review waits for IAM's last-accessed jobs: checks x poll seconds."""


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
    agents: tuple[str, ...]
    service_name_prefix: str = Field(alias="serviceNamePrefix")
    """An agent's ECS service is named prefix + agent (see `services`)."""
    agents_log_group: str = Field(alias="agentsLogGroup")
    cpu_alarm: str = Field(alias="cpuAlarm")
    """Name of an agent's CPU alarm; `{agent}` is the agent's name (see `cpu_alarms`)."""
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
    maintenance_window: MaintenanceWindowPolicy = Field(alias="maintenanceWindow")
    weekly_review: WeeklyReviewPolicy = Field(alias="weeklyPerformanceReview")
    database: DatabaseReview
    cache: CacheReview
    security_patch_review: SecurityPatchReview = Field(alias="securityPatchReview")
    access_review: AccessReview = Field(alias="accessReview")

    # Derived per agent rather than listed in the document, which must stay under SSM's 8 KB for hundreds of agents.
    @cached_property
    def services(self) -> dict[str, str]:
        """Agent name -> ECS service name, in the configured order."""
        return {agent: f"{self.service_name_prefix}{agent}" for agent in self.agents}

    @cached_property
    def cpu_alarms(self) -> dict[str, str]:
        """Agent name -> name of its CPU alarm (the blast-radius check counts how many are in ALARM)."""
        return {agent: self.cpu_alarm.replace("{agent}", agent) for agent in self.agents}

    @cached_property
    def unavailable_alarms(self) -> dict[str, str]:
        """Agent name -> name of its unavailable alarm (service-unavailable reads which agents are down)."""
        return {agent: self.availability.unavailable_alarm.replace("{agent}", agent) for agent in self.agents}

    def config_parameter(self, agent: str) -> str:
        return self.agent_config_parameter.replace("{agent}", agent)

    def agent_for_service(self, service_name: str) -> str | None:
        return next((agent for agent, name in self.services.items() if name == service_name), None)


@cache
def load_settings() -> Settings:
    """Once per container: the document named by ACSO_SETTINGS_PARAMETER (SSM), or ACSO_SETTINGS inline (tests)."""
    inline = os.environ.get("ACSO_SETTINGS")
    if inline is not None:
        return Settings.model_validate(json.loads(inline))
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only where the stack deployed it

    # force_fetch: this function's own cache is the one that counts (cleared only with it, e.g. by the emulator).
    document = parameters.get_parameter(os.environ["ACSO_SETTINGS_PARAMETER"], transform="json", force_fetch=True)
    return Settings.model_validate(document)
