"""Weekly performance review: pure analysis of a window of hourly metrics (runbook "Weekly Performance Review").

- **Trend**: the least-squares line through a series' hourly values (`memory_trend.least_squares`), its slope
  per day and fit R².
- **Forecast**: when the line reaches the health threshold (CPU 70 %, memory 80 %): "reaches 80 % memory in
  ~9 days", "already at 82.0 %", or "not within 90 days" (flat, falling, or further than the horizon).
- **Anomaly**: the window's mean against the stored baseline of that metric. Anomalous only when it differs by
  at least `anomaly_percent` % of the baseline mean AND `anomaly_sigma` standard deviations of the baseline's
  hourly values AND the metric's floor (MIN_CHANGE: a 0.1-point move of a 0.2 % error rate is +50 % but noise).
- **Baseline**: per service (and for the fleet) each metric's mean and standard deviation of hourly values,
  blended run after run (the newest window weighs 1/2, 1/3, then 1/4: about the last four weeks). An anomalous
  metric is held out, so one bad week does not become the norm. A second run for the same report date compares
  with the baseline from before the first one (`previous`), so a rerun changes nothing.
- **Recommendations**: scale out (or raise the cap) ahead of a CPU forecast, investigate memory growth, errors and
  latency, add a scaling policy where there is none, scale in an idle service.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from statistics import fmean, pstdev

from remediation.domain.memory_trend import least_squares

BASELINE_SCHEMA = 1
FLEET = "all agents"
"""Scope of the fleet-wide metrics (error rate from the log metric filters, load balancer response time)."""
MIN_FORECAST_POINTS = 24
"""At least a day of hourly values to draw a trend."""
MIN_TREND_FIT = 0.1
"""R² below which a slope is noise (a daily rhythm, spikes) rather than growth: no forecast is drawn from it."""
MIN_SLOPE_PER_DAY = 0.05
"""Points per day below which a series is flat."""
SOON_DAYS = 14
"""A threshold reached within this many days is a recommendation to act soon, not just to plan."""
MAX_BLENDED_WEEKS = 4
"""The newest window weighs 1/min(weeks + 1, 4) in the blended baseline."""
IDLE_CPU_PEAK_PERCENT = 25.0
IDLE_CPU_MEAN_PERCENT = 15.0


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    unit: str
    min_change: float
    """The smallest absolute change that can be an anomaly (points of %, or ms)."""


METRICS = {
    spec.key: spec
    for spec in (
        MetricSpec("cpu", "CPU", "%", 5.0),
        MetricSpec("memory", "memory", "%", 5.0),
        MetricSpec("latencyP95", "communication latency p95", "ms", 20.0),
        MetricSpec("errorRate", "error rate", "%", 0.25),
        MetricSpec("responseTimeP99", "response time p99", "ms", 20.0),
    )
}
SERVICE_METRICS = ("cpu", "memory", "latencyP95")
FLEET_METRICS = ("errorRate", "responseTimeP99")


def fmt(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None:
        return "no data"
    return f"{value:.{digits}f} {unit}" if unit == "%" else f"{value:.{digits if value < 100 else 0}f} {unit}"


@dataclass(frozen=True)
class Limits:
    cpu_percent: float
    memory_percent: float
    error_rate_percent: float
    anomaly_percent: float
    anomaly_sigma: float
    forecast_days: int
    max_desired_count: int
    """The automation's cap (highCpu.maxDesiredCount) when no scalable target says otherwise."""
    min_desired_count: int


# -- statistics of one series ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesStats:
    points: int
    mean: float | None
    std: float
    peak: float | None
    last_day_mean: float | None
    """Mean of the newest 24 hourly values (what "now" means for a forecast)."""
    slope_per_day: float
    fit: float
    fitted_end: float | None
    """The trend line's value at the newest hour."""

    def to_dict(self) -> dict:
        return {
            "points": self.points,
            "mean": _round(self.mean),
            "std": _round(self.std),
            "peak": _round(self.peak),
            "lastDayMean": _round(self.last_day_mean),
            "slopePerDay": _round(self.slope_per_day, 3),
            "fit": _round(self.fit, 3),
            "fittedEnd": _round(self.fitted_end),
            "trend": trend_word(self),
        }


