"""weekly-performance-review: a window (7 days) of hourly metrics of every agent in ONE GetMetricData call, the
scaling policies in force, compared with the stored baseline, forecast against the health thresholds, and published
as a report with graphs (CloudWatch GetMetricWidgetImage) in the reports bucket, with the updated baseline.

Read only towards production: the only writes are the report objects and the baseline, under REPORT_PREFIX.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from remediation.adapters import autoscaling, metrics, reports
from remediation.adapters.metrics import MetricQuery
from remediation.clock import utc_now
from remediation.domain import performance, performance_report
from remediation.domain.requests.scheduled_reviews import WeeklyReviewRequest
from remediation.settings import Settings

REPORT_PREFIX = "weekly-performance-review"
BASELINE_KEY = f"{REPORT_PREFIX}/baseline.json"
HOUR = 3600
# The agents' communication latency: each agent publishes the time a message to another agent takes to be
# acknowledged (milliseconds) as metric ACSO/Agents CommunicationLatency, dimension Agent=<agent name>
# (e.g. CloudWatch embedded metric format in its logs); the review reads its hourly p95.
LATENCY_NAMESPACE = "ACSO/Agents"
LATENCY_METRIC = "CommunicationLatency"
LATENCY_STAT = "p95"
# The agents' Application Load Balancer (optional, weeklyPerformanceReview.loadBalancer): target response time.
ALB_NAMESPACE = "AWS/ApplicationELB"
RESPONSE_TIME_PERCENTILES = ("p50", "p90", "p99")
# The stack's metric filters on the agents' log group (stacks/remediation_stack.py).
AGENT_LOG_NAMESPACE = "ACSO/Agents"
ERROR_EVENTS_METRIC = "ErrorLogEvents"
ALL_EVENTS_METRIC = "LogEvents"


def review_window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Whole hours: the window ends at the start of the current hour."""
    end = (now or utc_now()).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def collect(request: WeeklyReviewRequest, settings: Settings) -> dict:
    """Hourly CPU and memory of every agent, its communication latency p95, the fleet's error and log counts and,
    where a load balancer is configured, its response-time percentiles: one GetMetricData call (paginated)."""
    start, end = review_window(request.days)
    queries = []
    for index, agent in enumerate(request.agents):
        dimensions = {"ClusterName": settings.cluster_name, "ServiceName": settings.services[agent]}
        queries += [
            MetricQuery(f"cpu{index}", "AWS/ECS", "CPUUtilization", dimensions, "Average", HOUR),
            MetricQuery(f"mem{index}", "AWS/ECS", "MemoryUtilization", dimensions, "Average", HOUR),
            MetricQuery(f"lat{index}", LATENCY_NAMESPACE, LATENCY_METRIC, {"Agent": agent}, LATENCY_STAT, HOUR),
        ]
    queries += [
        MetricQuery("errors", AGENT_LOG_NAMESPACE, ERROR_EVENTS_METRIC, {}, "Sum", HOUR),
        MetricQuery("events", AGENT_LOG_NAMESPACE, ALL_EVENTS_METRIC, {}, "Sum", HOUR),
    ]
    balancer = settings.weekly_review.load_balancer
    if balancer:
        dimensions = {"LoadBalancer": balancer}
        queries += [
            MetricQuery(f"rt{p}", ALB_NAMESPACE, "TargetResponseTime", dimensions, p, HOUR)
            for p in RESPONSE_TIME_PERCENTILES
        ]
        queries.append(MetricQuery("requests", ALB_NAMESPACE, "RequestCount", dimensions, "Sum", HOUR))
    series = metrics.get_timed_metric_data(queries, start, end)
    hours = request.days * 24

    def grid(query_id: str, scale: float = 1.0) -> list[float | None]:
        values: list[float | None] = [None] * hours
        for stamp, value in series[query_id].points:
            index = int((stamp - start).total_seconds() // HOUR)
            if 0 <= index < hours:
                values[index] = round(value * scale, 3)
        return values

    errors, events = grid("errors"), grid("events")
    error_rate = [
        None if not total else round(100.0 * (failed or 0.0) / total, 4)
        for failed, total in zip(errors, events, strict=True)
    ]
    fleet: dict = {
        "errorRate": error_rate,
        "errorEvents": sum(value or 0.0 for value in errors),
        "logEvents": sum(value or 0.0 for value in events),
    }
    if balancer:
        fleet["responseTime"] = {p: grid(f"rt{p}", 1000.0) for p in RESPONSE_TIME_PERCENTILES}  # seconds -> ms
        fleet["requests"] = sum(value or 0.0 for value in grid("requests"))
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": request.days, "hours": hours},
        "loadBalancer": balancer,
        "services": {
            agent: {
                "serviceName": settings.services[agent],
                "cpu": grid(f"cpu{index}"),
                "memory": grid(f"mem{index}"),
                "latencyP95": grid(f"lat{index}"),
            }
            for index, agent in enumerate(request.agents)
        },
        "fleet": fleet,
    }


