"""Scenarios of the rollback runbook (started by hand; its parts are reused by service-unavailable later)."""

from __future__ import annotations

import json

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels
from simulator.world import ServiceProfile

SUPERVISOR_FAMILY = "acso-production-supervisor"


def _plain(record: dict, key: str) -> dict:
    """An audit-record field that holds a map (stored as JSON text)."""
    value = record.get(key)
    return json.loads(value) if isinstance(value, str) else {}


def _revision(state: dict) -> str:
    return str(state.get("task_definition", "")).rsplit("/", 1)[-1]


def _roll_back_supervisor(h: Harness) -> None:
    h.start_console("rollback", {"service": "supervisor", "reason": "bad release 2.3"})


def _expect_rolled_back(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    record = o.audit_records[0] if o.audit_records else {}
    call, before, after = _plain(record, "call"), _plain(record, "before"), _plain(record, "after")
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            f"exactly one ecs.UpdateService, taskDefinition={SUPERVISOR_FAMILY}:2, desired count unchanged",
            o.api_calls.get("ecs.UpdateService") == 1
            and call.get("parameters", {}).get("taskDefinition") == f"{SUPERVISOR_FAMILY}:2"
            and not o.actions,
        ),
        (
            "waited until stable, then the smoke checks (logs)",
            "CheckRollout" in states and "CheckAgentLogs" in states,
        ),
        (
            "audit record: before on revision 3, after on revision 2 with running = desired",
            _revision(before) == f"{SUPERVISOR_FAMILY}:3"
            and _revision(after) == f"{SUPERVISOR_FAMILY}:2"
            and after.get("running_count") == after.get("desired_count") == before.get("desired_count"),
        ),
        ("audited as acted, L1 told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _roll_back_to_another_family(h: Harness) -> None:
    h.start_console(
        "rollback",
        {"service": "supervisor", "taskDefinition": "acso-production-threat-hunter:1", "reason": "bad release 2.3"},
    )


def _expect_foreign_family_rejected(o: Outcome) -> list[tuple[str, bool]]:
    cause = json.loads(o.executions[0].cause or "{}").get("errorMessage", "") if o.executions else ""
    return [
        *expect_rejected(o),
        (
            "the cause names the foreign family and the running one",
            "acso-production-threat-hunter" in cause and f"{SUPERVISOR_FAMILY}:3" in cause,
        ),
        ("no lease left behind", o.leases == []),
    ]


def _expect_never_stable(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded (an escalation is a decision)", o.statuses == ["SUCCEEDED"]),
        ("one rollback, then a bounded number of checks (10)", o.api_calls.get("ecs.UpdateService") == 1),
        ("polled a bounded number of times (10), no log check", states.count("CheckRollout") == 10),
        (
            "escalated to L2: not stable",
            decisions(o) == ["escalated"] and levels(o) == ["L2"] and "not stable" in o.notifications[0]["subject"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "rollback",
        "An operator rolls supervisor back from revision 3 to the previous one: stable on 2, clean logs, L1.",
        {"supervisor": ServiceProfile(revisions=3)},
        _roll_back_supervisor,
        _expect_rolled_back,
    ),
    Scenario(
        "rollback-foreign-family-rejected",
        "Rolling supervisor back to a threat-hunter revision fails at the first state; nothing changes.",
        {"supervisor": ServiceProfile(revisions=3)},
        _roll_back_to_another_family,
        _expect_foreign_family_rejected,
    ),
    Scenario(
        "rollback-never-stable-escalates",
        "Revisions 2 and 3 of supervisor both crash at start: rolled back to 2, 10 checks, then L2.",
        {"supervisor": ServiceProfile(revisions=3, bad_from_revision=2)},
        _roll_back_supervisor,
        _expect_never_stable,
    ),
]
