"""Typed configuration of one ACSO environment, parsed once from CDK context (cdk.json).

The context holds `acso:defaults` and one block per environment under `acso:environments`; an
environment block overrides the defaults key by key. Every key is required after the merge (no
implicit defaults in code) and a wrong value fails synth with the full key path in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ESCALATION_LEVELS = ("L1", "L2", "L3", "L4")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_SCHEDULE = re.compile(r"^(cron|rate)\(.+\)$")
_PARAMETER = re.compile(r"^/[A-Za-z0-9_.{}/-]+$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class HealthThresholds:
    cpu_percent: float
    memory_percent: float
    error_rate_percent: float


@dataclass(frozen=True)
class HighCpuPolicy:
    alarm_threshold_percent: float
    alarm_period_seconds: int
    alarm_evaluation_periods: int
    scale_out_step: int
    max_desired_count: int
    verify_after_seconds: int
    recovery_margin_percent: float
    """Hysteresis: verified only when CPU is below the alarm threshold minus this margin."""


@dataclass(frozen=True)
class MemoryLeakPolicy:
    alarm_threshold_percent: float
    period_seconds: int
    evaluation_periods: int
    """The seed's alarm: average memory above the threshold for this many periods."""
    trend_hours: int
    min_rise_percent_per_hour: float
    """A leak rises at least this much per hour, steadily (domain/memory_trend.py)."""
    verify_after_seconds: int


@dataclass(frozen=True)
class MaintenanceWindow:
    weekday: str
    start: str
    end: str
    week_of_month: int | None


@dataclass(frozen=True)
class GuardLimits:
    dry_run: bool
    lock_seconds: int
    cooldown_seconds: int
    min_desired_count: int
    actions_per_hour: int
    blast_radius_percent: float
    breaker_failures: int
    breaker_window_seconds: int
    approval_timeout_seconds: int
    flags_parameter: str
    maintenance_windows: tuple[MaintenanceWindow, ...]


@dataclass(frozen=True)
class EscalationLevel:
    level: str
    role: str
    severity: str
    response_minutes: int


@dataclass(frozen=True)
class Schedules:
    daily_health_check: str
    backup_verification: str
    dr_test: str
    maintenance_window: str
    weekly_performance_review: str
    security_patch_review: str
    access_review: str


@dataclass(frozen=True)
class SecurityPatchReviewPolicy:
    """security-patch-review runbook (domain/security_patch_review.py): which ECR repositories its step may read,
    how many findings the report lists, when a scan is too old to trust."""

    ecr_repositories: str
    """IAM resource pattern of the agents' ECR repositories (`acso/*`); an image elsewhere is reported as not
    reviewed (access denied), never read."""
    top_findings: int
    max_scan_age_days: int


@dataclass(frozen=True)
class AccessReviewPolicy:
    """access-review runbook (domain/access_review.py): which roles, when a permission counts as unused, and how long
    it waits for IAM's last-accessed jobs."""

    role_name_contains: str
    """The seed's `list-roles --query 'Roles[?contains(RoleName, `acso`)]'` (case-sensitive); also the IAM resource
    pattern `role/*<text>*` the review's steps are limited to."""
    unused_after_days: int
    last_accessed_poll_seconds: int
    last_accessed_checks: int


@dataclass(frozen=True)
class WeeklyReviewPolicy:
    """weekly-performance-review runbook (domain/performance.py): its window, anomaly rule and forecast horizon."""

    days: int
    """The review window (a console run may ask for 1-28 days); only a run of this length updates the baseline."""
    anomaly_percent: float
    anomaly_sigma: float
    """A weekly mean is an anomaly when it differs from the baseline by at least anomaly_percent % AND
    anomaly_sigma standard deviations of the baseline's hourly values."""
    forecast_days: int
    """Forecasts further out than this read "not within N days"."""
    load_balancer: str | None
    """The `LoadBalancer` dimension (`app/<name>/<id>`) of the agents' ALB for response-time percentiles; None:
    the report says no load balancer is configured."""


@dataclass(frozen=True)
class BackupPolicy:
    """The platform's backups (this stack never creates them): backup-verification checks them daily, dr-test
    restores the newest into the DR region."""

    bucket: str
    """S3 bucket the nightly backup writes under `YYYY/MM/DD/` (UTC day)."""
    vault: str
    """AWS Backup vault whose jobs must have COMPLETED."""
    max_age_hours: int
    """Backup jobs created within this many hours before the check are checked."""


