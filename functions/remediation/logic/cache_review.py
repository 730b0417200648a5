"""cache-review (seed: Cache Optimization): the cache node's figures over the window in one GetMetricData call and
its description, then recommendations (domain/cache_review.py) and a report (Markdown + JSON) in the reports
bucket. Read only: the report and the audit record are all it writes; nothing goes to ElastiCache."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from remediation.adapters import elasticache, metrics, reports
from remediation.adapters.metrics import MetricQuery
from remediation.domain.cache_review import CacheFigures, CacheThresholds, recommend
from remediation.domain.requests.scheduled_reviews import ReviewRequest
from remediation.settings import Settings

REPORT_PREFIX = "cache-review/"
_PERIOD_SECONDS = 3600


def collect_metrics(request: ReviewRequest, settings: Settings) -> dict:
    """Hits, misses, evictions (sums), connections, memory and engine CPU (peaks), hourly, in one GetMetricData
    call (dimension CacheClusterId: the cluster's figures)."""
    end = datetime.fromisoformat(request.as_of)
    start = end - timedelta(hours=request.hours)
    dimensions = {"CacheClusterId": settings.cache.cluster_id}
    wanted = (
        ("hits", "CacheHits", "Sum"),
        ("misses", "CacheMisses", "Sum"),
        ("evictions", "Evictions", "Sum"),
        ("connections", "CurrConnections", "Maximum"),
        ("memory", "DatabaseMemoryUsagePercentage", "Maximum"),
        ("engineCpu", "EngineCPUUtilization", "Maximum"),
    )
    series = metrics.get_timed_metric_data(
        [
            MetricQuery(query_id, "AWS/ElastiCache", name, dimensions, stat, _PERIOD_SECONDS)
            for query_id, name, stat in wanted
        ],
        start,
        end,
    )
    values = {query_id: dict(series[query_id].points) for query_id, _, _ in wanted}

    def peak(query_id: str) -> float | None:
        return round(max(values[query_id].values()), 2) if values[query_id] else None

    hits, misses = values["hits"], values["misses"]
    hourly = [
        100 * hits.get(hour, 0.0) / (hits.get(hour, 0.0) + misses.get(hour, 0.0))
        for hour in set(hits) | set(misses)
        if hits.get(hour, 0.0) + misses.get(hour, 0.0) > 0
    ]
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(), "hours": request.hours},
        "hits": sum(hits.values()),
        "misses": sum(misses.values()),
        "evictions": sum(values["evictions"].values()),
        "connectionsPeak": peak("connections"),
        "memoryPeakPercent": peak("memory"),
        "engineCpuPeakPercent": peak("engineCpu"),
        "lowestHourlyHitRatePercent": round(min(hourly), 1) if hourly else None,
        "hoursWithData": len(set(hits) | set(misses)),
    }


def describe_cluster(settings: Settings) -> dict:
    return elasticache.describe_cluster(settings.cache.cluster_id).to_dict()


def recommend_and_report(request: ReviewRequest, evidence: dict, execution_name: str, settings: Settings) -> dict:
    """Recommendations from the evidence; the report (Markdown + JSON) under cache-review/ of the reports bucket."""
    policy, measured, cluster = settings.cache, evidence["metrics"], evidence["cluster"]
    figures = CacheFigures(
        node_type=cluster["node_type"],
        engine=cluster["engine"],
        nodes=cluster["nodes"],
        hits=measured["hits"],
        misses=measured["misses"],
        evictions=measured["evictions"],
        connections_peak=measured["connectionsPeak"],
        memory_peak_percent=measured["memoryPeakPercent"],
        engine_cpu_peak_percent=measured["engineCpuPeakPercent"],
    )
    found = recommend(
        figures, CacheThresholds(policy.hit_rate_target_percent, policy.memory_percent, policy.engine_cpu_percent)
    )
    as_of = datetime.fromisoformat(request.as_of)
    key = f"{REPORT_PREFIX}{as_of:%Y/%m/%d/%H%M%S}-{execution_name}.md"
    document = {
        "runbook": "cache-review",
        "environment": settings.environment,
        "request": request.model_dump(),
        "cluster": cluster,
        "metrics": measured,
        "figures": figures.to_dict(),
        "recommendations": [r.to_dict() for r in found],
    }
    reports.put_report(settings.reports_bucket, key, _markdown(document, settings), "text/markdown")
    json_key = key.removesuffix(".md") + ".json"
    reports.put_report(settings.reports_bucket, json_key, json.dumps(document, indent=2), "application/json")
    return {
        "report": {"bucket": settings.reports_bucket, "key": key, "jsonKey": json_key},
        "figures": figures.to_dict(),
        "hitRateTargetPercent": policy.hit_rate_target_percent,
        "recommendations": [r.to_dict() for r in found],
    }


def _markdown(document: dict, settings: Settings) -> str:
    request, cluster, measured = document["request"], document["cluster"], document["metrics"]
    figures, found, policy = document["figures"], document["recommendations"], settings.cache
    window = measured["window"]
    why = (
        f"alarm {request['alarm_name']} entered ALARM at {request['alarm_state_at']}"
        if request["trigger"] == "alarm"
        else f"started from the console ({request['reason']})"
    )
    lines = [
        f"# ACSO {settings.environment} cache review: {len(found)} recommendation{'' if len(found) == 1 else 's'}",
        "",
        f"Cluster **{cluster['cluster_id']}** ({cluster['node_type']}, {cluster['engine']} "
        f"{cluster.get('engine_version') or ''}, {cluster['nodes']} node{'' if cluster['nodes'] == 1 else 's'}), "
        f"window {window['start'][:16]} to {window['end'][:16]} UTC ({window['hours']} h).",
        f"Why it ran: {why}.",
        "",
        "## Recommendations",
        "",
    ]
    if found:
        for index, item in enumerate(found, 1):
            lines.append(f"{index}. **P{item['priority']} {item['area']}**: {item['text']}")
            if item["evidence"]:
                lines.append(f"   - Evidence: {item['evidence']}")
    else:
        lines.append("None: hit rate, evictions, memory and engine CPU are within their thresholds.")
    lines += [
        "",
        "## Figures",
        "",
        "| Figure | Value | Threshold |",
        "|---|---|---|",
        f"| Hit rate | {_percent(figures['hitRatePercent'])} (lowest hour "
        f"{_percent(measured['lowestHourlyHitRatePercent'])}) | at least {policy.hit_rate_target_percent:g} % |",
        f"| Hits / misses | {figures['hits']:,.0f} / {figures['misses']:,.0f} | |",
        f"| Evictions | {figures['evictions']:,.0f} | 0 |",
        f"| Memory peak (of maxmemory) | {_percent(figures['memory_peak_percent'])} | {policy.memory_percent:g} % |",
        f"| Engine CPU peak | {_percent(figures['engine_cpu_peak_percent'])} | {policy.engine_cpu_percent:g} % |",
        f"| Connections peak | {_number(figures['connections_peak'])} | |",
        f"| Hours with data | {measured['hoursWithData']} of {window['hours']} | |",
        "",
    ]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f}"
