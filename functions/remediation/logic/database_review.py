"""database-review (seed: Database Query Optimization): read the slow-query log, the instance's metrics (one
GetMetricData call) and its description, then recommend (domain/database_review.py) and leave a report (Markdown +
JSON) in the reports bucket. Read only: the report and the audit record are all it writes; nothing goes to RDS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from remediation.adapters import logs, metrics, rds, reports
from remediation.adapters.metrics import MetricQuery
from remediation.domain.database_review import (
    IndexHint,
    InstanceFigures,
    QueryStats,
    Thresholds,
    default_max_connections,
    fingerprint,
    index_hint,
    instance_memory_gib,
    parse_slow_query,
    recommend,
    top_queries,
)
from remediation.domain.requests.scheduled_reviews import ReviewRequest
from remediation.settings import Settings

REPORT_PREFIX = "database-review/"
SLOW_QUERY_PATTERN = "?Query_time ?duration"
"""The slow-query log's entries: MySQL/MariaDB `# Query_time: ...`, PostgreSQL `duration: ... ms`."""
MAX_SLOW_LOG_EVENTS = 20_000
"""Entries read at most (the report says when the window held more)."""


def _window(request: ReviewRequest) -> tuple[datetime, datetime]:
    end = datetime.fromisoformat(request.as_of)
    return end - timedelta(hours=request.hours), end


def find_slow_queries(request: ReviewRequest, settings: Settings) -> dict:
    """The window's slow-query log entries, parsed and grouped by query; the slowest by total time."""
    group = settings.database.slow_query_log_group
    start, end = _window(request)
    found = logs.read_messages_if_group_exists(group, SLOW_QUERY_PATTERN, start, end, MAX_SLOW_LOG_EVENTS)
    if found is None:
        return {"logGroup": group, "found": False, "events": 0, "parsed": 0, "truncated": False, "queries": []}
    events, truncated = found
    entries = [entry for entry in (parse_slow_query(message) for _, message in events) if entry is not None]
    queries = top_queries(entries, settings.database.top_queries)
    return {
        "logGroup": group,
        "found": True,
        "events": len(events),
        "parsed": len(entries),
        "distinct": len({fingerprint(entry.sql) for entry in entries}),
        "totalSeconds": round(sum(entry.seconds for entry in entries), 1),
        "truncated": truncated,
        "queries": [query.to_dict() for query in queries],
    }


def collect_metrics(request: ReviewRequest, settings: Settings) -> dict:
    """Connections, CPU, read/write latency and freeable memory of the instance in one GetMetricData call."""
    start, end = _window(request)
    period = 300 if request.hours <= 24 else 3600
    dimensions = {"DBInstanceIdentifier": settings.database.instance_id}
    wanted = (
        ("connectionsPeak", "DatabaseConnections", "Maximum"),
        ("connectionsMean", "DatabaseConnections", "Average"),
        ("cpuPeak", "CPUUtilization", "Maximum"),
        ("cpuMean", "CPUUtilization", "Average"),
        ("readLatency", "ReadLatency", "Average"),
        ("writeLatency", "WriteLatency", "Average"),
        ("freeableMemory", "FreeableMemory", "Minimum"),
    )
    series = metrics.get_metric_data(
        [MetricQuery(query_id, "AWS/RDS", name, dimensions, stat, period) for query_id, name, stat in wanted],
        start,
        end,
    )

    def mean(query_id: str, scale: float = 1.0) -> float | None:
        values = series[query_id].values
        return None if not values else round(scale * sum(values) / len(values), 2)

    def peak(query_id: str) -> float | None:
        return None if series[query_id].maximum is None else round(series[query_id].maximum, 2)

    low = series["freeableMemory"].values
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(), "hours": request.hours},
        "periodSeconds": period,
        "connectionsPeak": peak("connectionsPeak"),
        "connectionsMean": mean("connectionsMean"),
        "cpuPeakPercent": peak("cpuPeak"),
        "cpuMeanPercent": mean("cpuMean"),
        "readLatencyMs": mean("readLatency", 1000),
        "writeLatencyMs": mean("writeLatency", 1000),
        "freeableMemoryMinBytes": min(low) if low else None,
        "datapoints": len(series["connectionsPeak"].values),
    }


