"""weekly-performance-review: the trend, forecast, anomaly and baseline maths (pure), the report rendering, the
request, and the steps against emulated AWS, called as the state machine calls them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from remediation import clock
from remediation.domain import performance, performance_report, summaries
from remediation.domain.performance import Limits, ServiceInput
from remediation.domain.requests.scheduled_reviews import normalize_weekly_review
from remediation.domain.summaries import RunContext
from remediation.errors import InvalidInput
from remediation.handlers import weekly_performance_review as handlers
from remediation.logic import weekly_performance_review
from simulator.emulator import EmbeddedAws, VirtualClock
from stacks.config import ConfigError, WeeklyReviewPolicy, parse_environment
from tests.unit.conftest import ACCOUNT_ID, CLUSTER, REGION, REPORTS_BUCKET, SERVICES, LambdaContext, boto

LIMITS = Limits(
    cpu_percent=70,
    memory_percent=80,
    error_rate_percent=1,
    anomaly_percent=25,
    anomaly_sigma=3,
    forecast_days=90,
    max_desired_count=6,
    min_desired_count=1,
)
WEEK = 168
REPORT_DATE = "2026-11-30"
END = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-weekly-performance-review:run-1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _line(start: float, per_hour: float, hours: int = WEEK) -> list[float | None]:
    return [start + per_hour * hour for hour in range(hours)]


def _daily_rhythm(level: float, swing: float, hours: int = WEEK) -> list[float | None]:
    return [level * (1 + swing * math.sin(2 * math.pi * hour / 24)) for hour in range(hours)]


def _service(agent: str, cpu=None, memory=None, latency=None, desired=2, scaling=None) -> ServiceInput:
    return ServiceInput(
        agent=agent,
        service_name=SERVICES[agent],
        series={
            "cpu": cpu if cpu is not None else _line(30, 0),
            "memory": memory if memory is not None else _line(45, 0),
            "latencyP95": latency if latency is not None else _line(60, 0),
        },
        desired=desired,
        running=desired,
        scaling=scaling,
    )


def _baseline(services: dict[str, dict[str, tuple[float, float]]], updated_for: str = "2026-11-23") -> dict:
    return {
        "schema": 1,
        "environment": "production",
        "updatedFor": updated_for,
        "services": {
            agent: {"weeks": 3, "metrics": {m: {"mean": mean, "std": std} for m, (mean, std) in metrics.items()}}
            for agent, metrics in services.items()
        },
        "fleet": {"weeks": 3, "metrics": {"errorRate": {"mean": 0.3, "std": 0.05}}},
        "previous": None,
    }


# -- trend and forecast ---------------------------------------------------------------------------------------
def test_given_memory_rising_a_tenth_of_a_point_an_hour_when_forecast_then_it_reaches_80_percent_in_about_6_days():
    stats = performance.series_stats(_line(50, 0.1))

    forecast = performance.forecast(stats, "memory", 80, 90)

    assert stats.slope_per_day == pytest.approx(2.4)
    assert stats.fit == pytest.approx(1.0)
    assert (forecast.verdict, round(forecast.days, 1)) == ("reaches", 5.5)
    assert forecast.text == "reaches 80 % memory in ~6 days (+2.40 points/day)"


def test_given_a_slow_rise_when_forecast_then_it_is_not_within_the_horizon():
    stats = performance.series_stats(_line(30, 0.2 / 24))

    forecast = performance.forecast(stats, "cpu", 70, 90)

    assert (forecast.verdict, forecast.days) == ("not-within", None)
    assert forecast.text == "not within 90 days (rising +0.20 points/day)"


@pytest.mark.parametrize(
    "series",
    [_line(40, 0), _line(60, -0.01), _daily_rhythm(40, 0.2)],
    ids=["flat", "falling", "a-daily-rhythm-around-a-steady-level"],
)
def test_given_no_growth_when_forecast_then_no_threshold_is_reached(series):
    forecast = performance.forecast(performance.series_stats(series), "cpu", 70, 90)

    assert forecast.verdict == "not-within"
    assert forecast.text.startswith("not within 90 days (")


def test_given_the_last_day_above_the_threshold_when_forecast_then_it_is_already_there():
    forecast = performance.forecast(performance.series_stats(_line(60, 0) + _line(83, 0, 24)), "memory", 80, 90)

    assert (forecast.verdict, forecast.soon) == ("above", True)
    assert forecast.text.startswith("already at ")


def test_given_less_than_a_day_of_datapoints_when_forecast_then_it_says_so():
    series: list[float | None] = [None] * WEEK
    series[-5:] = [50.0] * 5

    forecast = performance.forecast(performance.series_stats(series), "cpu", 70, 90)

    assert forecast.verdict == "no-data"
    assert "too few hourly datapoints (5)" in forecast.text


def test_gaps_in_a_series_keep_the_hours_of_the_values_around_them():
    series = _line(10, 1.0)
    series[10:50] = [None] * 40

    stats = performance.series_stats(series)

    assert stats.points == WEEK - 40
    assert stats.slope_per_day == pytest.approx(24.0)
    assert stats.peak == pytest.approx(10 + WEEK - 1)


# -- anomalies against the baseline ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "current", "baseline", "anomalous", "direction"),
    [
        ("memory", 78.0, {"mean": 45.0, "std": 2.0}, True, "above"),
        ("memory", 50.0, {"mean": 45.0, "std": 2.0}, False, "above"),  # +11 %: under 25 %
        ("cpu", 60.0, {"mean": 40.0, "std": 10.0}, False, "above"),  # +50 % but only 2 sigma
        ("errorRate", 0.3, {"mean": 0.2, "std": 0.01}, False, "above"),  # +50 %, 10 sigma, but 0.1 point
        ("errorRate", 1.2, {"mean": 0.2, "std": 0.05}, True, "above"),
        ("cpu", 12.0, {"mean": 40.0, "std": 3.0}, True, "below"),
        ("latencyP95", 140.0, {"mean": 60.0, "std": 0.0}, True, "above"),  # a constant baseline: sigma n/a
    ],
    ids=["memory-far-above", "small-rise", "within-the-spread", "error-rate-noise", "error-rate", "cpu-drop", "flat"],
)
def test_an_anomaly_needs_the_percentage_the_sigmas_and_the_floor(metric, current, baseline, anomalous, direction):
    comparison = performance.compare("supervisor", metric, current, baseline, 25, 3)

    assert (comparison.anomalous, comparison.direction) == (anomalous, direction)


def test_given_no_baseline_when_compared_then_nothing_is_anomalous_and_the_text_says_so():
    comparison = performance.compare("supervisor", "memory", 78.0, None, 25, 3)

    assert not comparison.anomalous
    assert comparison.text == "supervisor memory: 78.0 % (no baseline)"


def test_an_anomaly_reads_as_mean_against_baseline_with_the_change_and_sigmas():
    comparison = performance.compare("financial-intelligence", "memory", 78.0, {"mean": 45.0, "std": 2.0}, 25, 3)

    assert comparison.text == ("financial-intelligence memory: mean 78.0 % vs baseline 45.0 % (+73 %, 16.5 \u03c3)")


# -- the baseline ---------------------------------------------------------------------------------------------
def test_given_no_stored_baseline_when_reviewed_then_the_new_one_is_this_week():
    result = performance.review(
        [_service("supervisor", cpu=_line(40, 0))], {"errorRate": _line(0.2, 0)}, None, REPORT_DATE, LIMITS
    )

    document, held_out = performance.updated_baseline(None, result, "production", REPORT_DATE, "now", 7)

    assert not result.baseline_found and result.anomalies == []
    assert document["services"]["supervisor"] == {
        "weeks": 1,
        "metrics": {
            "cpu": {"mean": 40.0, "std": 0.0},
            "memory": {"mean": 45.0, "std": 0.0},
            "latencyP95": {"mean": 60.0, "std": 0.0},
        },
    }
    assert document["fleet"]["metrics"]["errorRate"]["mean"] == pytest.approx(0.2)
    assert (document["updatedFor"], document["previous"], held_out) == (REPORT_DATE, None, [])


def test_a_week_is_blended_into_the_baseline_and_an_anomalous_metric_is_held_out():
    stored = _baseline({"supervisor": {"cpu": (30.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (60.0, 6.0)}})
    service = _service("supervisor", cpu=_line(34, 0), memory=_line(80, 0))
    result = performance.review([service], {"errorRate": _line(0.3, 0)}, stored, REPORT_DATE, LIMITS)

    document, held_out = performance.updated_baseline(stored, result, "production", REPORT_DATE, "now", 7)

    metrics = document["services"]["supervisor"]["metrics"]
    assert metrics["cpu"]["mean"] == pytest.approx(30 + (34 - 30) / 4), "the newest of 4 weeks weighs 1/4"
    assert metrics["memory"] == {"mean": 45.0, "std": 2.0}, "the anomaly is not learned"
    assert held_out == ["supervisor memory"]
    assert document["services"]["supervisor"]["weeks"] == 4
    assert document["previous"]["updatedFor"] == "2026-11-23"


def test_a_rerun_for_the_same_date_compares_with_the_baseline_before_the_first_run_and_writes_the_same():
    stored = _baseline({"supervisor": {"cpu": (30.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (60.0, 6.0)}})
    services, fleet = [_service("supervisor", cpu=_line(34, 0))], {"errorRate": _line(0.3, 0)}
    first, _ = performance.updated_baseline(
        stored, performance.review(services, fleet, stored, REPORT_DATE, LIMITS), "production", REPORT_DATE, "t1", 7
    )

    again = performance.review(services, fleet, first, REPORT_DATE, LIMITS)
    second, _ = performance.updated_baseline(first, again, "production", REPORT_DATE, "t1", 7)

    assert again.baseline_from == "2026-11-23"
    assert second == first


def test_services_not_in_this_review_keep_their_baseline():
    stored = _baseline(
        {
            "supervisor": {"cpu": (30.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (60.0, 6.0)},
            "threat-hunter": {"cpu": (50.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (80.0, 6.0)},
        }
    )
    result = performance.review([_service("supervisor")], {"errorRate": _line(0.3, 0)}, stored, REPORT_DATE, LIMITS)

    document, _ = performance.updated_baseline(stored, result, "production", REPORT_DATE, "now", 7)

    assert document["services"]["threat-hunter"] == stored["services"]["threat-hunter"]


# -- recommendations ------------------------------------------------------------------------------------------
def _recommendations(*services: ServiceInput, error_rate: float = 0.2) -> list[str]:
    result = performance.review(list(services), {"errorRate": _line(error_rate, 0)}, None, REPORT_DATE, LIMITS)
    return [f"{r.priority} {r.text}" for r in result.recommendations]


def test_cpu_reaching_its_threshold_soon_recommends_scaling_out_before_then():
    (text,) = _recommendations(_service("threat-hunter", cpu=_line(32, 0.12), desired=2))

    assert text.startswith("1 threat-hunter reaches 70 % CPU in ~")
    assert "scale it out before then (desired 2 -> 3) with scale-agent, or give it a scaling policy" in text


def test_at_its_cap_the_recommendation_is_to_raise_the_cap():
    scaling = {"target": {"minCapacity": 2, "maxCapacity": 4}, "policies": []}
    (text,) = _recommendations(_service("threat-hunter", cpu=_line(72, 0), desired=4, scaling=scaling))

    assert "already runs its cap of 4 tasks: raise the cap" in text


def test_growing_memory_recommends_the_leak_investigation_not_more_tasks():
    (text,) = _recommendations(_service("financial-intelligence", memory=_line(55, 0.1)))

    assert "reaches 80 % memory" in text and "memory-leak runbook" in text


def test_an_idle_service_may_scale_in_and_a_healthy_fleet_needs_nothing():
    assert _recommendations(_service("supervisor", cpu=_line(8, 0), desired=3)) == [
        "3 supervisor is over-provisioned (CPU mean 8.0 %, peak 8.0 %): consider desired 3 -> 2."
    ]
    assert _recommendations(_service("supervisor")) == [
        "3 No action needed: every service is within its thresholds and baseline."
    ]


def test_an_error_rate_above_the_threshold_is_acted_on_first():
    texts = _recommendations(_service("supervisor"), error_rate=1.5)

    assert texts[0].startswith("1 Error rate 1.50 % is above 1 %")


# -- the report -----------------------------------------------------------------------------------------------
def _analysis(stored: dict | None = None, **overrides) -> dict:
    services = [
        _service("supervisor", scaling={"target": {"minCapacity": 2, "maxCapacity": 6}, "policies": []}),
        _service("financial-intelligence", memory=_line(78, 0)),
    ]
    result = performance.review(services, {"errorRate": _line(0.3, 0)}, stored, REPORT_DATE, LIMITS)
    document, held_out = performance.updated_baseline(stored, result, "production", REPORT_DATE, "now", 7)
    window = {"start": (END - timedelta(days=7)).isoformat(), "end": END.isoformat(), "days": 7, "hours": WEEK}
    analysis = result.to_dict(LIMITS) | {
        "reportDate": REPORT_DATE,
        "window": window,
        "loadBalancer": None,
        "errorEvents": 168.0,
        "logEvents": 50400.0,
        "requests": None,
        "responseTime": None,
        "newBaseline": document,
        "baselineUpdate": {"updated": True, "heldOut": held_out, "why": None},
    }
    return analysis | overrides


ANOMALOUS_BASELINE = _baseline(
    {
        "supervisor": {"cpu": (30.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (60.0, 6.0)},
        "financial-intelligence": {"cpu": (30.0, 3.0), "memory": (45.0, 2.0), "latencyP95": (60.0, 6.0)},
    }
)
CONTEXT = performance_report.ReportContext(
    "production",
    REGION,
    REPORTS_BUCKET,
    "weekly-performance-review/2026-11-30/",
    "2026-11-30T06:01:00",
    "schedule",
    "/aws/acso/production/agents",
)


def _graphs(analysis: dict, load_balancer: str | None = None) -> list[performance_report.RenderedGraph]:
    widgets = performance_report.graph_widgets(
        ["supervisor", "financial-intelligence"], SERVICES, CLUSTER, analysis, load_balancer
    )
    return [performance_report.RenderedGraph(graph, PNG) for graph in widgets]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_report_is_self_contained_with_a_summary_table_first_and_the_anomaly_highlighted():
    analysis = _analysis(ANOMALOUS_BASELINE)
    page = performance_report.html(analysis, _graphs(analysis), CONTEXT)
    parser = _Tags()
    parser.feed(page)
    tags = parser.tags

    assert not [t for t, attrs in tags if t in ("script", "link", "iframe")], "no external resource, no script"
    images = [attrs["src"] for t, attrs in tags if t == "img"]
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Anomalies") < page.index("<h2>Graphs</h2>")
    assert page.count('class="num anomaly"') == 1
    assert "financial-intelligence memory: mean 78.0 % vs baseline 45.0 %" in page
    assert "No load balancer is configured" in page


def test_report_text_is_escaped():
    analysis = _analysis()
    analysis["recommendations"] = [{"priority": 2, "scope": "x", "text": "<script>alert(1)</script>"}]

    page = performance_report.html(analysis, _graphs(analysis), CONTEXT)

    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_markdown_report_has_the_summary_the_forecast_the_graphs_and_says_when_there_was_no_baseline():
    analysis = _analysis(None)
    text = performance_report.markdown(analysis, _graphs(analysis), CONTEXT)

    assert text.startswith("# ACSO production weekly performance review, 2026-11-30")
    assert "| supervisor | 2/2 (2-6) | 30.0 % | 30.0 % | no baseline |" in text
    assert "No baseline was stored yet: nothing to compare with this time. Baseline created from this window." in text
    assert "![CPU utilization](cpu.png)" in text and "![Error rate](error-rate.png)" in text
    assert "| financial-intelligence | not within 90 days (flat) |" in text


def test_the_graphs_are_cloudwatch_widgets_over_the_window_with_the_thresholds():
    analysis = _analysis()
    graphs = performance_report.graph_widgets(
        ["supervisor", "financial-intelligence"], SERVICES, CLUSTER, analysis, "app/acso-alb/0123456789abcdef"
    )

    assert [g.file for g in graphs] == ["cpu.png", "memory.png", "error-rate.png", "latency.png", "response-time.png"]
    cpu = graphs[0].widget
    assert (cpu["start"], cpu["end"], cpu["period"]) == ("2026-11-23T06:00:00Z", "2026-11-30T06:00:00Z", 3600)
    assert cpu["metrics"][0][:6] == [
        "AWS/ECS",
        "CPUUtilization",
        "ClusterName",
        CLUSTER,
        "ServiceName",
        SERVICES["supervisor"],
    ]
    assert cpu["annotations"]["horizontal"][0]["value"] == 70
    assert graphs[1].widget["annotations"]["horizontal"][0]["value"] == 80
    assert graphs[2].widget["metrics"][0][0]["expression"] == "100 * errors / events"
    assert graphs[3].widget["stat"] == "p95"


def test_scaling_policies_read_as_one_line_each():
    step = {
        "PolicyName": "acso-supervisor-scale-up",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"ScalingAdjustment": 1}, {"ScalingAdjustment": 2}],
        },
        "Alarms": [{"AlarmName": "acso-supervisor-scale-up"}],
    }
    tracking = {
        "PolicyName": "cpu",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    }

    assert (
        performance_report.policy_summary(step)["summary"] == "step scaling: +1, +2 tasks on acso-supervisor-scale-up"
    )
    assert performance_report.policy_summary(tracking)["summary"] == (
        "target tracking: ECSServiceAverageCPUUtilization at 60"
    )


# -- the L1 summary -------------------------------------------------------------------------------------------
def _summary(analysis: dict) -> summaries.Decision:
    report = {
        "bucket": REPORTS_BUCKET,
        "prefix": "weekly-performance-review/2026-11-30/",
        "keys": {"html": "weekly-performance-review/2026-11-30/report.html"},
    }
    state = {"request": {"trigger": "schedule"}, "analysis": analysis, "report": report}
    return summaries.weekly_performance_review(
        state, RunContext("production", REGION, RUN, "/aws/acso/production/agents")
    )


def test_the_l1_summary_names_the_anomaly_and_links_the_report():
    decision = _summary(_analysis(ANOMALOUS_BASELINE))

    assert (decision.decision, decision.level) == ("anomalous", "L1")
    assert decision.subject == (
        "[ACSO production] weekly review 2026-11-30: 1 ANOMALY (financial-intelligence memory +73 %)"
    )
    message = "\n".join(decision.lines)
    assert "ANOMALY financial-intelligence memory: mean 78.0 % vs baseline 45.0 %" in message
    assert (
        "https://s3.console.aws.amazon.com/s3/object/acso-production-remediation-reports?region=eu-west-1"
        "&prefix=weekly-performance-review/2026-11-30/report.html" in message
    )
    assert decision.after["anomalies"] == 1


def test_the_first_l1_summary_says_the_baseline_was_created():
    decision = _summary(_analysis(None))

    assert decision.decision == "reported"
    assert decision.subject == "[ACSO production] weekly review 2026-11-30: first baseline, no threshold in sight"
    assert "No baseline stored yet: nothing compared; this run created it." in decision.lines


# -- the request ----------------------------------------------------------------------------------------------
def test_the_schedule_reviews_every_agent_over_the_configured_week(settings_only):
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-30T06:00:00Z", "detail": {}}

    request = normalize_weekly_review(event, settings_only(), "exec-1")

    assert (request.trigger, request.agents, request.days) == ("schedule", tuple(SERVICES), 7)


def test_the_console_may_name_agents_by_service_and_ask_for_more_days(settings_only):
    request = normalize_weekly_review(
        {"services": ["acso-production-supervisor", "threat-hunter"], "days": 14}, settings_only(), "exec-1"
    )

    assert (request.trigger, request.agents, request.days) == ("console", ("supervisor", "threat-hunter"), 14)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        "*",
        {"services": "*"},
        {"services": []},
        {"services": ["nope"]},
        {"services": "all", "days": 0},
        {"services": "all", "days": 29},
        {"services": "all", "days": "7"},
        {"services": "all", "x": 1},
    ],
)
def test_bad_console_input_is_rejected_with_what_to_send(settings_only, raw):
    with pytest.raises(InvalidInput) as rejected:
        normalize_weekly_review(raw, settings_only(), "exec-1")

    assert any(hint in str(rejected.value) for hint in ('{"services": "all"}', "Configured agents"))


# -- the steps against emulated AWS ---------------------------------------------------------------------------
def _request(days: int = 7, agents: tuple[str, ...] = ("supervisor", "threat-hunter")) -> dict:
    return {
        "runbook": "weekly-performance-review",
        "trigger": "console",
        "dry_run": False,
        "idempotency_key": "console:run-1",
        "reason": "test",
        "agents": list(agents),
        "days": days,
    }


@pytest.fixture
def emulated(settings_only) -> Iterator[EmbeddedAws]:
    """The emulator (percentiles, GetMetricWidgetImage) with virtual time at the review's end."""
    with EmbeddedAws(VirtualClock(END + timedelta(minutes=3)), region=REGION) as aws:
        clock.use_source(aws.clock.now)
        aws.client("s3").create_bucket(Bucket=REPORTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield aws
        clock.use_source(None)


def _seed_week(aws: EmbeddedAws) -> None:
    cloudwatch = aws.client("cloudwatch")
    for hour in range(WEEK):
        stamp = END - timedelta(days=7) + timedelta(hours=hour, minutes=30)
        data = []
        for agent in ("supervisor", "threat-hunter"):
            dimensions = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SERVICES[agent]}]
            data += [
                {"MetricName": "CPUUtilization", "Dimensions": dimensions, "Timestamp": stamp, "Value": 30 + hour / 10},
                {"MetricName": "MemoryUtilization", "Dimensions": dimensions, "Timestamp": stamp, "Value": 45.0},
            ]
        cloudwatch.put_metric_data(Namespace="AWS/ECS", MetricData=data)
        cloudwatch.put_metric_data(
            Namespace="ACSO/Agents",
            MetricData=[
                {"MetricName": "ErrorLogEvents", "Timestamp": stamp, "Value": 1.0},
                {"MetricName": "LogEvents", "Timestamp": stamp, "Value": 200.0},
                {
                    "MetricName": "CommunicationLatency",
                    "Dimensions": [{"Name": "Agent", "Value": "supervisor"}],
                    "Timestamp": stamp,
                    "Values": [20.0, 40.0, 100.0],
                },
            ],
        )