MAINTENANCE_MIN_WORK_MINUTES = 15
"""A maintenance window lasts at least its monitoring plus this long (functions/remediation/domain/
maintenance_window.py checks the console's durationMinutes against the same bounds)."""
MAINTENANCE_MAX_DURATION_MINUTES = 360
"""The longest window: with the backup's wait it stays inside the state machine's 8-hour time limit."""


@dataclass(frozen=True)
class MaintenanceWindowPolicy:
    """maintenance-window runbook (seed: Scheduled Maintenance Window): how long auto-remediation is suppressed, how
    long it monitors before switching it back, and what the on-demand backup (AWS Backup, into `backups.vault`)
    covers."""

    duration_minutes: int
    """The scheduled window (02:00-05:00 UTC: 180): auto-remediation is suppressed from the run's start this long."""
    monitor_minutes: int
    """The last minutes of the window: validated, then watched this long before the health is checked again."""
    backup_resources: tuple[str, ...]
    """ARNs of the platform's resources backed up with StartBackupJob before anything else; `{region}` and
    `{account}` stand for the stack's own."""
    backup_role_name: str
    """The IAM role AWS Backup assumes for the jobs (passed to AWS Backup, never assumed by the runbook)."""
    backup_checks: int
    backup_poll_seconds: int
    """How long the backup may take (checks x poll seconds, at most an hour) before the window is not started."""


@dataclass(frozen=True)
class ConfigUpdatePolicy:
    """config-update runbook: size bound of a new configuration and how its loading is confirmed."""

    max_config_bytes: int
    """The new configuration as JSON, well under SSM's 4 KB standard-parameter limit."""
    loaded_pattern: str
    """Logs filter pattern of the agent's "Configuration loaded" line; `{agent}` is the agent's name."""
    loaded_checks: int
    loaded_poll_seconds: int


@dataclass(frozen=True)
class AvailabilityPolicy:
    """Per-agent "unavailable" alarms (running < desired) and the complete-outage composite alarm over them."""

    period_seconds: int
    evaluation_periods: int
    outage_min_services_down: int
    """AT_LEAST this many agents unavailable at once is a complete outage (composite alarm)."""


@dataclass(frozen=True)
class DisasterRecovery:
    """Failover target of the complete-outage runbook (only after a person approves)."""

    region: str
    cluster_name: str
    """The agents' ECS cluster in the DR region (services named like production's)."""
    active_region_parameter: str
    """SSM parameter (stack region) naming the region that serves traffic; failover sets it to `region`."""
    approver_level: str
    approval_timeout_seconds: int
    ready_checks: int
    ready_poll_seconds: int
    restore_bucket: str
    """dr-test: bucket in `region` the newest backup is restored into (the platform's), under `dr-test/<run>/`."""
    rto_minutes: int
    """dr-test: recovery time objective (restore started -> validated)."""
    rpo_minutes: int
    """dr-test: recovery point objective (age of the newest backup object at the time of the test)."""


@dataclass(frozen=True)
class DataBreachPolicy:
    """data-breach runbook: how long its forensic evidence is locked, and how much of the logs it copies."""

    evidence_retention_mode: str
    """S3 Object Lock default retention of the evidence bucket: COMPLIANCE (nobody can shorten it) or GOVERNANCE."""
    evidence_retention_days: int
    log_window_minutes: int
    """The service's log lines of this window before the run are copied into the evidence."""


@dataclass(frozen=True)
class DatabaseReviewPolicy:
    """database-review runbook (seed: Database Query Optimization): the agents' RDS instance, its slow-query log,
    the connections alarm that starts the review and the thresholds of its recommendations."""

    instance_id: str
    slow_query_log_group: str
    """CloudWatch Logs group the instance exports its slow-query log to (RDS: `/aws/rds/instance/<id>/slowquery`)."""
    max_connections: int
    """The instance's `max_connections` (its parameter group): the connections alarm and figures are relative to it."""
    connections_alarm_percent: float
    alarm_period_seconds: int
    alarm_evaluation_periods: int
    cpu_percent: float
    free_memory_percent: float
    """Freeable memory below this share of the instance class's memory is a finding."""
    latency_ms: float
    review_hours: int
    """The window an alarm-started review reads, and a console run's default."""
    top_queries: int

    @property
    def connections_alarm_threshold(self) -> float:
        return self.max_connections * self.connections_alarm_percent / 100