def describe_instance(settings: Settings) -> dict:
    """The instance (class, engine, storage, log exports) and what its class implies (memory, default max conns)."""
    instance = rds.describe_instance(settings.database.instance_id)
    memory = instance_memory_gib(instance.instance_class)
    return instance.to_dict() | {
        "memoryGiB": memory,
        "engineDefaultMaxConnections": default_max_connections(instance.engine, memory),
    }


def recommend_and_report(request: ReviewRequest, evidence: dict, execution_name: str, settings: Settings) -> dict:
    """Recommendations from the evidence; the report (Markdown + JSON) under database-review/ of the reports bucket."""
    policy, slow, measured = settings.database, evidence["slowQueries"], evidence["metrics"]
    instance, agent_logs = evidence["instance"], evidence["agentLogs"]
    queries = [QueryStats.from_dict(query) for query in slow["queries"]]
    figures = InstanceFigures(
        instance_class=instance["instance_class"],
        engine=instance["engine"],
        max_connections=policy.max_connections,
        connections_peak=measured["connectionsPeak"],
        connections_mean=measured["connectionsMean"],
        cpu_peak_percent=measured["cpuPeakPercent"],
        cpu_mean_percent=measured["cpuMeanPercent"],
        read_latency_ms=measured["readLatencyMs"],
        write_latency_ms=measured["writeLatencyMs"],
        freeable_memory_min_bytes=measured["freeableMemoryMinBytes"],
        slow_log_exported=_exports_slow_log(instance),
    )
    limits = Thresholds(
        policy.connections_alarm_percent, policy.cpu_percent, policy.free_memory_percent, policy.latency_ms
    )
    found = recommend(queries, request.hours, figures, limits, agent_logs["matches"], slow["found"])
    hints = {query.fingerprint: index_hint(query.fingerprint) for query in queries}
    as_of = datetime.fromisoformat(request.as_of)
    key = f"{REPORT_PREFIX}{as_of:%Y/%m/%d/%H%M%S}-{execution_name}.md"
    document = {
        "runbook": "database-review",
        "environment": settings.environment,
        "request": request.model_dump(),
        "instance": instance,
        "maxConnections": policy.max_connections,
        "metrics": measured,
        "slowQueries": slow | {"queries": [q | {"indexHint": _hint(hints[q["fingerprint"]])} for q in slow["queries"]]},
        "agentLogs": agent_logs,
        "recommendations": [r.to_dict() for r in found],
    }
    reports.put_report(settings.reports_bucket, key, _markdown(document, settings), "text/markdown")
    json_key = key.removesuffix(".md") + ".json"
    body = json.dumps(document, indent=2, default=str)
    reports.put_report(settings.reports_bucket, json_key, body, "application/json")
    top = queries[0] if queries else None
    return {
        "report": {"bucket": settings.reports_bucket, "key": key, "jsonKey": json_key},
        "recommendations": [r.to_dict() for r in found],
        "maxConnections": policy.max_connections,
        "topQuery": None if top is None else top.to_dict() | {"indexHint": _hint(hints[top.fingerprint])},
    }


def _exports_slow_log(instance: dict) -> bool | None:
    engine, exports = instance["engine"], instance["log_exports"]
    if "mysql" in engine or "mariadb" in engine:
        return "slowquery" in exports
    if "postgres" in engine:
        return "postgresql" in exports
    return None


def _hint(hint: IndexHint | None) -> dict | None:
    return None if hint is None else hint.to_dict()