def series_stats(values: Sequence[float | None]) -> SeriesStats:
    """`values`: one per hour, oldest first, None where the hour has no datapoint."""
    points = [(float(hour), float(value)) for hour, value in enumerate(values) if value is not None]
    if not points:
        return SeriesStats(0, None, 0.0, None, None, 0.0, 0.0, None)
    ys = [y for _, y in points]
    last_hour = len(values) - 1
    last_day = [y for x, y in points if x > last_hour - 24]
    line = least_squares(points)
    fitted_end = line.intercept + line.slope * points[-1][0] if len(points) > 1 else ys[-1]
    return SeriesStats(
        points=len(points),
        mean=fmean(ys),
        std=pstdev(ys) if len(ys) > 1 else 0.0,
        peak=max(ys),
        last_day_mean=fmean(last_day) if last_day else None,
        slope_per_day=line.slope * 24,
        fit=line.fit,
        fitted_end=fitted_end,
    )


# -- forecast -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    metric: str
    threshold: float
    verdict: str
    """above | reaches | not-within | no-data"""
    days: float | None
    text: str

    @property
    def soon(self) -> bool:
        return self.verdict in ("above", "reaches")

    def to_dict(self) -> dict:
        return asdict(self) | {"days": _round(self.days, 1)}


def forecast(stats: SeriesStats, metric: str, threshold: float, horizon_days: int) -> Forecast:
    """When the trend line reaches the threshold, at the current growth."""
    label = METRICS[metric].label
    if stats.points < MIN_FORECAST_POINTS or stats.fitted_end is None:
        return Forecast(metric, threshold, "no-data", None, f"too few hourly datapoints ({stats.points}) to forecast")
    now = stats.last_day_mean if stats.last_day_mean is not None else stats.fitted_end
    if now >= threshold or stats.fitted_end >= threshold:
        level = max(now, stats.fitted_end)
        text = f"already at {level:.1f} % {label} (threshold {threshold:g} %)"
        return Forecast(metric, threshold, "above", 0.0, text)
    slope = f"{stats.slope_per_day:+.2f} points/day"
    if trend_word(stats) != "rising":
        return Forecast(metric, threshold, "not-within", None, f"not within {horizon_days} days ({trend_word(stats)})")
    days = (threshold - stats.fitted_end) / stats.slope_per_day
    if days > horizon_days:
        return Forecast(metric, threshold, "not-within", None, f"not within {horizon_days} days (rising {slope})")
    when = "within a day" if days < 1 else f"in ~{round(days)} day{'s' if round(days) != 1 else ''}"
    return Forecast(metric, threshold, "reaches", days, f"reaches {threshold:g} % {label} {when} ({slope})")


def trend_word(stats: SeriesStats) -> str:
    """rising | falling | flat: a slope counts only when the line explains some of the movement (a day's rhythm
    around a steady level has a slope but no trend)."""
    if stats.points < 2 or abs(stats.slope_per_day) < MIN_SLOPE_PER_DAY or stats.fit < MIN_TREND_FIT:
        return "flat"
    return "rising" if stats.slope_per_day > 0 else "falling"