@dataclass(frozen=True)
class CacheReviewPolicy:
    """cache-review runbook (seed: Cache Optimization): the agents' ElastiCache (Redis/Valkey) node, the hit-rate
    alarm that starts the review and the thresholds of its recommendations."""

    cluster_id: str
    """`CacheClusterId` of the node (for a replication group, a member such as `<group>-001`)."""
    hit_rate_target_percent: float
    alarm_period_seconds: int
    alarm_evaluation_periods: int
    memory_percent: float
    engine_cpu_percent: float
    review_hours: int


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    account: str | None
    region: str | None
    cluster_name: str
    service_name_prefix: str
    agents: tuple[str, ...]
    agents_log_group: str
    health: HealthThresholds
    high_cpu: HighCpuPolicy
    memory_leak: MemoryLeakPolicy
    guard: GuardLimits
    schedules: Schedules
    escalation: tuple[EscalationLevel, ...]
    availability: AvailabilityPolicy
    dr: DisasterRecovery
    agent_config_parameter: str
    """SSM parameter of an agent's configuration (the platform's; `{agent}` is the agent's name)."""
    config_update: ConfigUpdatePolicy
    data_breach: DataBreachPolicy
    backups: BackupPolicy
    maintenance_window: MaintenanceWindowPolicy
    weekly_review: WeeklyReviewPolicy
    database: DatabaseReviewPolicy
    cache: CacheReviewPolicy
    security_patch_review: SecurityPatchReviewPolicy
    access_review: AccessReviewPolicy

    def service_name(self, agent: str) -> str:
        return f"{self.service_name_prefix}{agent}"

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(self.service_name(agent) for agent in self.agents)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Reader:
    """Reads typed values out of a context block, naming the full key path on error."""

    def __init__(self, block: Mapping[str, Any], path: str) -> None:
        if not isinstance(block, Mapping):
            raise ConfigError(f"{path}: expected an object, got {type(block).__name__}")
        self._block = block
        self._path = path

    def _raw(self, key: str) -> Any:
        if key not in self._block:
            raise ConfigError(f"{self._path}.{key}: missing (every key is required)")
        return self._block[key]

    def child(self, key: str) -> _Reader:
        return _Reader(self._raw(key), f"{self._path}.{key}")

    def text(self, key: str, pattern: re.Pattern[str] | None = None, optional: bool = False) -> str | None:
        value = self._block.get(key) if optional else self._raw(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self._path}.{key}: expected a non-empty string, got {value!r}")
        if pattern and not pattern.match(value):
            raise ConfigError(f"{self._path}.{key}: {value!r} does not match {pattern.pattern}")
        return value

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise ConfigError(f"{self._path}.{key}: expected an integer in [{minimum}, {maximum}], got {value!r}")
        return value

    def percent(self, key: str) -> float:
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise ConfigError(f"{self._path}.{key}: expected a percentage in (0, 100], got {value!r}")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self._raw(key)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._path}.{key}: expected true or false, got {value!r}")
        return value