def describe_scaling(agents: list[str], settings: Settings) -> dict:
    """The Application Auto Scaling target and the scaling policies in force for each agent's service."""
    names = [settings.services[agent] for agent in agents]
    targets = autoscaling.scalable_targets(settings.cluster_name, names)
    policies = autoscaling.scaling_policies(settings.cluster_name, names)
    result = {}
    for agent, name in zip(agents, names, strict=True):
        target = targets.get(name)
        result[agent] = {
            "target": None
            if target is None
            else {"minCapacity": target.min_capacity, "maxCapacity": target.max_capacity},
            "policies": [performance_report.policy_summary(policy) for policy in policies[name]],
        }
    return result


def limits(settings: Settings) -> performance.Limits:
    return performance.Limits(
        cpu_percent=settings.health.cpu_percent,
        memory_percent=settings.health.memory_percent,
        error_rate_percent=settings.health.error_rate_percent,
        anomaly_percent=settings.weekly_review.anomaly_percent,
        anomaly_sigma=settings.weekly_review.anomaly_sigma,
        forecast_days=settings.weekly_review.forecast_days,
        max_desired_count=settings.high_cpu.max_desired_count,
        min_desired_count=settings.guard.min_desired_count,
    )


def analyze(request: WeeklyReviewRequest, observed: dict, settings: Settings) -> dict:
    """Compare with the stored baseline, forecast, recommend; the updated baseline is written by `publish`."""
    metrics_data, services_state, scaling = observed["metrics"], observed["services"], observed["scaling"]
    window = metrics_data["window"]
    report_date = window["end"][:10]
    stored = reports.get_json(settings.reports_bucket, BASELINE_KEY)
    inputs = [
        performance.ServiceInput(
            agent=agent,
            service_name=series["serviceName"],
            series={metric: series[metric] for metric in performance.SERVICE_METRICS},
            desired=services_state.get(agent, {}).get("desired_count"),
            running=services_state.get(agent, {}).get("running_count"),
            scaling=scaling.get(agent),
        )
        for agent, series in metrics_data["services"].items()
    ]
    fleet = metrics_data["fleet"]
    fleet_series = {"errorRate": fleet["errorRate"]}
    if fleet.get("responseTime"):
        fleet_series["responseTimeP99"] = fleet["responseTime"]["p99"]
    review_limits = limits(settings)
    result = performance.review(inputs, fleet_series, stored, report_date, review_limits)
    learns = request.days == settings.weekly_review.days
    new_baseline, held_out = (
        performance.updated_baseline(
            stored, result, settings.environment, report_date, utc_now().isoformat(timespec="seconds"), request.days
        )
        if learns
        else (None, [])
    )
    return result.to_dict(review_limits) | {
        "reportDate": report_date,
        "window": window,
        "loadBalancer": metrics_data.get("loadBalancer"),
        "errorEvents": fleet["errorEvents"],
        "logEvents": fleet["logEvents"],
        "requests": fleet.get("requests"),
        "responseTime": _response_time(fleet.get("responseTime")),
        "newBaseline": new_baseline,
        "baselineUpdate": {
            "updated": learns,
            "heldOut": held_out,
            "why": None
            if learns
            else f"a {request.days}-day review; only {settings.weekly_review.days}-day reviews update the baseline",
        },
    }


def _response_time(series: dict | None) -> dict | None:
    if not series:
        return None
    return {percentile: performance.series_stats(values).to_dict() for percentile, values in series.items()}


def publish(request: WeeklyReviewRequest, analysis: dict, settings: Settings, region: str) -> dict:
    """Graphs (PNG, rendered by CloudWatch), report.md, report.html (self-contained) and the baseline, under
    weekly-performance-review/<date>/; then the updated baseline where the next run reads it."""
    bucket = settings.reports_bucket
    prefix = f"{REPORT_PREFIX}/{analysis['reportDate']}/"
    graphs = []
    for graph in performance_report.graph_widgets(
        list(request.agents), settings.services, settings.cluster_name, analysis, analysis.get("loadBalancer")
    ):
        image = metrics.get_widget_image(graph.widget)
        reports.put_bytes(bucket, prefix + graph.file, image, "image/png")
        graphs.append(performance_report.RenderedGraph(graph, image))
    context = performance_report.ReportContext(
        environment=settings.environment,
        region=region,
        bucket=bucket,
        prefix=prefix,
        generated_at=utc_now().isoformat(timespec="seconds"),
        trigger=request.trigger,
        agents_log_group=settings.agents_log_group,
    )
    keys = {"markdown": prefix + "report.md", "html": prefix + "report.html"}
    markdown = performance_report.markdown(analysis, graphs, context)
    reports.put_report(bucket, keys["markdown"], markdown, "text/markdown")
    reports.put_report(bucket, keys["html"], performance_report.html(analysis, graphs, context), "text/html")
    baseline = analysis.get("newBaseline")
    if baseline is not None:
        document = json.dumps(baseline, indent=2)
        keys["baseline"] = prefix + "baseline.json"
        reports.put_report(bucket, keys["baseline"], document, "application/json")
        reports.put_report(bucket, BASELINE_KEY, document, "application/json")
    return {
        "bucket": bucket,
        "prefix": prefix,
        "keys": keys,
        "graphs": [prefix + graph.graph.file for graph in graphs],
        "baselineKey": BASELINE_KEY if baseline is not None else None,
    }