def test_collect_reads_the_week_of_every_metric_in_one_get_metric_data_call_on_an_hourly_grid(emulated):
    _seed_week(emulated)
    emulated.reset_api_calls()

    observed = handlers.collect_metrics({"request": _request()}, LambdaContext())

    assert emulated.api_calls() == {"cloudwatch.GetMetricData": 1}
    supervisor = observed["services"]["supervisor"]
    assert len(supervisor["cpu"]) == WEEK
    assert supervisor["cpu"][0] == pytest.approx(30.0) and supervisor["cpu"][-1] == pytest.approx(46.7)
    assert set(supervisor["latencyP95"]) == {100.0}
    assert observed["services"]["threat-hunter"]["latencyP95"] == [None] * WEEK, "no latency published"
    assert set(observed["fleet"]["errorRate"]) == {0.5}
    assert (observed["fleet"]["errorEvents"], observed["fleet"]["logEvents"]) == (168.0, 33600.0)
    assert observed["window"] == {
        "start": (END - timedelta(days=7)).isoformat(),
        "end": END.isoformat(),
        "days": 7,
        "hours": WEEK,
    }
    assert "responseTime" not in observed["fleet"]


def test_analyze_then_publish_write_graphs_report_and_baseline_and_a_shorter_review_does_not_learn(emulated):
    _seed_week(emulated)
    observed = {
        "metrics": handlers.collect_metrics({"request": _request()}, LambdaContext()),
        "services": {a: {"desired_count": 2, "running_count": 2} for a in ("supervisor", "threat-hunter")},
        "scaling": handlers.describe_scaling({"agents": ["supervisor", "threat-hunter"]}, LambdaContext()),
    }
    emulated.reset_api_calls()

    analysis = handlers.analyze({"request": _request(), "observed": observed}, LambdaContext())
    report = handlers.publish_report({"request": _request(), "analysis": analysis}, LambdaContext())

    assert not analysis["baseline"]["found"], "the first run finds no baseline (NoSuchKey) and says so"
    assert analysis["services"][0]["forecasts"]["cpu"]["verdict"] == "reaches"
    prefix = "weekly-performance-review/2026-11-30/"
    listed = boto("s3").list_objects_v2(Bucket=REPORTS_BUCKET, Prefix="weekly-performance-review/")["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(
        [f"{prefix}{name}" for name in ("cpu.png", "memory.png", "error-rate.png", "latency.png")]
        + [
            f"{prefix}report.md",
            f"{prefix}report.html",
            f"{prefix}baseline.json",
            "weekly-performance-review/baseline.json",
        ]
    )
    image = boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=f"{prefix}cpu.png")
    assert image["ContentType"] == "image/png" and image["Body"].read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["keys"]["html"] == f"{prefix}report.html"
    assert emulated.api_calls()["cloudwatch.GetMetricWidgetImage"] == 4

    shorter = handlers.analyze({"request": _request(days=3), "observed": observed}, LambdaContext())

    assert shorter["newBaseline"] is None
    assert shorter["baselineUpdate"]["why"] == "a 3-day review; only 7-day reviews update the baseline"