def parse_environment(name: str, defaults: Mapping[str, Any], block: Mapping[str, Any]) -> EnvironmentConfig:
    """Merge an environment block over the defaults and validate every key."""
    path = f"acso:environments.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{path}: environment name must match {_NAME.pattern}")
    if not isinstance(block, Mapping):
        raise ConfigError(f"{path}: expected an object, got {type(block).__name__}")
    reader = _Reader(deep_merge(defaults, block), path)

    agents_raw = reader._raw("agents")
    if not isinstance(agents_raw, list) or not agents_raw:
        raise ConfigError(f"{path}.agents: expected a non-empty list of agent names, got {agents_raw!r}")
    for index, agent in enumerate(agents_raw):
        if not isinstance(agent, str) or not _NAME.match(agent):
            raise ConfigError(f"{path}.agents[{index}]: {agent!r} must match {_NAME.pattern}")
    if len(set(agents_raw)) != len(agents_raw):
        raise ConfigError(f"{path}.agents: names must be unique, got {agents_raw!r}")

    health = reader.child("health")
    high_cpu = reader.child("highCpu")
    guard = reader.child("guard")
    schedules = reader.child("schedules")
    config = EnvironmentConfig(
        name=name,
        account=reader.text("account", _ACCOUNT, optional=True),
        region=reader.text("region", _REGION, optional=True),
        cluster_name=_substitute(reader.text("clusterName"), name),
        service_name_prefix=_substitute(reader.text("serviceNamePrefix"), name),
        agents=tuple(agents_raw),
        agents_log_group=_substitute(reader.text("agentsLogGroup"), name),
        health=HealthThresholds(
            cpu_percent=health.percent("cpuPercent"),
            memory_percent=health.percent("memoryPercent"),
            error_rate_percent=health.percent("errorRatePercent"),
        ),
        high_cpu=HighCpuPolicy(
            alarm_threshold_percent=high_cpu.percent("alarmThresholdPercent"),
            alarm_period_seconds=high_cpu.integer("alarmPeriodSeconds", 60, 3600),
            alarm_evaluation_periods=high_cpu.integer("alarmEvaluationPeriods", 1, 24),
            scale_out_step=high_cpu.integer("scaleOutStep", 1, 10),
            max_desired_count=high_cpu.integer("maxDesiredCount", 1, 100),
            verify_after_seconds=high_cpu.integer("verifyAfterSeconds", 0, 1800),  # runbook times out at 1 h
            recovery_margin_percent=high_cpu.percent("recoveryMarginPercent"),
        ),
        memory_leak=_memory_leak(reader.child("memoryLeak")),
        guard=GuardLimits(
            dry_run=guard.flag("dryRun"),
            lock_seconds=guard.integer("lockSeconds", 60, 86400),
            cooldown_seconds=guard.integer("cooldownSeconds", 0, 86400),
            min_desired_count=guard.integer("minDesiredCount", 1, 100),
            actions_per_hour=guard.integer("actionsPerHour", 1, 1000),
            blast_radius_percent=guard.percent("blastRadiusPercent"),
            breaker_failures=guard.integer("breakerFailures", 1, 100),
            breaker_window_seconds=guard.integer("breakerWindowSeconds", 60, 7 * 86400),
            approval_timeout_seconds=guard.integer("approvalTimeoutSeconds", 60, 86400),
            flags_parameter=_substitute(guard.text("flagsParameter", _PARAMETER), name),
            maintenance_windows=_maintenance_windows(guard, f"{path}.guard.maintenanceWindows"),
        ),
        schedules=Schedules(
            daily_health_check=schedules.text("dailyHealthCheck", _SCHEDULE),
            backup_verification=schedules.text("backupVerification", _SCHEDULE),
            dr_test=schedules.text("drTest", _SCHEDULE),
            maintenance_window=schedules.text("maintenanceWindow", _SCHEDULE),
            weekly_performance_review=schedules.text("weeklyPerformanceReview", _SCHEDULE),
            security_patch_review=schedules.text("securityPatchReview", _SCHEDULE),
            access_review=schedules.text("accessReview", _SCHEDULE),
        ),
        escalation=_escalation(reader.child("escalation")),
        availability=_availability(reader.child("availability"), len(agents_raw)),
        dr=_disaster_recovery(reader.child("dr"), name),
        agent_config_parameter=_agent_config_parameter(reader, path, name),
        config_update=_config_update(reader.child("configUpdate")),
        data_breach=_data_breach(reader.child("dataBreach")),
        backups=_backups(reader.child("backups"), name),
        maintenance_window=_maintenance_window(reader.child("maintenanceWindow"), name),
        weekly_review=_weekly_review(reader.child("weeklyPerformanceReview")),
        database=_database_review(reader.child("database"), name),
        cache=_cache_review(reader.child("cache"), name),
        security_patch_review=_security_patch_review(reader.child("securityPatchReview")),
        access_review=_access_review(reader.child("accessReview")),
    )
    if config.guard.min_desired_count > config.high_cpu.max_desired_count:
        raise ConfigError(f"{path}.guard.minDesiredCount: must not exceed highCpu.maxDesiredCount")
    if config.region and config.dr.region == config.region:
        raise ConfigError(f"{path}.dr.region: the DR region must differ from the stack's region {config.region}")
    return config


