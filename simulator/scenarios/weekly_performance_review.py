"""Scenarios of the weekly-performance-review runbook: a week of simulated production history (hourly CPU, memory,
log metrics and agent latency), a baseline stored by "last week's" run, the report read back from the emulated
bucket. Each scenario copies its report folder to simulation-output/ so a person can open report.html."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from simulator.harness import WRITE_OPERATIONS, Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels
from simulator.synthesized import REGION
from simulator.world import ServiceProfile

RUNBOOK = "weekly-performance-review"
PREFIX = "weekly-performance-review/"
OUTPUT = Path("simulation-output")
# Monday 06:00 UTC, when the schedule fires: the review covers Mon 23 Nov 06:00 to Mon 30 Nov 06:00.
MONDAY = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
REPORT_DATE, LAST_WEEK = "2026-11-30", "2026-11-23"
GRAPHS = ("cpu.png", "memory.png", "error-rate.png", "latency.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAPH_SIZE = (900, 340)


def _profiles(**overrides: ServiceProfile) -> dict[str, ServiceProfile]:
    """Every agent with the day's rhythm; incident-response logs one ERROR an hour (a 0.33 % error rate)."""
    profiles = {
        "supervisor": ServiceProfile(
            cpu_percent=38.0, memory_percent=42.0, daily_swing=0.2, autoscaling=(2, 6), latency_ms=35.0
        ),
        "threat-hunter": ServiceProfile(cpu_percent=45.0, memory_percent=51.0, daily_swing=0.15, latency_ms=50.0),
        "incident-response": ServiceProfile(
            cpu_percent=30.0, memory_percent=38.0, daily_swing=0.15, error_share=1 / 60
        ),
        "service-orchestration": ServiceProfile(
            cpu_percent=25.0, memory_percent=47.0, daily_swing=0.1, latency_ms=30.0
        ),
        "financial-intelligence": ServiceProfile(cpu_percent=32.0, memory_percent=55.0, daily_swing=0.1),
    }
    return profiles | overrides


# threat-hunter's load grew all week (CPU about 32 % -> 52 %), financial-intelligence's memory climbs 0.1 point an
# hour (55 % -> 72 %): both reach their thresholds within days at this growth.
GROWING = _profiles(
    **{
        "threat-hunter": ServiceProfile(
            cpu_percent=52.0, memory_percent=51.0, cpu_growth_per_hour=0.12, daily_swing=0.1, latency_ms=50.0
        ),
        "financial-intelligence": ServiceProfile(
            cpu_percent=32.0, memory_percent=55.0, memory_growth_per_hour=0.1, daily_swing=0.1
        ),
    }
)
# financial-intelligence now holds 78 % memory, steadily; its baseline says 45 %.
ANOMALY = _profiles(
    **{"financial-intelligence": ServiceProfile(cpu_percent=32.0, memory_percent=78.0, daily_swing=0.1)}
)


def last_weeks_baseline(memory: dict[str, float] | None = None) -> dict:
    """The baseline a run a week earlier left (schema of functions/remediation/domain/performance.py)."""
    levels_ = {  # CPU %, memory %, latency p95 ms of each agent, as last week's run measured them
        "supervisor": (38.0, 42.0, 60.0),
        "threat-hunter": (40.0, 51.0, 85.0),
        "incident-response": (30.0, 38.0, 68.0),
        "service-orchestration": (25.0, 47.0, 51.0),
        "financial-intelligence": (32.0, 58.0, 68.0),
    }
    memory = memory or {}
    services = {
        agent: {
            "weeks": 3,
            "metrics": {
                "cpu": {"mean": cpu, "std": cpu * 0.12},
                "memory": {"mean": memory.get(agent, mem), "std": 2.0},
                "latencyP95": {"mean": latency, "std": latency * 0.1},
            },
        }
        for agent, (cpu, mem, latency) in levels_.items()
    }
    return {
        "schema": 1,
        "environment": "production",
        "updatedAt": f"{LAST_WEEK}T06:04:00+00:00",
        "updatedFor": LAST_WEEK,
        "windowDays": 7,
        "services": services,
        "fleet": {"weeks": 3, "metrics": {"errorRate": {"mean": 0.33, "std": 0.05}}},
        "previous": None,
    }