# -- comparison with the baseline -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    scope: str
    metric: str
    current: float | None
    baseline_mean: float | None
    baseline_std: float | None
    change: float | None
    change_percent: float | None
    """None without a baseline, or when the baseline mean is 0."""
    sigma: float | None
    """|change| in baseline standard deviations; None without a baseline or when the baseline never varied."""
    anomalous: bool

    @property
    def direction(self) -> str:
        if self.change is None:
            return "n/a"
        return "above" if self.change > 0 else "below" if self.change < 0 else "equal"

    @property
    def text(self) -> str:
        spec = METRICS[self.metric]
        if self.baseline_mean is None or self.change is None:
            return f"{self.scope} {spec.label}: {fmt(self.current, spec.unit)} (no baseline)"
        relative = "" if self.change_percent is None else f"{self.change_percent:+.0f} %, "
        sigma = "constant baseline" if self.sigma is None else f"{self.sigma:.1f} \u03c3"
        return (
            f"{self.scope} {spec.label}: mean {fmt(self.current, spec.unit)} vs baseline "
            f"{fmt(self.baseline_mean, spec.unit)} ({relative}{sigma})"
        )

    def to_dict(self) -> dict:
        return {
            "scope": self.scope,
            "metric": self.metric,
            "label": METRICS[self.metric].label,
            "unit": METRICS[self.metric].unit,
            "current": _round(self.current),
            "baselineMean": _round(self.baseline_mean),
            "baselineStd": _round(self.baseline_std),
            "change": _round(self.change),
            "changePercent": _round(self.change_percent, 1),
            "sigma": _round(self.sigma, 1),
            "direction": self.direction,
            "anomalous": self.anomalous,
            "text": self.text,
        }


def compare(
    scope: str, metric: str, current: float | None, baseline: Mapping | None, percent_limit: float, sigma_limit: float
) -> Comparison:
    """`baseline`: {"mean", "std"} of the metric, or None."""
    if current is None or not baseline or baseline.get("mean") is None:
        return Comparison(scope, metric, current, None, None, None, None, None, False)
    mean, std = float(baseline["mean"]), float(baseline.get("std") or 0.0)
    change = current - mean
    change_percent = 100.0 * change / mean if mean > 0 else None
    sigma = abs(change) / std if std > 0 else None
    anomalous = (
        abs(change) >= METRICS[metric].min_change
        and (change_percent is None or abs(change_percent) >= percent_limit)
        and (sigma is None or sigma >= sigma_limit)
    )
    return Comparison(scope, metric, current, mean, std, change, change_percent, sigma, anomalous)


def baseline_for_comparison(stored: Mapping | None, report_date: str) -> Mapping | None:
    """The stored baseline, or, when a run for this report date already updated it, the one before that run."""
    if stored and stored.get("updatedFor") == report_date:
        return stored.get("previous")
    return stored


def baseline_metric(baseline: Mapping | None, scope: str, metric: str) -> Mapping | None:
    entry = _baseline_entry(baseline, scope)
    return (entry or {}).get("metrics", {}).get(metric)


def _baseline_entry(baseline: Mapping | None, scope: str) -> Mapping | None:
    if not baseline:
        return None
    return baseline.get("fleet") if scope == FLEET else baseline.get("services", {}).get(scope)


# -- the review -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceInput:
    agent: str
    service_name: str
    series: Mapping[str, Sequence[float | None]]
    """Metric key (cpu, memory, latencyP95) -> hourly values."""
    desired: int | None = None
    running: int | None = None
    scaling: Mapping | None = None
    """{"target": {"minCapacity", "maxCapacity"} | None, "policies": [{"name", "type", "summary"}]}"""


@dataclass(frozen=True)
class Recommendation:
    priority: int
    """1 act soon, 2 investigate, 3 consider."""
    scope: str
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ServiceReview:
    agent: str
    service_name: str
    stats: dict[str, SeriesStats]
    comparisons: dict[str, Comparison]
    forecasts: dict[str, Forecast]
    desired: int | None
    running: int | None
    scaling: Mapping | None
    cap: int

    def to_dict(self) -> dict:
        return {
            "agent": self.agent,
            "serviceName": self.service_name,
            "stats": {metric: stats.to_dict() for metric, stats in self.stats.items()},
            "comparisons": {metric: comparison.to_dict() for metric, comparison in self.comparisons.items()},
            "forecasts": {metric: forecast.to_dict() for metric, forecast in self.forecasts.items()},
            "desired": self.desired,
            "running": self.running,
            "scaling": self.scaling,
            "cap": self.cap,
        }