def _maintenance_windows(guard: _Reader, path: str) -> tuple[MaintenanceWindow, ...]:
    raw = guard._raw("maintenanceWindows")
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of windows, got {raw!r}")
    windows = []
    for index, entry in enumerate(raw):
        window = _Reader(entry, f"{path}[{index}]")
        weekday = window.text("weekday")
        if weekday not in _WEEKDAYS:
            raise ConfigError(f"{path}[{index}].weekday: expected one of {', '.join(_WEEKDAYS)}, got {weekday!r}")
        start, end = window.text("start", _CLOCK), window.text("end", _CLOCK)
        if end <= start:
            raise ConfigError(f"{path}[{index}]: end {end} must be after start {start} (same day, UTC)")
        week = entry.get("weekOfMonth")
        if week is not None and (isinstance(week, bool) or not isinstance(week, int) or not 1 <= week <= 5):
            raise ConfigError(f"{path}[{index}].weekOfMonth: expected 1-5 or absent, got {week!r}")
        windows.append(MaintenanceWindow(weekday, start, end, week))
    return tuple(windows)


def _memory_leak(reader: _Reader) -> MemoryLeakPolicy:
    return MemoryLeakPolicy(
        alarm_threshold_percent=reader.percent("alarmThresholdPercent"),
        period_seconds=reader.integer("periodSeconds", 60, 86400),
        evaluation_periods=reader.integer("evaluationPeriods", 1, 24),
        trend_hours=reader.integer("trendHours", 6, 168),
        min_rise_percent_per_hour=reader.percent("minRisePercentPerHour"),
        verify_after_seconds=reader.integer("verifyAfterSeconds", 0, 1800),  # the runbook times out at 1 h
    )


_LOAD_BALANCER = re.compile(r"^(app|net)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$")


def _weekly_review(reader: _Reader) -> WeeklyReviewPolicy:
    sigma = reader._raw("anomalySigma")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 10:
        raise ConfigError(f"{reader._path}.anomalySigma: expected a number in (0, 10], got {sigma!r}")
    return WeeklyReviewPolicy(
        days=reader.integer("days", 1, 28),
        anomaly_percent=reader.percent("anomalyPercent"),
        anomaly_sigma=float(sigma),
        forecast_days=reader.integer("forecastDays", 7, 365),
        load_balancer=reader.text("loadBalancer", _LOAD_BALANCER, optional=True),
    )


# An ECR repository name pattern for an IAM resource ARN (`acso/*`): lower case, /-separated, `*` wildcards.
_ECR_REPOSITORIES = re.compile(r"^[a-z0-9*][a-z0-9._/*-]{0,255}$")
_ROLE_NAME_TEXT = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")


def _security_patch_review(reader: _Reader) -> SecurityPatchReviewPolicy:
    return SecurityPatchReviewPolicy(
        ecr_repositories=reader.text("ecrRepositories", _ECR_REPOSITORIES),
        top_findings=reader.integer("topFindings", 1, 50),
        max_scan_age_days=reader.integer("maxScanAgeDays", 1, 365),
    )


def _access_review(reader: _Reader) -> AccessReviewPolicy:
    poll, checks = reader.integer("lastAccessedPollSeconds", 1, 60), reader.integer("lastAccessedChecks", 1, 120)
    if poll * checks > 1800:  # the state machine's time limit (1 h) covers the wait and the review of every role
        raise ConfigError(
            f"{reader._path}.lastAccessedChecks: lastAccessedChecks x lastAccessedPollSeconds must not exceed 1800 s"
        )
    return AccessReviewPolicy(
        role_name_contains=reader.text("roleNameContains", _ROLE_NAME_TEXT),
        # IAM keeps last-accessed information for 400 days: a longer window cannot be judged.
        unused_after_days=reader.integer("unusedAfterDays", 1, 400),
        last_accessed_poll_seconds=poll,
        last_accessed_checks=checks,
    )


_RETENTION_MODES = ("COMPLIANCE", "GOVERNANCE")


def _data_breach(reader: _Reader) -> DataBreachPolicy:
    mode = reader.text("evidenceRetentionMode")
    if mode not in _RETENTION_MODES:
        raise ConfigError(
            f"{reader._path}.evidenceRetentionMode: expected one of {', '.join(_RETENTION_MODES)}, got {mode!r}"
        )
    return DataBreachPolicy(
        evidence_retention_mode=mode,
        evidence_retention_days=reader.integer("evidenceRetentionDays", 1, 3650),
        log_window_minutes=reader.integer("logWindowMinutes", 5, 7 * 1440),
    )


def _agent_config_parameter(reader: _Reader, path: str, environment: str) -> str:
    value = _substitute(reader.text("agentConfigParameter", _PARAMETER), environment)
    if "{agent}" not in value:
        raise ConfigError(f"{path}.agentConfigParameter: must contain {{agent}}, got {value!r}")
    return value


