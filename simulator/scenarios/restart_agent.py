"""Scenarios of the restart-agent runbook (started by hand; reused by the incident runbooks later)."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.world import ServiceProfile


def _restart(h: Harness) -> None:
    h.start_console("restart-agent", {"service": "supervisor", "reason": "agent unresponsive"})


def _expect_restarted(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("one forced deployment, desired count unchanged", o.api_calls.get("ecs.UpdateService") == 1 and not o.actions),
        ("waited for the rollout, then checked the logs", "CheckRollout" in states and "CheckAgentLogs" in states),
        ("audited as acted, L1 told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _expect_never_stable(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded (an escalation is a decision)", o.statuses == ["SUCCEEDED"]),
        ("polled a bounded number of times (10)", states.count("CheckRollout") == 10),
        (
            "escalated to L2: not stable",
            decisions(o) == ["escalated"] and levels(o) == ["L2"] and "not stable" in o.notifications[0]["subject"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "restart-agent",
        "An operator restarts supervisor: new deployment, stable again, clean logs.",
        {},
        _restart,
        _expect_restarted,
    ),
    Scenario(
        "restart-agent-never-stable-escalates",
        "supervisor's new tasks never start: 10 checks, then L2.",
        {"supervisor": ServiceProfile(new_tasks_start=False)},
        _restart,
        _expect_never_stable,
    ),
]