@dataclass(frozen=True)
class Review:
    services: list[ServiceReview]
    fleet_stats: dict[str, SeriesStats]
    fleet_comparisons: dict[str, Comparison]
    baseline_found: bool
    baseline_from: str | None
    baseline_weeks: int
    recommendations: list[Recommendation] = field(default_factory=list)

    @property
    def anomalies(self) -> list[Comparison]:
        found = [c for s in self.services for c in s.comparisons.values() if c.anomalous]
        return found + [c for c in self.fleet_comparisons.values() if c.anomalous]

    def headline(self, limits: Limits) -> dict:
        cpu = [s.stats["cpu"] for s in self.services if s.stats["cpu"].mean is not None]
        memory = [s.stats["memory"] for s in self.services if s.stats["memory"].mean is not None]
        busiest = max(self.services, key=lambda s: s.stats["cpu"].peak or -1.0, default=None)
        fullest = max(self.services, key=lambda s: s.stats["memory"].peak or -1.0, default=None)
        soonest = sorted(
            (f.days, s.agent, f) for s in self.services for f in s.forecasts.values() if f.soon and f.days is not None
        )
        error = self.fleet_stats["errorRate"]
        return {
            "cpuMeanPercent": _round(fmean([c.mean for c in cpu])) if cpu else None,
            "cpuPeak": {"agent": busiest.agent, "percent": _round(busiest.stats["cpu"].peak)}
            if busiest and busiest.stats["cpu"].peak is not None
            else None,
            "memoryMeanPercent": _round(fmean([m.mean for m in memory])) if memory else None,
            "memoryPeak": {"agent": fullest.agent, "percent": _round(fullest.stats["memory"].peak)}
            if fullest and fullest.stats["memory"].peak is not None
            else None,
            "errorRatePercent": _round(error.mean, 3),
            "errorRateThresholdPercent": limits.error_rate_percent,
            "anomalies": len(self.anomalies),
            "soonestForecast": {"agent": soonest[0][1], "text": soonest[0][2].text} if soonest else None,
        }

    def to_dict(self, limits: Limits) -> dict:
        return {
            "services": [service.to_dict() for service in self.services],
            "fleet": {
                "stats": {metric: stats.to_dict() for metric, stats in self.fleet_stats.items()},
                "comparisons": {metric: c.to_dict() for metric, c in self.fleet_comparisons.items()},
            },
            "baseline": {"found": self.baseline_found, "from": self.baseline_from, "weeks": self.baseline_weeks},
            "anomalies": [comparison.to_dict() for comparison in self.anomalies],
            "recommendations": [recommendation.to_dict() for recommendation in self.recommendations],
            "headline": self.headline(limits),
            "limits": asdict(limits),
        }


def review(
    services: Sequence[ServiceInput],
    fleet_series: Mapping[str, Sequence[float | None]],
    stored_baseline: Mapping | None,
    report_date: str,
    limits: Limits,
) -> Review:
    """Everything the report says, from the series, the stored baseline and the limits."""
    baseline = baseline_for_comparison(stored_baseline, report_date)
    thresholds = {"cpu": limits.cpu_percent, "memory": limits.memory_percent}
    reviewed = []
    for service in services:
        stats = {metric: series_stats(service.series.get(metric, ())) for metric in SERVICE_METRICS}
        comparisons = {
            metric: compare(
                service.agent,
                metric,
                stats[metric].mean,
                baseline_metric(baseline, service.agent, metric),
                limits.anomaly_percent,
                limits.anomaly_sigma,
            )
            for metric in SERVICE_METRICS
        }
        forecasts = {
            metric: forecast(stats[metric], metric, threshold, limits.forecast_days)
            for metric, threshold in thresholds.items()
        }
        target = (service.scaling or {}).get("target")
        cap = int(target["maxCapacity"]) if target else limits.max_desired_count
        reviewed.append(
            ServiceReview(
                service.agent,
                service.service_name,
                stats,
                comparisons,
                forecasts,
                service.desired,
                service.running,
                service.scaling,
                cap,
            )
        )
    fleet_stats = {metric: series_stats(fleet_series.get(metric, ())) for metric in FLEET_METRICS}
    fleet_comparisons = {
        metric: compare(
            FLEET,
            metric,
            fleet_stats[metric].mean,
            baseline_metric(baseline, FLEET, metric),
            limits.anomaly_percent,
            limits.anomaly_sigma,
        )
        for metric in FLEET_METRICS
        if fleet_stats[metric].points or metric == "errorRate"
    }
    weeks = max((entry.get("weeks", 0) for entry in _entries(baseline)), default=0)
    result = Review(
        reviewed,
        fleet_stats,
        fleet_comparisons,
        baseline_found=baseline is not None,
        baseline_from=(baseline or {}).get("updatedFor"),
        baseline_weeks=weeks,
    )
    return replace(result, recommendations=recommend(result, limits))