def _config_update(reader: _Reader) -> ConfigUpdatePolicy:
    return ConfigUpdatePolicy(
        max_config_bytes=reader.integer("maxConfigBytes", 2, 3072),  # SSM standard parameters hold 4 KB
        loaded_pattern=reader.text("loadedPattern"),
        loaded_checks=reader.integer("loadedChecks", 1, 20),
        loaded_poll_seconds=reader.integer("loadedPollSeconds", 10, 300),
    )


def _substitute(value: str, environment: str) -> str:
    return value.replace("{env}", environment)


def _escalation(reader: _Reader) -> tuple[EscalationLevel, ...]:
    levels = []
    for level in ESCALATION_LEVELS:
        entry = reader.child(level)
        levels.append(
            EscalationLevel(
                level=level,
                role=entry.text("role"),
                severity=entry.text("severity"),
                response_minutes=entry.integer("responseMinutes", 0, 10080),
            )
        )
    return tuple(levels)


def _availability(reader: _Reader, agent_count: int) -> AvailabilityPolicy:
    return AvailabilityPolicy(
        period_seconds=reader.integer("periodSeconds", 60, 3600),
        evaluation_periods=reader.integer("evaluationPeriods", 1, 24),
        # "Most services down": never a single service (that is the service-unavailable runbook's).
        outage_min_services_down=reader.integer("outageMinServicesDown", min(2, agent_count), agent_count),
    )


def _disaster_recovery(reader: _Reader, environment: str) -> DisasterRecovery:
    approver = reader.text("approverLevel")
    if approver not in ESCALATION_LEVELS:
        raise ConfigError(
            f"{reader._path}.approverLevel: expected one of {', '.join(ESCALATION_LEVELS)}, got {approver!r}"
        )
    if reader.integer("readyChecks", 1, 30) * reader.integer("readyPollSeconds", 10, 120) > 1800:
        raise ConfigError(f"{reader._path}.readyChecks: readyChecks x readyPollSeconds must not exceed 1800 s")
    return DisasterRecovery(
        region=reader.text("region", _REGION),
        cluster_name=_substitute(reader.text("clusterName"), environment),
        active_region_parameter=_substitute(reader.text("activeRegionParameter", _PARAMETER), environment),
        approver_level=approver,
        # The complete-outage state machine's time limit (2 h) covers the approval and the DR start-up.
        approval_timeout_seconds=reader.integer("approvalTimeoutSeconds", 60, 3600),
        ready_checks=reader.integer("readyChecks", 1, 30),
        ready_poll_seconds=reader.integer("readyPollSeconds", 10, 120),
        restore_bucket=_bucket_name(reader, "restoreBucket", environment),
        rto_minutes=reader.integer("rtoMinutes", 1, 7 * 1440),
        rpo_minutes=reader.integer("rpoMinutes", 1, 31 * 1440),
    )


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_VAULT_NAME = re.compile(r"^[A-Za-z0-9_-]{2,50}$")


def _bucket_name(reader: _Reader, key: str, environment: str) -> str:
    value = _substitute(reader.text(key), environment)
    if not _BUCKET_NAME.match(value):
        raise ConfigError(f"{reader._path}.{key}: {value!r} is not an S3 bucket name ({_BUCKET_NAME.pattern})")
    return value


def _backups(reader: _Reader, environment: str) -> BackupPolicy:
    vault = _substitute(reader.text("vault"), environment)
    if not _VAULT_NAME.match(vault):
        raise ConfigError(f"{reader._path}.vault: {vault!r} is not a backup vault name ({_VAULT_NAME.pattern})")
    return BackupPolicy(
        bucket=_bucket_name(reader, "bucket", environment),
        vault=vault,
        # AWS Backup lists the jobs of the last 30 days only.
        max_age_hours=reader.integer("maxAgeHours", 1, 30 * 24),
    )


# A resource AWS Backup protects: arn:<partition>:<service>:<region or {region}>:<account or {account}>:<resource>.
_BACKUP_RESOURCE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:(\{region\}|[a-z0-9-]+):(\{account\}|\d{12}):\S+$")
_ROLE_NAME = re.compile(r"^([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$")
_MAX_BACKUP_RESOURCES = 10


