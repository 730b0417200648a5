"""Scenarios of the daily-health-check runbook."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import (
    Scenario,
    decisions,
    expect_rejected,
    levels,
)
from simulator.synthesized import REGION
from simulator.world import ServiceProfile


# -- daily-health-check ---------------------------------------------------------------------------------
def _daily_healthy(h: Harness) -> None:
    h.fire_schedule("daily-health-check")


def _expect_healthy(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "exactly one cloudwatch.GetMetricData call for all five services",
            o.api_calls.get("cloudwatch.GetMetricData") == 1,
        ),
        ("no write to production", o.write_calls == 0 and not o.actions),
        ("one audit record: healthy", decisions(o) == ["healthy"]),
        ("no notification when healthy", o.notifications == []),
        ("report written to S3", o.api_calls.get("s3.PutObject", 0) >= 1),
    ]


DEGRADED = {
    "threat-hunter": ServiceProfile(cpu_percent=76.0),
    "financial-intelligence": ServiceProfile(memory_percent=88.0),
    "incident-response": ServiceProfile(error_share=0.1),
}


def _daily_degraded(h: Harness) -> None:
    h.world.stop_tasks("supervisor", running=1)
    h.fire_schedule("daily-health-check")


def _expect_degraded(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    return [
        ("execution succeeded (a degraded system is a finding, not a failure)", o.statuses == ["SUCCEEDED"]),
        ("exactly one cloudwatch.GetMetricData call", o.api_calls.get("cloudwatch.GetMetricData") == 1),
        ("no write to production", o.write_calls == 0 and not o.actions),
        ("one audit record: degraded", decisions(o) == ["degraded"]),
        ("one L1 notification", levels(o) == ["L1"]),
        (
            "it names every failed criterion",
            all(
                text in message
                for text in (
                    "supervisor: running-equals-desired",
                    "threat-hunter: cpu-below-threshold",
                    "financial-intelligence: memory-below-threshold",
                    "error-rate-below-threshold",
                )
            ),
        ),
        (
            "it says which runbook handles each",
            all(text in message for text in ("high-cpu", "memory-leak", "service-unavailable")),
        ),
        (
            "it links the execution and the report",
            f"{REGION}.console.aws.amazon.com/states" in message and "s3.console.aws.amazon.com" in message,
        ),
    ]


def _daily_bad_inputs(h: Harness) -> None:
    for bad in ({}, "", "*", {"services": "*"}, {"services": []}, {"services": ["nope"]}, {"services": "all", "x": 1}):
        h.start_console("daily-health-check", bad)


SCENARIOS = [
    Scenario(
        "daily-health-check-healthy",
        "Scheduled daily check of a healthy system: report only.",
        {},
        _daily_healthy,
        _expect_healthy,
    ),
    Scenario(
        "daily-health-check-degraded",
        "One task of supervisor stopped, threat-hunter CPU 76 %, financial-intelligence memory 88 %, "
        "incident-response logging 10 % errors: L1 gets every failed criterion.",
        DEGRADED,
        _daily_degraded,
        _expect_degraded,
    ),
    Scenario(
        "daily-health-check-bad-input",
        "Console inputs that must be rejected before anything runs.",
        {},
        _daily_bad_inputs,
        expect_rejected,
    ),
]
