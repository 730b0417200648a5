"""Every scenario: the fault injected into simulated production, the trigger, the expected outcome.

A scenario passes only when each of its expectations holds; expectations look at effects
(ECS desired counts, API calls, notifications, audit records), never at log text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from simulator.harness import Harness, Outcome
from simulator.synthesized import REGION
from simulator.world import ServiceProfile


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    profiles: dict[str, ServiceProfile]
    act: Callable[[Harness], None]
    expect: Callable[[Outcome], list[tuple[str, bool]]]


def _decisions(outcome: Outcome) -> list[str]:
    return [record["decision"] for record in outcome.audit_records]


def _levels(outcome: Outcome) -> list[str]:
    return [notification["level"] for notification in outcome.notifications]


def _failed_at_first_state_with_invalid_input(outcome: Outcome) -> bool:
    return all(
        execution.status == "FAILED"
        and execution.error == "InvalidInput"
        and execution.state_transitions[:1] == ["NormalizeRequest"]
        and "AcquireGuard" not in execution.state_transitions
        for execution in outcome.executions
    )


def _tells_what_to_fix(cause: str | None) -> bool:
    message = json.loads(cause or "{}").get("errorMessage", "")
    return any(hint in message for hint in ("Start this runbook with", "Expected", "Configured agents", "acts only on"))


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
        ("one audit record: healthy", _decisions(o) == ["healthy"]),
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
        ("one audit record: degraded", _decisions(o) == ["degraded"]),
        ("one L1 notification", _levels(o) == ["L1"]),
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


def _expect_rejected(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "every execution failed at the first state with InvalidInput",
            bool(o.executions) and _failed_at_first_state_with_invalid_input(o),
        ),
        ("the console shows what to fix", all(_tells_what_to_fix(execution.cause) for execution in o.executions)),
        ("no write to production", o.write_calls == 0 and not o.actions),
        ("each rejection is audited", _decisions(o) == ["rejected"] * len(o.executions)),
        ("no page for a rejected input", o.notifications == []),
    ]


# -- high-cpu -----------------------------------------------------------------------------------------
HOT_SUPERVISOR = {"supervisor": ServiceProfile(desired=2, cpu_percent=92.0, slow_lines_per_hour=6)}
HOT_AT_CAP = {"supervisor": ServiceProfile(desired=6, cpu_percent=95.0, slow_lines_per_hour=6)}


def _alarm(h: Harness) -> None:
    h.deliver(h.alarm_event("supervisor"))


def _expect_scaled(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "supervisor desired count rose by the step (2 -> 3)",
            o.actions == [{"service": "acso-production-supervisor", "action": "desiredCount", "before": 2, "after": 3}],
        ),
        ("exactly one ecs.UpdateService", o.api_calls.get("ecs.UpdateService") == 1),
        ("verified: waited, then re-checked", "VerifyScaling" in o.executions[0].state_transitions),
        ("one audit record: acted", _decisions(o) == ["acted"]),
        (
            "one L1 notification with before -> after",
            _levels(o) == ["L1"] and "2 -> 3" in o.notifications[0]["subject"],
        ),
    ]


def _expect_at_cap(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("no ecs.UpdateService at the cap", o.api_calls.get("ecs.UpdateService", 0) == 0 and not o.actions),
        ("one L2 notification", _levels(o) == ["L2"]),
        (
            "with the evidence (CPU of all services, logs, service state)",
            "CPU max" in message and "Logs matching" in message and "6 running / 6 desired" in message,
        ),
        ("one audit record: escalated", _decisions(o) == ["escalated"]),
    ]


def _duplicate(h: Harness) -> None:
    event = h.alarm_event("supervisor")
    h.deliver(event)
    h.settle()
    h.deliver(event)  # EventBridge delivers at least once


def _expect_duplicate(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("both executions succeeded", o.statuses == ["SUCCEEDED", "SUCCEEDED"]),
        ("still exactly one ecs.UpdateService", o.api_calls.get("ecs.UpdateService") == 1),
        ("desired count rose once (2 -> 3)", [a["after"] for a in o.actions] == [3]),
        (
            "the second delivery is audited as a suppressed duplicate",
            _decisions(o) == ["acted", "suppressed"] and "duplicate-event" in o.audit_records[1]["why"],
        ),
        ("one notification", _levels(o) == ["L1"]),
    ]


def _dry_run(h: Harness) -> None:
    h.start_console("high-cpu", {"service": "supervisor", "dryRun": True, "reason": "rehearsal"})


def _expect_dry_run(o: Outcome) -> list[tuple[str, bool]]:
    record = o.audit_records[0] if o.audit_records else {}
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("zero write calls", o.write_calls == 0 and not o.actions),
        (
            "the exact call is recorded",
            '"desiredCount": 3' in record.get("call", "") and "acso-production-supervisor" in record.get("call", ""),
        ),
        ("one audit record: dry-run", _decisions(o) == ["dry-run"]),
        ("one L1 notification marked DRY RUN", _levels(o) == ["L1"] and "DRY RUN" in o.notifications[0]["subject"]),
    ]


def _alarm_ok(h: Harness) -> None:
    h.deliver(h.alarm_event("supervisor", state="OK", previous="ALARM"))
    h.deliver(h.alarm_event("supervisor", state="INSUFFICIENT_DATA", previous="OK"))


def _expect_nothing(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("no execution started", o.executions == []),
        ("no API call at all", o.api_calls == {}),
        ("no notification", o.notifications == []),
    ]


def _high_cpu_bad_inputs(h: Harness) -> None:
    for bad in (
        {},
        "",
        "*",
        {"service": "*"},
        {"service": ""},
        {"service": "unknown-agent"},
        {"service": "supervisor", "dryRun": "yes"},
        {"service": "supervisor", "desiredCount": -1},
    ):
        h.start_console("high-cpu", bad)
    h.start_console("high-cpu", h.alarm_event("supervisor", account="999999999999"))


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
        _expect_rejected,
    ),
    Scenario(
        "high-cpu",
        "supervisor at 92 % CPU on 2 tasks: its alarm fires, the runbook scales it to 3.",
        HOT_SUPERVISOR,
        _alarm,
        _expect_scaled,
    ),
    Scenario(
        "high-cpu-at-cap",
        "supervisor at 95 % CPU already on 6 tasks (the cap): no scaling, L2 paged.",
        HOT_AT_CAP,
        _alarm,
        _expect_at_cap,
    ),
    Scenario(
        "high-cpu-duplicate-event",
        "The same alarm event delivered twice acts once.",
        HOT_SUPERVISOR,
        _duplicate,
        _expect_duplicate,
    ),
    Scenario(
        "high-cpu-dry-run",
        "Console start with dryRun: the exact call is recorded, none is made.",
        HOT_SUPERVISOR,
        _dry_run,
        _expect_dry_run,
    ),
    Scenario(
        "high-cpu-alarm-ok",
        "The alarm's transitions to OK and INSUFFICIENT_DATA start nothing.",
        HOT_SUPERVISOR,
        _alarm_ok,
        _expect_nothing,
    ),
    Scenario(
        "high-cpu-bad-input",
        "Console inputs and a foreign account's alarm are rejected before any write.",
        HOT_SUPERVISOR,
        _high_cpu_bad_inputs,
        _expect_rejected,
    ),
]
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