def _maintenance_window(reader: _Reader, environment: str) -> MaintenanceWindowPolicy:
    monitor = reader.integer("monitorMinutes", 5, 120)
    duration = reader.integer(
        "durationMinutes", monitor + MAINTENANCE_MIN_WORK_MINUTES, MAINTENANCE_MAX_DURATION_MINUTES
    )
    raw = reader._raw("backupResources")
    if not isinstance(raw, list) or not 1 <= len(raw) <= _MAX_BACKUP_RESOURCES:
        raise ConfigError(
            f"{reader._path}.backupResources: expected a list of 1 to {_MAX_BACKUP_RESOURCES} resource ARNs "
            f"(a window never starts without a backup), got {raw!r}"
        )
    resources = []
    for index, arn in enumerate(raw):
        value = _substitute(arn, environment) if isinstance(arn, str) else arn
        if not isinstance(value, str) or not _BACKUP_RESOURCE.match(value):
            raise ConfigError(
                f"{reader._path}.backupResources[{index}]: {arn!r} is not a resource ARN ({_BACKUP_RESOURCE.pattern})"
            )
        resources.append(value)
    if len(set(resources)) != len(resources):
        raise ConfigError(f"{reader._path}.backupResources: ARNs must be unique, got {raw!r}")
    checks, poll = reader.integer("backupChecks", 1, 60), reader.integer("backupPollSeconds", 30, 900)
    if checks * poll > 3600:  # the state machine's time limit (8 h) covers the longest window and this wait
        raise ConfigError(f"{reader._path}.backupChecks: backupChecks x backupPollSeconds must not exceed 3600 s")
    return MaintenanceWindowPolicy(
        duration_minutes=duration,
        monitor_minutes=monitor,
        backup_resources=tuple(resources),
        backup_role_name=reader.text("backupRoleName", _ROLE_NAME),
        backup_checks=checks,
        backup_poll_seconds=poll,
    )


_DB_INSTANCE_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")
_CACHE_CLUSTER_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,49}(?<!-)$")
_LOG_GROUP = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")


def _database_review(reader: _Reader, environment: str) -> DatabaseReviewPolicy:
    instance_id = _substitute(reader.text("instanceId"), environment)
    if not _DB_INSTANCE_ID.match(instance_id):
        raise ConfigError(f"{reader._path}.instanceId: {instance_id!r} is not an RDS instance identifier")
    log_group = _substitute(reader.text("slowQueryLogGroup"), environment)
    if not _LOG_GROUP.match(log_group):
        raise ConfigError(f"{reader._path}.slowQueryLogGroup: {log_group!r} is not a log group name")
    return DatabaseReviewPolicy(
        instance_id=instance_id,
        slow_query_log_group=log_group,
        max_connections=reader.integer("maxConnections", 1, 100_000),
        connections_alarm_percent=reader.percent("connectionsAlarmPercent"),
        alarm_period_seconds=reader.integer("alarmPeriodSeconds", 60, 3600),
        alarm_evaluation_periods=reader.integer("alarmEvaluationPeriods", 1, 24),
        cpu_percent=reader.percent("cpuPercent"),
        free_memory_percent=reader.percent("freeMemoryPercent"),
        latency_ms=float(reader.integer("latencyMs", 1, 10_000)),
        review_hours=reader.integer("reviewHours", 1, 168),
        top_queries=reader.integer("topQueries", 1, 50),
    )


def _cache_review(reader: _Reader, environment: str) -> CacheReviewPolicy:
    cluster_id = _substitute(reader.text("clusterId"), environment)
    if not _CACHE_CLUSTER_ID.match(cluster_id):
        raise ConfigError(f"{reader._path}.clusterId: {cluster_id!r} is not an ElastiCache cluster id")
    return CacheReviewPolicy(
        cluster_id=cluster_id,
        hit_rate_target_percent=reader.percent("hitRateTargetPercent"),
        alarm_period_seconds=reader.integer("alarmPeriodSeconds", 60, 3600),
        alarm_evaluation_periods=reader.integer("alarmEvaluationPeriods", 1, 24),
        memory_percent=reader.percent("memoryPercent"),
        engine_cpu_percent=reader.percent("engineCpuPercent"),
        review_hours=reader.integer("reviewHours", 1, 168),
    )


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """Parse every environment named in `acso:environments` (CDK context)."""
    defaults = context.get("acso:defaults")
    environments = context.get("acso:environments")
    if not isinstance(defaults, Mapping):
        raise ConfigError("acso:defaults: missing or not an object in cdk.json context")
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError("acso:environments: missing or empty in cdk.json context")
    return [parse_environment(name, defaults, block) for name, block in environments.items()]