def _entries(baseline: Mapping | None) -> list[Mapping]:
    if not baseline:
        return []
    return [*baseline.get("services", {}).values(), *([baseline["fleet"]] if baseline.get("fleet") else [])]


# -- recommendations ------------------------------------------------------------------------------------------
def recommend(result: Review, limits: Limits) -> list[Recommendation]:
    found: list[Recommendation] = []
    for service in result.services:
        found += _service_recommendations(service, limits)
    error = result.fleet_stats["errorRate"]
    error_anomaly = result.fleet_comparisons.get("errorRate")
    if error.mean is not None and error.mean >= limits.error_rate_percent:
        found.append(
            Recommendation(
                1,
                FLEET,
                f"Error rate {error.mean:.2f} % is above {limits.error_rate_percent:g} %: investigate the agents' "
                "ERROR logs (daily-health-check names the failing criterion).",
            )
        )
    elif error_anomaly and error_anomaly.anomalous and error_anomaly.direction == "above":
        found.append(Recommendation(2, FLEET, f"Errors rose: {error_anomaly.text}; investigate the agents' logs."))
    response = result.fleet_comparisons.get("responseTimeP99")
    if response and response.anomalous and response.direction == "above":
        found.append(Recommendation(2, FLEET, f"Slower responses: {response.text}; investigate the slowest agent."))
    if not found:
        found.append(Recommendation(3, FLEET, "No action needed: every service is within its thresholds and baseline."))
    return sorted(found, key=lambda r: r.priority)


def _urgency(forecast_: Forecast) -> int:
    return 1 if forecast_.verdict == "above" or (forecast_.days is not None and forecast_.days <= SOON_DAYS) else 2


