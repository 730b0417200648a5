"""Scenarios of the memory-leak runbook (runbook "Memory Leak Detection")."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.world import ServiceProfile

# 45 % after a restart, +2 points an hour: 93 % after a day, its memory alarm (> 85 % for 3 hours) in ALARM.
LEAKING_SUPERVISOR = {"supervisor": ServiceProfile(memory_percent=45.0, memory_growth_per_hour=2.0)}
# Flat at 45 % all day, 95 % in the very last sample: high now, no trend.
SPIKING_SUPERVISOR = {"supervisor": ServiceProfile(memory_percent=45.0, memory_spike_percent=95.0)}


def _memory_alarm(h: Harness) -> None:
    h.deliver(h.alarm_event("supervisor", kind="memory-leak"))


def _verification(o: Outcome) -> dict:
    output = o.executions[0].output if o.executions else None
    return (output or {}).get("verification") or {}


def _expect_restarted(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    verification = _verification(o)
    before, after = verification.get("memoryBeforePercent"), verification.get("memoryNowPercent")
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("the trend was read, then judged a leak", "MemoryTrend" in states and "RestartService" in states),
        (
            "exactly one forced deployment, desired count unchanged",
            o.api_calls.get("ecs.UpdateService") == 1 and o.write_calls == 1 and not o.actions,
        ),
        ("waited, then re-read memory", "WaitForFreshTasks" in states and "VerifyMemory" in states),
        (
            f"memory fell after the restart ({before} % -> {after} %)",
            before is not None and after is not None and after < before and after < 85,
        ),
        ("audited as acted, L1 told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _console_spike(h: Harness) -> None:
    h.start_console("memory-leak", {"service": "supervisor", "reason": "memory at 95 % on the dashboard"})


def _expect_no_action(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("the trend was read", "MemoryTrend" in states),
        ("no write to production", o.write_calls == 0 and not o.actions and "RestartService" not in states),
        (
            "audited as no action: a spike, not a leak",
            decisions(o) == ["no-action"] and o.audit_records[0]["why"].startswith("no leak: spike"),
        ),
        ("nobody paged", o.notifications == []),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "memory-leak",
        "supervisor's memory rose 2 points an hour for a day (45 -> 93 %): its memory alarm fires, the runbook "
        "restarts it once and memory falls back.",
        LEAKING_SUPERVISOR,
        _memory_alarm,
        _expect_restarted,
    ),
    Scenario(
        "memory-spike-no-action",
        "supervisor's memory is flat all day with one 95 % spike: an operator starts memory-leak, no restart.",
        SPIKING_SUPERVISOR,
        _console_spike,
        _expect_no_action,
    ),
]