def test_describe_scaling_lists_each_services_target_and_policies(emulated):
    ecs, autoscaling = emulated.client("ecs"), emulated.client("application-autoscaling")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(family="t", containerDefinitions=[{"name": "t", "image": "i", "memory": 512}])
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICES["supervisor"], taskDefinition="t", desiredCount=2)
    resource = f"service/{CLUSTER}/{SERVICES['supervisor']}"
    autoscaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=6,
    )
    autoscaling.put_scaling_policy(
        PolicyName="acso-supervisor-cpu-target",
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )

    scaling = handlers.describe_scaling({"agents": ["supervisor", "threat-hunter"]}, LambdaContext())

    assert scaling["supervisor"]["target"] == {"minCapacity": 2, "maxCapacity": 6}
    assert [p["name"] for p in scaling["supervisor"]["policies"]] == ["acso-supervisor-cpu-target"]
    assert scaling["threat-hunter"] == {"target": None, "policies": []}


def test_the_review_window_is_whole_hours_ending_at_the_current_hour():
    start, end = weekly_performance_review.review_window(7, datetime(2026, 11, 30, 6, 42, 13, tzinfo=UTC))

    assert (start, end) == (datetime(2026, 11, 23, 6, 0, tzinfo=UTC), datetime(2026, 11, 30, 6, 0, tzinfo=UTC))