def _service_recommendations(service: ServiceReview, limits: Limits) -> list[Recommendation]:
    agent, found = service.agent, []
    cpu, memory = service.forecasts["cpu"], service.forecasts["memory"]
    policies = (service.scaling or {}).get("policies") or []
    desired = service.desired
    if cpu.soon:
        when = "now" if cpu.verdict == "above" else "before then"
        if desired is not None and desired >= service.cap:
            found.append(
                Recommendation(
                    1,
                    agent,
                    f"{agent} {cpu.text} and already runs its cap of {service.cap} tasks: raise the cap "
                    "(highCpu.maxDesiredCount, or the scalable target's maximum) or the task size.",
                )
            )
        else:
            target = f" (desired {desired} -> {desired + 1})" if desired is not None else ""
            found.append(
                Recommendation(
                    _urgency(cpu),
                    agent,
                    f"{agent} {cpu.text}: scale it out {when}{target} with scale-agent"
                    + ("." if policies else ", or give it a scaling policy (scale-agent autoScaling)."),
                )
            )
    if memory.soon:
        found.append(
            Recommendation(
                _urgency(memory),
                agent,
                f"{agent} {memory.text}: investigate its memory growth (memory-leak runbook) or raise its task "
                "memory; more tasks do not lower the memory of each task.",
            )
        )
    for metric, comparison in service.comparisons.items():
        if not comparison.anomalous:
            continue
        if comparison.direction == "above":
            what = {
                "cpu": "the CPU rise (more load, or a hot loop?)",
                "memory": "the memory rise (possible leak)",
                "latencyP95": "the slower agent communication",
            }[metric]
            found.append(Recommendation(2, agent, f"Anomaly: {comparison.text}. Investigate {what}."))
        else:
            found.append(
                Recommendation(
                    3, agent, f"Anomaly: {comparison.text}. Check that {agent} still receives and does its work."
                )
            )
    stats = service.stats["cpu"]
    if not policies and stats.peak is not None and stats.peak >= limits.cpu_percent and not cpu.soon:
        found.append(
            Recommendation(
                2,
                agent,
                f"CPU peaked at {stats.peak:.1f} % with no scaling policy: give {agent} the step-scaling policy "
                "(scale-agent autoScaling).",
            )
        )
    idle = (
        stats.peak is not None
        and stats.mean is not None
        and stats.peak < IDLE_CPU_PEAK_PERCENT
        and stats.mean < IDLE_CPU_MEAN_PERCENT
    )
    if idle and desired is not None and desired > limits.min_desired_count:
        found.append(
            Recommendation(
                3,
                agent,
                f"{agent} is over-provisioned (CPU mean {stats.mean:.1f} %, peak {stats.peak:.1f} %): consider "
                f"desired {desired} -> {desired - 1}.",
            )
        )
    return found


# -- the updated baseline -------------------------------------------------------------------------------------
def updated_baseline(
    stored: Mapping | None,
    result: Review,
    environment: str,
    report_date: str,
    updated_at: str,
    window_days: int,
) -> tuple[dict, list[str]]:
    """The baseline after this run, and the metrics held out of it because they were anomalous.

    Blends the window into the baseline the run compared with (so a rerun for the same date gives the same
    document); services this run did not review keep their entries.
    """
    compared_with = baseline_for_comparison(stored, report_date)
    services = {agent: dict(entry) for agent, entry in ((compared_with or {}).get("services") or {}).items()}
    held_out: list[str] = []
    for service in result.services:
        services[service.agent] = _blend(
            _baseline_entry(compared_with, service.agent), service.stats, service.comparisons, held_out
        )
    fleet = _blend(_baseline_entry(compared_with, FLEET), result.fleet_stats, result.fleet_comparisons, held_out)
    previous = None if compared_with is None else {k: v for k, v in compared_with.items() if k != "previous"}
    document = {
        "schema": BASELINE_SCHEMA,
        "environment": environment,
        "updatedAt": updated_at,
        "updatedFor": report_date,
        "windowDays": window_days,
        "services": services,
        "fleet": fleet,
        "previous": previous,
    }
    return document, held_out


def _blend(
    entry: Mapping | None, stats: Mapping[str, SeriesStats], comparisons: Mapping[str, Comparison], held: list[str]
) -> dict:
    old = dict((entry or {}).get("metrics") or {})
    weeks = int((entry or {}).get("weeks", 0))
    weight = 1.0 / (min(weeks, MAX_BLENDED_WEEKS - 1) + 1)
    metrics, learned = dict(old), False
    for metric, current in stats.items():
        if current.mean is None:
            continue
        comparison = comparisons.get(metric)
        if comparison is not None and comparison.anomalous:
            held.append(f"{comparison.scope} {METRICS[metric].label}")
            continue
        before = old.get(metric)
        if before is None or before.get("mean") is None:
            metrics[metric] = {"mean": _round(current.mean, 3), "std": _round(current.std, 3)}
        else:
            mean = (1 - weight) * float(before["mean"]) + weight * current.mean
            variance = (1 - weight) * float(before.get("std") or 0.0) ** 2 + weight * current.std**2
            metrics[metric] = {"mean": _round(mean, 3), "std": _round(math.sqrt(variance), 3)}
        learned = True
    return {"weeks": weeks + 1 if learned else weeks, "metrics": metrics}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
