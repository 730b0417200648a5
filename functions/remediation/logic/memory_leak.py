"""memory-leak: judge the service's 24-hour memory trend, restart it only for a steady rise, verify memory fell.

The restart itself is restart-agent's (a forced new deployment through the shared guard's last check);
this runbook adds the cooldown record of its own action and the memory verification.
"""

from __future__ import annotations

from datetime import timedelta

from remediation.adapters import ecs, metrics, state_store
from remediation.adapters.metrics import MetricQuery
from remediation.clock import utc_now
from remediation.domain import memory_trend
from remediation.domain.requests.common import ServiceRequest
from remediation.logic import restart_agent
from remediation.logic.guard import lease_resource
from remediation.settings import Settings

ACTION = "memory-restart"
RUNBOOK = "memory-leak"
_HOUR = 3600
_LATEST_PERIOD_SECONDS = 300
_VERIFY_WINDOW_MINUTES = 10


def _memory(query_id: str, request: ServiceRequest, stat: str, period: int) -> MetricQuery:
    dimensions = {"ClusterName": request.cluster_name, "ServiceName": request.service_name}
    return MetricQuery(query_id, "AWS/ECS", "MemoryUtilization", dimensions, stat, period)


def trend(request: ServiceRequest, settings: Settings) -> dict:
    """Hourly averages over the trend window and the newest 5-minute maximum, in ONE GetMetricData call."""
    hours = settings.memory_leak.trend_hours
    end = utc_now()
    start = end - timedelta(hours=hours)
    series = metrics.get_timed_metric_data(
        [
            _memory("hourly", request, "Average", _HOUR),
            _memory("latest", request, "Maximum", _LATEST_PERIOD_SECONDS),
        ],
        start,
        end,
    )
    hourly = [((stamp - start).total_seconds() / _HOUR, value) for stamp, value in series["hourly"].points]
    assessed = memory_trend.assess(
        hourly,
        series["latest"].latest,
        hours,
        settings.memory_leak.alarm_threshold_percent,
        settings.memory_leak.min_rise_percent_per_hour,
    )
    return assessed.to_dict() | {
        "serviceName": request.service_name,
        "windowHours": hours,
        "thresholdPercent": settings.memory_leak.alarm_threshold_percent,
        "minRisePercentPerHour": settings.memory_leak.min_rise_percent_per_hour,
        "hourlyPercent": [round(value, 1) for _, value in hourly],
    }


def restart(request: ServiceRequest, execution_arn: str, settings: Settings) -> dict:
    """restart-agent's guarded forced deployment; a real restart starts this action's cooldown."""
    result = restart_agent.restart(request, execution_arn, settings)
    if result["outcome"] == "restarted":
        state_store.record_action(
            settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
        )
    return result | {"verifyAfterSeconds": settings.memory_leak.verify_after_seconds}


def verify(request: ServiceRequest, before_percent: float | None, execution_arn: str, settings: Settings) -> dict:
    """Stable again with memory under the threshold and below its level before the restart, or escalate.

    A failed verification counts toward the runbook's circuit breaker, like high-cpu's.
    """
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    now = utc_now()
    query = _memory("memory", request, "Maximum", 60)
    latest = metrics.get_metric_data([query], now - timedelta(minutes=_VERIFY_WINDOW_MINUTES), now)["memory"].latest
    threshold = settings.memory_leak.alarm_threshold_percent
    stable = state.is_steady and state.rollout_state == "COMPLETED"
    fell = memory_trend.memory_fell(before_percent, latest, threshold)
    result = {
        "verified": stable and fell,
        "stable": stable,
        "memoryFell": fell,
        "memoryBeforePercent": before_percent,
        "memoryNowPercent": None if latest is None else round(latest, 2),
        "thresholdPercent": threshold,
        "service": state.to_dict(),
        "breaker": None,
    }
    if not result["verified"]:
        failures, opened = state_store.record_failed_verification(
            settings.state_table,
            RUNBOOK,
            execution_arn,
            now,
            settings.guard.breaker_window_seconds,
            settings.guard.breaker_failures,
        )
        result["breaker"] = {"failures": failures, "threshold": settings.guard.breaker_failures, "opened": opened}
    return result