# -- configuration (cdk.json acso:defaults.weeklyPerformanceReview, schedules.weeklyPerformanceReview) ----------
def _context() -> dict:
    return json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _production(**overrides):
    return parse_environment("production", _context()["acso:defaults"], overrides)


def test_checked_in_config_reviews_a_week_every_monday_without_a_load_balancer():
    config = _production()

    assert config.schedules.weekly_performance_review == "cron(0 6 ? * MON *)"
    assert config.weekly_review == WeeklyReviewPolicy(
        days=7, anomaly_percent=25, anomaly_sigma=3, forecast_days=90, load_balancer=None
    )
    balancer = "app/acso-alb/0123456789abcdef"
    assert _production(weeklyPerformanceReview={"loadBalancer": balancer}).weekly_review.load_balancer == balancer


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"weeklyPerformanceReview": {"days": 0}}, "weeklyPerformanceReview.days"),
        ({"weeklyPerformanceReview": {"days": 29}}, "weeklyPerformanceReview.days"),
        ({"weeklyPerformanceReview": {"anomalySigma": 0}}, "weeklyPerformanceReview.anomalySigma"),
        ({"weeklyPerformanceReview": {"anomalyPercent": 0}}, "weeklyPerformanceReview.anomalyPercent"),
        ({"weeklyPerformanceReview": {"loadBalancer": "my-alb"}}, "weeklyPerformanceReview.loadBalancer"),
        ({"schedules": {"weeklyPerformanceReview": "mondays"}}, "schedules.weeklyPerformanceReview"),
    ],
)
def test_a_wrong_weekly_review_value_fails_synth_naming_its_key(override, key):
    with pytest.raises(ConfigError, match=f"acso:environments.production.{key}"):
        _production(**override)
