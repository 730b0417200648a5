"""The weekly performance review as people read it: the graphs' CloudWatch metric widgets, report.md and a
self-contained report.html (inline CSS, the graphs embedded as PNG data), built from `performance.Review.to_dict`.

Pure: no AWS calls. Everything shown comes from the analysis; every text is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from remediation.domain import links
from remediation.domain.performance import FLEET, METRICS, fmt

# One colour per agent, the same in every graph and in the report's tables (matplotlib's "tab10").
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
THRESHOLD_COLOUR = "#d62728"
GRAPH_WIDTH, GRAPH_HEIGHT = 900, 340
PRIORITY = {1: "Act soon", 2: "Investigate", 3: "Consider"}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


# -- scaling policies -----------------------------------------------------------------------------------------
def policy_summary(policy: Mapping) -> dict:
    """An Application Auto Scaling policy (DescribeScalingPolicies) in one line."""
    kind = policy.get("PolicyType", "")
    if kind == "TargetTrackingScaling":
        config = policy.get("TargetTrackingScalingPolicyConfiguration", {})
        metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType") or (
            config.get("CustomizedMetricSpecification", {}).get("MetricName", "a custom metric")
        )
        summary = f"target tracking: {metric} at {config.get('TargetValue', '?'):g}"
        if config.get("DisableScaleIn"):
            summary += " (scale-in disabled)"
    elif kind == "StepScaling":
        config = policy.get("StepScalingPolicyConfiguration", {})
        steps = ", ".join(f"{step['ScalingAdjustment']:+d}" for step in config.get("StepAdjustments", []))
        unit = {"ChangeInCapacity": "tasks", "PercentChangeInCapacity": "%", "ExactCapacity": "tasks (exact)"}.get(
            config.get("AdjustmentType", ""), ""
        )
        alarms = ", ".join(alarm["AlarmName"] for alarm in policy.get("Alarms", [])) or "no alarm attached"
        summary = f"step scaling: {steps or 'no steps'} {unit} on {alarms}".replace("  ", " ")
    else:
        summary = kind or "unknown policy type"
    return {"name": policy.get("PolicyName", "?"), "type": kind, "summary": summary}


# -- graphs ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Graph:
    file: str
    title: str
    caption: str
    widget: dict
    """CloudWatch metric widget JSON (GetMetricWidgetImage's MetricWidget)."""


@dataclass(frozen=True)
class RenderedGraph:
    graph: Graph
    image: bytes


def graph_widgets(
    agents: Sequence[str],
    services: Mapping[str, str],
    cluster: str,
    analysis: Mapping,
    load_balancer: str | None,
) -> list[Graph]:
    """CPU and memory by service, the fleet's error rate, the agents' latency, and the load balancer's response
    time when there is one; each a CloudWatch metric widget over the review window."""
    window, limits = analysis["window"], analysis["limits"]
    base = {
        "view": "timeSeries",
        "stacked": False,
        "period": 3600,
        "start": _utc(window["start"]),
        "end": _utc(window["end"]),
        "timezone": "+0000",
        "width": GRAPH_WIDTH,
        "height": GRAPH_HEIGHT,
        "legend": {"position": "bottom"},
    }
    days = window["days"]

    def threshold(value: float, label: str) -> dict:
        return {"horizontal": [{"label": label, "value": value, "color": THRESHOLD_COLOUR}]}

    def per_service(metric: str) -> list:
        return [
            [
                "AWS/ECS",
                metric,
                "ClusterName",
                cluster,
                "ServiceName",
                services[agent],
                {"label": agent, "color": colour(index)},
            ]
            for index, agent in enumerate(agents)
        ]

    percent_axis = {"left": {"min": 0, "max": 100, "label": "%", "showUnits": False}}
    graphs = [
        Graph(
            "cpu.png",
            "CPU utilization",
            f"Hourly average CPU of each service over {days} days; red: the health threshold "
            f"({limits['cpu_percent']:g} %).",
            base
            | {
                "title": "CPU utilization by service (hourly average)",
                "stat": "Average",
                "metrics": per_service("CPUUtilization"),
                "yAxis": percent_axis,
                "annotations": threshold(limits["cpu_percent"], f"threshold {limits['cpu_percent']:g} %"),
            },
        ),
        Graph(
            "memory.png",
            "Memory utilization",
            f"Hourly average memory of each service; red: the health threshold ({limits['memory_percent']:g} %).",
            base
            | {
                "title": "Memory utilization by service (hourly average)",
                "stat": "Average",
                "metrics": per_service("MemoryUtilization"),
                "yAxis": percent_axis,
                "annotations": threshold(limits["memory_percent"], f"threshold {limits['memory_percent']:g} %"),
            },
        ),
        Graph(
            "error-rate.png",
            "Error rate",
            "ERROR lines per 100 log lines of all agents each hour (the stack's metric filters); red: the "
            f"health threshold ({limits['error_rate_percent']:g} %).",
            base
            | {
                "title": "Error rate of all agents (ERROR / all log lines, hourly)",
                "stat": "Sum",
                "metrics": [
                    [{"expression": "100 * errors / events", "label": "error rate", "id": "rate", "color": colour(0)}],
                    ["ACSO/Agents", "ErrorLogEvents", {"id": "errors", "visible": False}],
                    ["ACSO/Agents", "LogEvents", {"id": "events", "visible": False}],
                ],
                "yAxis": {"left": {"min": 0, "label": "%", "showUnits": False}},
                "annotations": threshold(limits["error_rate_percent"], f"threshold {limits['error_rate_percent']:g} %"),
            },
        ),
        Graph(
            "latency.png",
            "Agent communication latency",
            "Hourly p95 of ACSO/Agents CommunicationLatency (ms) of each agent.",
            base
            | {
                "title": "Agent communication latency p95 (ms)",
                "stat": "p95",
                "metrics": [
                    ["ACSO/Agents", "CommunicationLatency", "Agent", agent, {"label": agent, "color": colour(index)}]
                    for index, agent in enumerate(agents)
                ],
                "yAxis": {"left": {"min": 0, "label": "ms", "showUnits": False}},
            },
        ),
    ]
    if load_balancer:
        graphs.append(
            Graph(
                "response-time.png",
                "Response time",
                f"Hourly p50, p90 and p99 of the load balancer's TargetResponseTime ({load_balancer}).",
                base
                | {
                    "title": "Load balancer response time (s)",
                    "metrics": [
                        [
                            "AWS/ApplicationELB",
                            "TargetResponseTime",
                            "LoadBalancer",
                            load_balancer,
                            {"stat": p, "label": p, "color": colour(i)},
                        ]
                        for i, p in enumerate(("p50", "p90", "p99"))
                    ],
                    "yAxis": {"left": {"min": 0, "label": "s", "showUnits": False}},
                },
            )
        )
    return graphs


def _utc(iso: str) -> str:
    """ISO 8601 in UTC with a Z, as CloudWatch's widget examples spell it."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- shared wording -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportContext:
    environment: str
    region: str
    bucket: str
    prefix: str
    generated_at: str
    trigger: str
    agents_log_group: str


def _day(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%a %d %b %Y %H:%M")


def _title(analysis: Mapping, context: ReportContext) -> str:
    return f"ACSO {context.environment} weekly performance review, {analysis['reportDate']}"


def verdict(analysis: Mapping) -> str:
    anomalies = len(analysis["anomalies"])
    soon = sum(1 for s in analysis["services"] for f in s["forecasts"].values() if f["verdict"] in ("above", "reaches"))
    horizon = analysis["limits"]["forecast_days"]
    parts = [
        f"{anomalies} anomal{'y' if anomalies == 1 else 'ies'} against the baseline"
        if anomalies
        else "no anomaly against the baseline",
        f"{soon} threshold{'s' if soon != 1 else ''} reached within {horizon} days"
        if soon
        else f"no threshold reached within {horizon} days",
    ]
    return "; ".join(parts)


def baseline_sentence(analysis: Mapping) -> str:
    baseline, update = analysis["baseline"], analysis["baselineUpdate"]
    if baseline["found"]:
        weeks = baseline["weeks"]
        said = f"Compared with the baseline of {baseline['from']} ({weeks} week{'s' if weeks != 1 else ''} of data)."
    else:
        said = "No baseline was stored yet: nothing to compare with this time."
    if not update["updated"]:
        return f"{said} Baseline not updated: {update['why']}."
    verb = "updated" if baseline["found"] else "created from this window"
    said += f" Baseline {verb}"
    if update["heldOut"]:
        said += f", holding out the anomalous {', '.join(update['heldOut'])}"
        said += " (if that is the new normal, delete weekly-performance-review/baseline.json to start over)"
    return said + "."


def _change(comparison: Mapping | None) -> str:
    if not comparison or comparison.get("baselineMean") is None:
        return "no baseline"
    digits = 2 if comparison["metric"] == "errorRate" else 1
    if round(comparison["change"], digits) == 0:
        return "no change"
    unit = "pts" if comparison["unit"] == "%" else comparison["unit"]
    relative = "" if comparison["changePercent"] is None else f" ({comparison['changePercent']:+.0f} %)"
    return f"{comparison['change']:+.{digits}f} {unit}{relative}"


def _stat(service: Mapping, metric: str, key: str) -> str:
    return fmt(service["stats"][metric][key], METRICS[metric].unit)


def _tasks(service: Mapping) -> str:
    if service["desired"] is None:
        return "?"
    target = (service.get("scaling") or {}).get("target")
    bounds = f" ({target['minCapacity']}-{target['maxCapacity']})" if target else f" (cap {service['cap']})"
    return f"{service['running']}/{service['desired']}{bounds}"


def _policies(service: Mapping) -> str:
    policies = (service.get("scaling") or {}).get("policies") or []
    return "; ".join(f"{p['name']}: {p['summary']}" for p in policies) or "none (fixed desired count)"


def _response_time_sentence(analysis: Mapping) -> str | None:
    if not analysis.get("loadBalancer"):
        return (
            "No load balancer is configured (weeklyPerformanceReview.loadBalancer): response-time percentiles "
            "were not measured."
        )
    if not analysis.get("responseTime"):
        return f"Load balancer {analysis['loadBalancer']}: no response-time datapoints in the window."
    return None


# -- Markdown -------------------------------------------------------------------------------------------------
def markdown(analysis: Mapping, graphs: Sequence[RenderedGraph], context: ReportContext) -> str:
    window, limits, headline = analysis["window"], analysis["limits"], analysis["headline"]
    lines = [
        f"# {_title(analysis, context)}",
        "",
        f"**{verdict(analysis).capitalize()}.** Window: {_day(window['start'])} to {_day(window['end'])} UTC "
        f"({window['days']} days, hourly). {baseline_sentence(analysis)}",
        "",
        "## Summary",
        "",
        "| Service | Tasks running/desired | CPU mean | CPU peak | CPU vs baseline | Memory mean | Memory peak | "
        "Memory vs baseline | Latency p95 | Latency vs baseline |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for service in analysis["services"]:
        cells = [service["agent"], _tasks(service)]
        for metric in ("cpu", "memory", "latencyP95"):
            comparison = service["comparisons"][metric]
            change = _change(comparison)
            if comparison["anomalous"]:
                change = f"**{change} ANOMALY**"
            cells += [_stat(service, metric, "mean")]
            if metric != "latencyP95":
                cells += [_stat(service, metric, "peak")]
            cells += [change]
        lines.append("| " + " | ".join(cells) + " |")
    error = analysis["fleet"]["comparisons"].get("errorRate") or {}
    error_mean = analysis["fleet"]["stats"]["errorRate"]["mean"]
    error_change = _change(error) + (" **ANOMALY**" if error.get("anomalous") else "")
    lines += [
        "",
        f"Error rate of all agents: **{fmt(error_mean, '%', 2)}** (threshold {limits['error_rate_percent']:g} %; "
        f"{int(analysis['errorEvents'])} ERROR of {int(analysis['logEvents'])} log lines), vs baseline "
        f"{error_change}. CPU mean {fmt(headline['cpuMeanPercent'], '%')}, memory mean "
        f"{fmt(headline['memoryMeanPercent'], '%')} across the services.",
        "",
        "## Anomalies",
        "",
    ]
    anomalies = analysis["anomalies"]
    lines += [f"- **{a['text']}**" for a in anomalies] or ["None: every metric is within the baseline's range."]
    lines += [
        "",
        "## Capacity forecast",
        "",
        f"At the current growth (least-squares line through the hourly values), horizon "
        f"{limits['forecast_days']} days.",
        "",
        f"| Service | CPU -> {limits['cpu_percent']:g} % | CPU trend | Memory -> {limits['memory_percent']:g} % | "
        "Memory trend |",
        "|---|---|---|---|---|",
    ]
    for service in analysis["services"]:
        cpu, memory = service["forecasts"]["cpu"], service["forecasts"]["memory"]
        lines.append(
            f"| {service['agent']} | {_bold_if(cpu['text'], cpu['verdict'])} | {_trend(service, 'cpu')} | "
            f"{_bold_if(memory['text'], memory['verdict'])} | {_trend(service, 'memory')} |"
        )
    lines += ["", "## Recommendations", ""]
    lines += [
        f"{index}. **{PRIORITY[r['priority']]}** ({r['scope']}): {r['text']}"
        for index, r in enumerate(analysis["recommendations"], 1)
    ]
    lines += ["", "## Graphs", ""]
    for rendered in graphs:
        lines += [f"### {rendered.graph.title}", "", f"![{rendered.graph.title}]({rendered.graph.file})", ""]
        lines += [f"_{rendered.graph.caption}_", ""]
    lines += ["## Response time", ""]
    sentence = _response_time_sentence(analysis)
    if sentence:
        lines.append(sentence)
    else:
        lines += _response_time_markdown(analysis)
    lines += [
        "",
        "## Scaling policies in force",
        "",
        "| Service | Tasks running/desired (min-max or cap) | Policies |",
        "|---|---|---|",
    ]
    lines += [f"| {s['agent']} | {_tasks(s)} | {_policies(s)} |" for s in analysis["services"]]
    lines += ["", "## Baseline", "", baseline_sentence(analysis), "", "## Method", "", *_method(limits)]
    lines += ["", f"_Generated {context.generated_at} ({context.trigger})._", ""]
    return "\n".join(lines)


def _bold_if(text: str, verdict_: str) -> str:
    return f"**{text}**" if verdict_ in ("above", "reaches") else text


def _trend(service: Mapping, metric: str) -> str:
    stats = service["stats"][metric]
    if not stats["points"]:
        return "no data"
    return f"{stats['trend']}, {stats['slopePerDay']:+.2f} pts/day (fit {stats['fit']:.2f})"


def _response_time_markdown(analysis: Mapping) -> list[str]:
    response = analysis["responseTime"]
    comparison = analysis["fleet"]["comparisons"].get("responseTimeP99") or {}
    rows = [f"| {p} | {fmt(stats['mean'], 'ms')} | {fmt(stats['peak'], 'ms')} |" for p, stats in response.items()]
    return [
        f"Load balancer {analysis['loadBalancer']}, {int(analysis.get('requests') or 0)} requests. p99 vs baseline: "
        f"{_change(comparison)}{' **ANOMALY**' if comparison.get('anomalous') else ''}.",
        "",
        "| Percentile | Hourly mean | Peak hour |",
        "|---|---|---|",
        *rows,
    ]


def _method(limits: Mapping) -> list[str]:
    return [
        "- Data: hourly averages of AWS/ECS CPUUtilization and MemoryUtilization per service, the hourly p95 of "
        "ACSO/Agents CommunicationLatency per agent, ACSO/Agents ErrorLogEvents / LogEvents (the stack's metric "
        "filters), read in one GetMetricData call; graphs rendered by CloudWatch (GetMetricWidgetImage).",
        f"- Anomaly: the window's mean differs from the baseline mean by at least {limits['anomaly_percent']:g} % "
        f"and {limits['anomaly_sigma']:g} standard deviations of the baseline's hourly values (and at least 5 "
        "points of CPU or memory, 0.25 points of error rate, 20 ms of latency).",
        "- Forecast: least-squares line through the hourly values; the days until it reaches the threshold.",
        "- Baseline: mean and standard deviation per metric, the newest window weighing 1/2, 1/3, then 1/4 (about "
        "four weeks); anomalous metrics are not learned.",
    ]


# -- HTML -----------------------------------------------------------------------------------------------------
_CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bad:#b91c1c; --bad-bg:#fef2f2; --warn:#92400e;
  --warn-bg:#fffbeb; --ok:#166534; --ok-bg:#f0fdf4; --accent:#1d4ed8; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color:var(--ink);
  background:#f3f4f6; }
main { max-width:1180px; margin:0 auto; padding:0 24px 48px; }
header.banner { background:#111827; color:#f9fafb; padding:28px 24px 24px; margin-bottom:24px; }
header.banner .inner { max-width:1132px; margin:0 auto; }
header .eyebrow { text-transform:uppercase; letter-spacing:.08em; font-size:12px; color:#9ca3af; }
header h1 { margin:4px 0 8px; font-size:28px; font-weight:650; }
header .verdict { display:inline-block; padding:4px 12px; border-radius:999px; font-weight:600; font-size:14px; }
header .verdict.ok { background:#14532d; color:#dcfce7; } header .verdict.bad { background:#7f1d1d; color:#fee2e2; }
header .verdict.warn { background:#78350f; color:#fef3c7; }
header p.sub { color:#d1d5db; margin:10px 0 0; font-size:14px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 22px; margin:0 0 20px; }
h2 { font-size:18px; margin:0 0 12px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(200px, 1fr)); gap:14px; background:none;
  border:0; padding:0; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card .label { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); }
.card .value { font-size:26px; font-weight:650; margin-top:2px; }
.card .note { font-size:13px; color:var(--muted); }
.card.bad { border-color:#fecaca; background:var(--bad-bg); } .card.bad .value { color:var(--bad); }
.card.warn { border-color:#fde68a; background:var(--warn-bg); } .card.warn .value { color:var(--warn); }
table { width:100%; border-collapse:collapse; font-size:14px; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); background:#f9fafb; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.anomaly { background:var(--bad-bg); color:var(--bad); font-weight:650; }
td.soon { background:var(--warn-bg); color:var(--warn); font-weight:600; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
ul.anomalies { list-style:none; padding:0; margin:0; }
ul.anomalies li { border-left:4px solid var(--bad); background:var(--bad-bg); padding:8px 12px; margin-bottom:8px;
  border-radius:0 6px 6px 0; }
ol.recs { padding-left:22px; margin:0; } ol.recs li { margin-bottom:8px; }
.badge { display:inline-block; font-size:11px; font-weight:700; text-transform:uppercase; letter-spacing:.05em;
  padding:2px 8px; border-radius:999px; margin-right:6px; }
.p1 { background:var(--bad-bg); color:var(--bad); } .p2 { background:var(--warn-bg); color:var(--warn); }
.p3 { background:var(--ok-bg); color:var(--ok); }
.graphs { display:grid; grid-template-columns:repeat(auto-fit, minmax(520px, 1fr)); gap:18px; }
figure { margin:0; } figure img { width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
figcaption { font-size:13px; color:var(--muted); margin-top:6px; }
p.note { color:var(--muted); font-size:14px; margin:0; }
footer { color:var(--muted); font-size:13px; } footer ul { padding-left:18px; }
a { color:var(--accent); }
"""


def html(analysis: Mapping, graphs: Sequence[RenderedGraph], context: ReportContext) -> str:
    window, headline = analysis["window"], analysis["headline"]
    anomalies = analysis["anomalies"]
    soon = any(f["verdict"] in ("above", "reaches") for s in analysis["services"] for f in s["forecasts"].values())
    tone = "bad" if anomalies else "warn" if soon else "ok"
    body = [
        '<header class="banner"><div class="inner">',
        f'<div class="eyebrow">ACSO {escape(context.environment)} &middot; weekly performance review</div>',
        f"<h1>{escape(_day(window['start']))} &rarr; {escape(_day(window['end']))} UTC</h1>",
        f'<span class="verdict {tone}">{escape(verdict(analysis).capitalize())}</span>',
        f'<p class="sub">{escape(baseline_sentence(analysis))}</p>',
        "</div></header>",
        "<main>",
        _cards(analysis, headline, tone),
        _summary_table(analysis),
        _anomalies_html(anomalies),
        _forecast_html(analysis),
        _recommendations_html(analysis),
        _graphs_html(graphs),
        _response_time_html(analysis),
        _scaling_html(analysis),
        _footer(analysis, context),
        "</main>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(_title(analysis, context))}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _card(label: str, value: str, note: str, tone: str = "") -> str:
    return (
        f'<div class="card {tone}"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
        f'<div class="note">{escape(note)}</div></div>'
    )


def _cards(analysis: Mapping, headline: Mapping, tone: str) -> str:
    limits = analysis["limits"]
    cpu_peak, memory_peak = headline.get("cpuPeak"), headline.get("memoryPeak")
    error = headline.get("errorRatePercent")
    soonest = headline.get("soonestForecast")
    cards = [
        _card(
            "CPU mean",
            fmt(headline["cpuMeanPercent"], "%"),
            f"peak {cpu_peak['agent']} {fmt(cpu_peak['percent'], '%')}" if cpu_peak else "no data",
            "warn" if cpu_peak and cpu_peak["percent"] >= limits["cpu_percent"] else "",
        ),
        _card(
            "Memory mean",
            fmt(headline["memoryMeanPercent"], "%"),
            f"peak {memory_peak['agent']} {fmt(memory_peak['percent'], '%')}" if memory_peak else "no data",
            "warn" if memory_peak and memory_peak["percent"] >= limits["memory_percent"] else "",
        ),
        _card(
            "Error rate",
            fmt(error, "%", 2),
            f"threshold {limits['error_rate_percent']:g} %",
            "bad" if error is not None and error >= limits["error_rate_percent"] else "",
        ),
        _card(
            "Anomalies",
            str(headline["anomalies"]),
            "against the baseline" if analysis["baseline"]["found"] else "no baseline yet",
            "bad" if headline["anomalies"] else "",
        ),
        _card(
            "Soonest threshold",
            soonest["agent"] if soonest else "none",
            soonest["text"] if soonest else f"within {limits['forecast_days']} days",
            "warn" if soonest else "",
        ),
    ]
    return '<section class="cards">' + "".join(cards) + "</section>"


def _summary_table(analysis: Mapping) -> str:
    head = (
        "<tr><th>Service</th><th>Tasks</th><th>CPU mean</th><th>CPU peak</th><th>vs baseline</th>"
        "<th>Memory mean</th><th>Memory peak</th><th>vs baseline</th><th>Latency p95</th><th>vs baseline</th>"
        "<th>Forecast</th></tr>"
    )
    rows = []
    for index, service in enumerate(analysis["services"]):
        cells = [
            f'<td><span class="swatch" style="background:{colour(index)}"></span>{escape(service["agent"])}</td>',
            f'<td class="num">{escape(_tasks(service))}</td>',
        ]
        for metric in ("cpu", "memory", "latencyP95"):
            comparison = service["comparisons"][metric]
            cells.append(f'<td class="num">{escape(_stat(service, metric, "mean"))}</td>')
            if metric != "latencyP95":
                cells.append(f'<td class="num">{escape(_stat(service, metric, "peak"))}</td>')
            flagged = ' class="num anomaly"' if comparison["anomalous"] else ' class="num"'
            mark = " &#9650;" if comparison["anomalous"] and comparison["direction"] == "above" else ""
            mark = " &#9660;" if comparison["anomalous"] and comparison["direction"] == "below" else mark
            cells.append(f"<td{flagged}>{escape(_change(comparison))}{mark}</td>")
        soon = [f["text"] for f in service["forecasts"].values() if f["verdict"] in ("above", "reaches")]
        cells.append(
            f'<td class="soon">{"<br>".join(escape(text) for text in soon)}</td>'
            if soon
            else '<td class="note">nothing within the horizon</td>'
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    error = analysis["fleet"]["comparisons"].get("errorRate") or {}
    mean = analysis["fleet"]["stats"]["errorRate"]["mean"]
    limits = analysis["limits"]
    over = mean is not None and mean >= limits["error_rate_percent"]
    note = (
        f'<p class="note">Error rate of {escape(FLEET)}: <strong>{escape(fmt(mean, "%", 2))}</strong> '
        f"(threshold {limits['error_rate_percent']:g} %{', ABOVE' if over else ''}; "
        f"{int(analysis['errorEvents'])} ERROR of {int(analysis['logEvents'])} log lines), vs baseline "
        f'<span class="{"anomaly" if error.get("anomalous") else ""}">{escape(_change(error))}</span>. '
        "Tasks: running/desired (scalable target min-max, or the automation's cap).</p>"
    )
    return (
        f"<section><h2>Summary</h2><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        f'<div style="margin-top:10px">{note}</div></section>'
    )


def _anomalies_html(anomalies: Sequence[Mapping]) -> str:
    if not anomalies:
        none = "None: every metric is within the baseline's range."
        return f'<section><h2>Anomalies</h2><p class="note">{escape(none)}</p></section>'
    items = "".join(f"<li>{escape(a['text'])}</li>" for a in anomalies)
    return f'<section id="anomalies"><h2>Anomalies ({len(anomalies)})</h2><ul class="anomalies">{items}</ul></section>'


def _forecast_html(analysis: Mapping) -> str:
    limits = analysis["limits"]
    rows = []
    for service in analysis["services"]:
        cells = [f"<td>{escape(service['agent'])}</td>"]
        for metric in ("cpu", "memory"):
            forecast = service["forecasts"][metric]
            tone = ' class="soon"' if forecast["verdict"] in ("above", "reaches") else ""
            cells.append(f"<td{tone}>{escape(forecast['text'])}</td>")
            cells.append(f"<td class='num'>{escape(_trend(service, metric))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        f"<tr><th>Service</th><th>CPU &rarr; {limits['cpu_percent']:g} %</th><th>CPU trend</th>"
        f"<th>Memory &rarr; {limits['memory_percent']:g} %</th><th>Memory trend</th></tr>"
    )
    return (
        "<section><h2>Capacity forecast</h2>"
        f'<p class="note">At the current growth (least-squares line through the hourly values); horizon '
        f"{limits['forecast_days']} days.</p>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _recommendations_html(analysis: Mapping) -> str:
    items = "".join(
        f'<li><span class="badge p{r["priority"]}">{PRIORITY[r["priority"]]}</span>'
        f"<strong>{escape(r['scope'])}</strong>: {escape(r['text'])}</li>"
        for r in analysis["recommendations"]
    )
    return f'<section><h2>Recommendations</h2><ol class="recs">{items}</ol></section>'


def _graphs_html(graphs: Sequence[RenderedGraph]) -> str:
    figures = "".join(
        "<figure>"
        f'<img alt="{escape(g.graph.title)}" src="data:image/png;base64,{base64.b64encode(g.image).decode()}">'
        f"<figcaption><strong>{escape(g.graph.title)}.</strong> {escape(g.graph.caption)} "
        f'<a href="{escape(g.graph.file)}">{escape(g.graph.file)}</a></figcaption></figure>'
        for g in graphs
    )
    return f'<section><h2>Graphs</h2><div class="graphs">{figures}</div></section>'


def _response_time_html(analysis: Mapping) -> str:
    sentence = _response_time_sentence(analysis)
    if sentence:
        return f'<section><h2>Response time</h2><p class="note">{escape(sentence)}</p></section>'
    comparison = analysis["fleet"]["comparisons"].get("responseTimeP99") or {}
    rows = "".join(
        f"<tr><td>{escape(p)}</td><td class='num'>{escape(fmt(s['mean'], 'ms'))}</td>"
        f"<td class='num'>{escape(fmt(s['peak'], 'ms'))}</td></tr>"
        for p, s in analysis["responseTime"].items()
    )
    flagged = "anomaly" if comparison.get("anomalous") else ""
    return (
        f"<section><h2>Response time</h2><p class='note'>Load balancer {escape(analysis['loadBalancer'])}, "
        f"{int(analysis.get('requests') or 0)} requests; p99 vs baseline <span class='{flagged}'>"
        f"{escape(_change(comparison))}</span>.</p><table><thead><tr><th>Percentile</th><th>Hourly mean</th>"
        f"<th>Peak hour</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _scaling_html(analysis: Mapping) -> str:
    rows = "".join(
        f"<tr><td>{escape(s['agent'])}</td><td class='num'>{escape(_tasks(s))}</td><td>{escape(_policies(s))}</td></tr>"
        for s in analysis["services"]
    )
    return (
        "<section><h2>Scaling policies in force</h2><table><thead><tr><th>Service</th>"
        "<th>Running/desired (min-max or cap)</th><th>Policies</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _footer(analysis: Mapping, context: ReportContext) -> str:
    method = "".join(f"<li>{escape(line.removeprefix('- '))}</li>" for line in _method(analysis["limits"]))
    folder = links.s3_folder(context.region, context.bucket, context.prefix)
    logs = links.log_group(context.region, context.agents_log_group)
    return (
        f"<section><footer><h2>Baseline and method</h2><p>{escape(baseline_sentence(analysis))}</p>"
        f"<ul>{method}</ul><p>Generated {escape(context.generated_at)} ({escape(context.trigger)}). "
        f'<a href="{escape(folder)}">This report\'s folder in S3</a> &middot; '
        f'<a href="{escape(logs)}">Agents\' logs</a></p></footer></section>'
    )