# -- the report --------------------------------------------------------------------------------------------------
def _markdown(document: dict, settings: Settings) -> str:
    request, instance, measured = document["request"], document["instance"], document["metrics"]
    slow, agent_logs, found = document["slowQueries"], document["agentLogs"], document["recommendations"]
    window = measured["window"]
    maximum = document["maxConnections"]
    lines = [
        f"# ACSO {settings.environment} database review: {_count(len(found), 'recommendation')}",
        "",
        f"Instance **{instance['instance_id']}** ({instance['instance_class']}, {instance['engine']} "
        f"{instance.get('engine_version') or ''}{', Multi-AZ' if instance.get('multi_az') else ''}), window "
        f"{window['start'][:16]} to {window['end'][:16]} UTC ({window['hours']} h).",
        f"Why it ran: {_why(request)}.",
        "",
        "## Recommendations",
        "",
    ]
    if found:
        for index, item in enumerate(found, 1):
            lines.append(f"{index}. **P{item['priority']} {item['area']}**: {item['text']}")
            if item["evidence"]:
                lines.append(f"   - Evidence: {_code(item['evidence'])}")
    else:
        lines.append("None: no slow query, connections, CPU, memory or latency finding in this window.")
    connections = measured["connectionsPeak"]
    share = "" if connections is None else f" ({100 * connections / maximum:.0f} % of {maximum:,})"
    default = instance.get("engineDefaultMaxConnections")
    memory = instance.get("memoryGiB")
    free = measured["freeableMemoryMinBytes"]
    free_share = f" ({100 * free / (memory * 1024**3):.0f} % of {memory:g} GiB)" if free is not None and memory else ""
    lines += [
        "",
        "## Instance figures",
        "",
        "| Figure | Value | Threshold |",
        "|---|---|---|",
        f"| Connections peak | {_number(connections)}{share} | {settings.database.connections_alarm_percent:g} % of "
        f"max_connections |",
        f"| Connections mean | {_number(measured['connectionsMean'])} | |",
        f"| max_connections | {maximum:,} (database.maxConnections)"
        + (f"; engine default for {instance['instance_class']} ~{default:,}" if default else "")
        + " | |",
        f"| CPU peak / mean | {_unit(measured['cpuPeakPercent'], ' %')} / {_unit(measured['cpuMeanPercent'], ' %')} | "
        f"{settings.database.cpu_percent:g} % |",
        f"| Read latency (mean) | {_unit(measured['readLatencyMs'], ' ms')} | {settings.database.latency_ms:g} ms |",
        f"| Write latency (mean) | {_unit(measured['writeLatencyMs'], ' ms')} | {settings.database.latency_ms:g} ms |",
        f"| Freeable memory (min) | {_gib(free)}{free_share} | {settings.database.free_memory_percent:g} % |",
        f"| Storage | {instance.get('allocated_storage_gib') or '?'} GiB {instance.get('storage_type') or ''} | |",
        f"| Log exports | {', '.join(instance.get('log_exports') or []) or 'none'} | |",
        "",
        "## Top slow queries (by total time)",
        "",
    ]
    if not slow["found"]:
        lines.append(f"The slow-query log group `{slow['logGroup']}` does not exist: the log is not exported.")
    elif not slow["queries"]:
        lines.append(f"No slow query logged in `{slow['logGroup']}` in this window.")
    else:
        lines += [
            f"{slow['parsed']} slow statements ({slow['distinct']} distinct queries, {slow['totalSeconds']} s in "
            f"total) in `{slow['logGroup']}`" + (" (more than were read)." if slow["truncated"] else "."),
            "",
            "| # | Runs | Total s | Mean s | Max s | Rows examined / run | Rows sent / run | Index hint | Query |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for index, query in enumerate(slow["queries"], 1):
            hint = query["indexHint"]
            suggestion = f"{hint['table']} ({', '.join(hint['columns'])})" if hint else ""
            lines.append(
                f"| {index} | {query['count']} | {query['total_seconds']:.1f} | {query['meanSeconds']:.2f} | "
                f"{query['max_seconds']:.2f} | {_number(query['rowsExaminedPerRun'])} | "
                f"{_number(query['rowsSentPerRun'])} | {suggestion} | {_code(query['fingerprint'])} |"
            )
    lines += [
        "",
        "## Agents' logs",
        "",
        f"{agent_logs['matches']} lines matching `{agent_logs['pattern']}` in `{agent_logs['logGroup']}` "
        f"({agent_logs['windowMinutes'] // 60} h).",
        *[f"- {_code(sample[:200])}" for sample in dict.fromkeys(agent_logs.get("samples", []))],
        "",
    ]
    return "\n".join(lines)


def _why(request: dict) -> str:
    if request["trigger"] == "alarm":
        return f"alarm {request['alarm_name']} entered ALARM at {request['alarm_state_at']}"
    return f"started from the console ({request['reason']})"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f}"


def _unit(value: float | None, unit: str) -> str:
    return "no data" if value is None else f"{value:.1f}{unit}"


def _gib(value: float | None) -> str:
    return "no data" if value is None else f"{value / 1024**3:.1f} GiB"