def _store_baseline(h: Harness, baseline: dict) -> None:
    h.aws.client("s3").put_object(
        Bucket=h.stack.reports_bucket,
        Key=f"{PREFIX}baseline.json",
        Body=json.dumps(baseline).encode(),
        ContentType="application/json",
    )


def _supervisor_target_tracking(h: Harness) -> None:
    """The platform's target-tracking policy on supervisor (its scalable target 2-6 is seeded by the profile)."""
    h.aws.client("application-autoscaling").put_scaling_policy(
        PolicyName="acso-supervisor-cpu-target",
        ServiceNamespace="ecs",
        ResourceId=f"service/{h.settings['clusterName']}/{h.service_name('supervisor')}",
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )


def _read_back(h: Harness, folder: str) -> None:
    """Every report object into h.observed (bytes) and under simulation-output/<folder>/."""
    s3, bucket = h.aws.client("s3"), h.stack.reports_bucket
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])]
    objects = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
    h.observed["objects"] = objects
    h.observed["bucket"] = bucket
    target = OUTPUT / folder
    for key, body in objects.items():
        path = target / key.removeprefix(PREFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


# -- weekly-review --------------------------------------------------------------------------------------------
def _weekly(h: Harness) -> None:
    _supervisor_target_tracking(h)
    _store_baseline(h, last_weeks_baseline())
    h.fire_schedule(RUNBOOK)
    h.settle()
    _read_back(h, "weekly-performance-review")


def _object(o: Outcome, name: str) -> bytes:
    return o.observed.get("objects", {}).get(f"{PREFIX}{REPORT_DATE}/{name}", b"")


def _png_size(image: bytes) -> tuple[int, int] | None:
    if image[:8] != PNG_SIGNATURE or image[12:16] != b"IHDR":
        return None
    return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")


def _report_link(o: Outcome) -> str:
    key = quote(f"{PREFIX}{REPORT_DATE}/report.html")
    return f"https://s3.console.aws.amazon.com/s3/object/{o.observed.get('bucket')}?region={REGION}&prefix={key}"


def _production_writes(o: Outcome) -> int:
    """Writes to ECS, Application Auto Scaling or SSM (reading the scaling policies is not one)."""
    return sum(
        count for name, count in o.api_calls.items() if name.startswith(WRITE_OPERATIONS) and ".Describe" not in name
    )


def _common(o: Outcome, decision: str) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    html = _object(o, "report.html").decode()
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "a week of every agent's metrics in exactly one cloudwatch.GetMetricData call",
            o.api_calls.get("cloudwatch.GetMetricData") == 1,
        ),
        ("scaling policies read in one call", o.api_calls.get("application-autoscaling.DescribeScalingPolicies") == 1),
        (
            "four graphs rendered by CloudWatch, each a valid PNG of the widget's size in the report folder",
            o.api_calls.get("cloudwatch.GetMetricWidgetImage") == len(GRAPHS)
            and all(_png_size(_object(o, graph)) == GRAPH_SIZE for graph in GRAPHS),
        ),
        (
            "report.md and a self-contained report.html (graphs embedded) written",
            bool(_object(o, "report.md")) and html.count('src="data:image/png;base64,') == len(GRAPHS),
        ),
        ("no write to production", _production_writes(o) == 0 and not o.actions),
        (f"one audit record: {decision}", decisions(o) == [decision]),
        every_execution_audited(o),
        ("one short L1 summary", levels(o) == ["L1"] and len(message.splitlines()) < 40),
        ("it links the report (S3 console)", _report_link(o) in message),
    ]


