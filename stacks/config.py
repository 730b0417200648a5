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
    guard: GuardLimits
    schedules: Schedules
    escalation: tuple[EscalationLevel, ...]

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
        schedules=Schedules(daily_health_check=schedules.text("dailyHealthCheck", _SCHEDULE)),
        escalation=_escalation(reader.child("escalation")),
    )
    if config.guard.min_desired_count > config.high_cpu.max_desired_count:
        raise ConfigError(f"{path}.guard.minDesiredCount: must not exceed highCpu.maxDesiredCount")
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


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """Parse every environment named in `acso:environments` (CDK context)."""
    defaults = context.get("acso:defaults")
    environments = context.get("acso:environments")
    if not isinstance(defaults, Mapping):
        raise ConfigError("acso:defaults: missing or not an object in cdk.json context")
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError("acso:environments: missing or empty in cdk.json context")
    return [parse_environment(name, defaults, block) for name, block in environments.items()]
