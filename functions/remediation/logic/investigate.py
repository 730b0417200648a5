"""Read-only investigations shared by the runbooks; each returns evidence kept for the record."""

from __future__ import annotations

from datetime import timedelta

from remediation.adapters import ecs, logs, metrics
from remediation.adapters.metrics import MetricQuery
from remediation.clock import utc_now
from remediation.settings import Settings

# Namespace and names of the metric filters the stack puts on the agents' log group.
AGENT_LOG_NAMESPACE = "ACSO/Agents"
ERROR_EVENTS_METRIC = "ErrorLogEvents"
ALL_EVENTS_METRIC = "LogEvents"


def _agents(scope: str | list[str], settings: Settings) -> list[str]:
    return list(settings.services) if scope == "all" else list(scope)


def collect_utilization(
    scope: str | list[str],
    window_minutes: int,
    period_seconds: int,
    stat: str,
    include_log_volume: bool,
    settings: Settings,
) -> dict:
    """CPU and memory of every agent (and the day's log volume) in one GetMetricData call."""
    agents = _agents(scope, settings)
    queries = []
    for index, agent in enumerate(agents):
        dimensions = {"ClusterName": settings.cluster_name, "ServiceName": settings.services[agent]}
        queries.append(MetricQuery(f"cpu{index}", "AWS/ECS", "CPUUtilization", dimensions, stat, period_seconds))
        queries.append(MetricQuery(f"mem{index}", "AWS/ECS", "MemoryUtilization", dimensions, stat, period_seconds))
    now = utc_now()
    window_start = start = now - timedelta(minutes=window_minutes)
    if include_log_volume:
        # One day of log volume in the same call: a daily period over the last 24 hours. The call then spans the
        # day; CPU and memory still count only within the window (by each datapoint's timestamp).
        start = min(start, now - timedelta(days=1))
        queries.append(MetricQuery("errors", AGENT_LOG_NAMESPACE, ERROR_EVENTS_METRIC, {}, "Sum", 86400))
        queries.append(MetricQuery("events", AGENT_LOG_NAMESPACE, ALL_EVENTS_METRIC, {}, "Sum", 86400))
    series = metrics.get_timed_metric_data(queries, start, now)

    def window(query_id: str) -> list[float]:
        return [value for stamp, value in series[query_id].points if stamp >= window_start]

    utilization = {
        agent: {
            "serviceName": settings.services[agent],
            "cpuMaxPercent": _rounded(max(window(f"cpu{index}"), default=None)),
            "cpuLatestPercent": _rounded(next(reversed(window(f"cpu{index}")), None)),
            "memoryMaxPercent": _rounded(max(window(f"mem{index}"), default=None)),
            "memoryLatestPercent": _rounded(next(reversed(window(f"mem{index}")), None)),
        }
        for index, agent in enumerate(agents)
    }
    result: dict = {"windowMinutes": window_minutes, "stat": stat, "services": utilization}
    if include_log_volume:
        result["logVolume24h"] = {
            "errorEvents": sum(value for _, value in series["errors"].points),
            "events": sum(value for _, value in series["events"].points),
        }
    return result


def search_agent_logs(pattern: str, window_minutes: int, settings: Settings) -> dict:
    end = utc_now()
    found = logs.search(settings.agents_log_group, pattern, end - timedelta(minutes=window_minutes), end)
    return {
        "logGroup": settings.agents_log_group,
        "pattern": found.pattern,
        "windowMinutes": window_minutes,
        "matches": found.count,
        "truncated": found.truncated,
        "samples": list(found.samples),
    }


def describe_agents(scope: str | list[str], settings: Settings) -> dict:
    agents = _agents(scope, settings)
    states = ecs.describe_services(settings.cluster_name, [settings.services[agent] for agent in agents])
    return {agent: states[settings.services[agent]].to_dict() for agent in agents}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