def _expect_weekly(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    html = _object(o, "report.html").decode()
    baseline = json.loads(o.observed.get("objects", {}).get(f"{PREFIX}baseline.json", b"{}"))
    return [
        *_common(o, "reported"),
        (
            "the baseline was compared (last week's) and no anomaly found",
            f"Compared with the baseline of {LAST_WEEK}" in html and "No anomaly against the baseline." in message,
        ),
        (
            "a forecast is present: threat-hunter reaches 70 % CPU, financial-intelligence 80 % memory, in days",
            "threat-hunter: reaches 70 % CPU in ~" in message
            and "financial-intelligence: reaches 80 % memory in ~" in message
            and "reaches 70 % CPU in ~" in html,
        ),
        ("the others are not within 90 days", "not within 90 days" in html),
        (
            "recommends scaling threat-hunter out before then",
            "threat-hunter reaches 70 % CPU" in message and "scale it out before then (desired 2 -> 3)" in message,
        ),
        (
            "the subject says it in 100 characters",
            o.notifications[0]["subject"] == f"[ACSO production] weekly review {REPORT_DATE}: no anomaly, 2 thresholds "
            "within 90 days"
            if o.notifications
            else False,
        ),
        (
            "the scaling policies in force are in the report",
            "acso-supervisor-cpu-target: target tracking: ECSServiceAverageCPUUtilization at 60" in html,
        ),
        (
            "the updated baseline is stored (this week blended in, last week's kept as previous)",
            baseline.get("updatedFor") == REPORT_DATE
            and (baseline.get("previous") or {}).get("updatedFor") == LAST_WEEK
            and baseline["services"]["supervisor"]["weeks"] == 4,
        ),
        (
            "a snapshot of the baseline sits beside the report",
            json.loads(_object(o, "baseline.json") or b"{}").get("updatedFor") == REPORT_DATE,
        ),
        ("no load balancer configured: the report says so", "No load balancer is configured" in html),
    ]


# -- weekly-review-anomaly ------------------------------------------------------------------------------------
def _anomalous(h: Harness) -> None:
    _store_baseline(h, last_weeks_baseline(memory={"financial-intelligence": 45.0}))
    h.start_console(RUNBOOK, {"services": "all"})
    h.settle()
    _read_back(h, "weekly-performance-review-anomaly")


def _expect_anomaly(o: Outcome) -> list[tuple[str, bool]]:
    notification = o.notifications[0] if o.notifications else {"subject": "", "message": ""}
    html = _object(o, "report.html").decode()
    markdown = _object(o, "report.md").decode()
    baseline = json.loads(o.observed.get("objects", {}).get(f"{PREFIX}baseline.json", b"{}"))
    held = baseline.get("services", {}).get("financial-intelligence", {}).get("metrics", {}).get("memory", {})
    return [
        *_common(o, "anomalous"),
        (
            "the L1 summary names the anomaly in its subject and body",
            "1 ANOMALY (financial-intelligence memory +73 %)" in notification["subject"]
            and "ANOMALY financial-intelligence memory: mean 78.0 % vs baseline 45.0 %" in notification["message"],
        ),
        (
            "the report flags it: highlighted in the summary table and listed under anomalies",
            'class="num anomaly"' in html
            and "financial-intelligence memory: mean 78.0 % vs baseline 45.0 %" in html
            and "ANOMALY" in markdown,
        ),
        ("only that metric is anomalous", html.count('class="num anomaly"') == 1),
        (
            "the anomaly is held out of the updated baseline (memory baseline stays 45 %)",
            held.get("mean") == 45.0 and "holding out the anomalous financial-intelligence memory" in html,
        ),
    ]


def _bad_inputs(h: Harness) -> None:
    for bad in (
        {},
        "*",
        {"services": []},
        {"services": ["nope"]},
        {"services": "all", "days": 0},
        {"services": "all", "days": 29},
        {"services": "all", "days": "7"},
        {"services": "all", "extra": 1},
    ):
        h.start_console(RUNBOOK, bad)


SCENARIOS = [
    Scenario(
        "weekly-review",
        "Monday 06:00: a week of history, threat-hunter's load and financial-intelligence's memory growing; "
        "compared with last week's baseline, forecast, report with graphs in S3, L1 summary.",
        GROWING,
        _weekly,
        _expect_weekly,
        start=MONDAY,
        history_days=7,
    ),
    Scenario(
        "weekly-review-anomaly",
        "financial-intelligence holds 78 % memory all week against a 45 % baseline: flagged in the report and "
        "the L1 summary, held out of the new baseline.",
        ANOMALY,
        _anomalous,
        _expect_anomaly,
        start=MONDAY,
        history_days=7,
    ),
    Scenario(
        "weekly-review-bad-input",
        "Console inputs the weekly review must reject before reading anything.",
        {},
        _bad_inputs,
        expect_rejected,
    ),
]
