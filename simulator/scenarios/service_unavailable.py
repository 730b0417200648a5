"""Scenarios of the service-unavailable runbook (seed: Incident Response -> Service Unavailable, severity High)."""

from __future__ import annotations

import json

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.world import ServiceProfile

SUPERVISOR_FAMILY = "acso-production-supervisor"


def _plain(record: dict, key: str) -> dict:
    """An audit-record field that holds a map (stored as JSON text)."""
    value = record.get(key)
    return json.loads(value) if isinstance(value, str) else {}


def _revision(state: dict) -> str:
    return str(state.get("task_definition", "")).rsplit("/", 1)[-1]


def _remedy(o: Outcome) -> str | None:
    """The remedy the RollBackOrRestart step decided (the execution's output keeps it under `action.plan`)."""
    output = o.executions[0].output if o.executions else None
    return ((output or {}).get("action") or {}).get("plan", {}).get("action") if isinstance(output, dict) else None


def _supervisor_crashes(h: Harness) -> None:
    """Both supervisor tasks die (out of memory) and stay down; its unavailable alarm fires."""
    h.world.crash_tasks("supervisor", running=0)
    h.deliver(h.alarm_event("supervisor", kind="unavailable"))
    h.settle()
    h.observed["running_after"] = h.world.running_counts()["supervisor"]


def _unavailable_alarm(h: Harness) -> None:
    """supervisor runs fewer tasks than desired (here: a bad release seeded as running); its alarm fires."""
    h.deliver(h.alarm_event("supervisor", kind="unavailable"))
    h.settle()
    h.observed["running_after"] = h.world.running_counts()["supervisor"]


def _expect_restarted(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    record = o.audit_records[0] if o.audit_records else {}
    call, before, after = _plain(record, "call"), _plain(record, "before"), _plain(record, "after")
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "investigated the service, its stopped tasks and the startup logs in parallel",
            {"DescribeUnavailableService", "ListStoppedTasks", "SearchStartupLogs"} <= set(states),
        ),
        ("read the stopped tasks (ListTasks + DescribeTasks)", o.api_calls.get("ecs.DescribeTasks", 0) >= 1),
        (
            "exactly one ecs.UpdateService, forceNewDeployment, no rollback, desired count unchanged",
            o.api_calls.get("ecs.UpdateService") == 1
            and o.write_calls == 1
            and call.get("parameters", {}).get("forceNewDeployment") is True
            and "taskDefinition" not in call.get("parameters", {})
            and _remedy(o) == "restart"
            and not o.actions,
        ),
        ("waited, then checked the recovery", "WaitForRecovery" in states and "CheckRecovery" in states),
        (
            "recovered: 2 of 2 running on the same revision",
            o.observed.get("running_after") == 2
            and after.get("running_count") == after.get("desired_count") == 2
            and _revision(before) == _revision(after),
        ),
        ("audited as acted, the on-call (L1) told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _expect_rolled_back(o: Outcome) -> list[tuple[str, bool]]:
    record = o.audit_records[0] if o.audit_records else {}
    call, before, after = _plain(record, "call"), _plain(record, "before"), _plain(record, "after")
    message = o.notifications[0]["message"] if o.notifications else ""
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("the rule chose the rollback, decided and applied in one step", _remedy(o) == "rollback"),
        (
            f"exactly one ecs.UpdateService, taskDefinition={SUPERVISOR_FAMILY}:2, no forced deployment of the bad "
            "revision, desired count unchanged",
            o.api_calls.get("ecs.UpdateService") == 1
            and o.write_calls == 1
            and call.get("parameters", {}).get("taskDefinition") == f"{SUPERVISOR_FAMILY}:2"
            and "forceNewDeployment" not in call.get("parameters", {})
            and not o.actions,
        ),
        (
            "audit record: before on revision 3, after on revision 2 with running = desired",
            _revision(before) == f"{SUPERVISOR_FAMILY}:3"
            and _revision(after) == f"{SUPERVISOR_FAMILY}:2"
            and after.get("running_count") == after.get("desired_count") == 2,
        ),
        ("recovered: 2 running", o.observed.get("running_after") == 2),
        (
            "audited as acted, L1 told with the revisions before and after",
            decisions(o) == ["acted"]
            and levels(o) == ["L1"]
            and "Revision before: acso-production-supervisor:3" in message
            and "Revision after: acso-production-supervisor:2" in message,
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _expect_paged_high(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    notification = o.notifications[0] if o.notifications else {"subject": "", "message": ""}
    return [
        ("execution succeeded (an escalation is a decision)", o.statuses == ["SUCCEEDED"]),
        ("one forced deployment, then a bounded number of checks (10)", o.api_calls.get("ecs.UpdateService") == 1),
        ("polled a bounded number of times (10)", states.count("CheckRecovery") == 10),
        (
            "escalated to L2 (severity High in the escalation matrix), with the evidence and console links",
            decisions(o) == ["escalated"]
            and levels(o) == ["L2"]
            and "STILL UNAVAILABLE" in notification["subject"]
            and "Stopped tasks (" in notification["message"]
            and "console.aws.amazon.com/ecs" in notification["message"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "service-unavailable-restart",
        "supervisor's 2 tasks crash (out of memory) on a healthy revision: its unavailable alarm fires, one forced "
        "deployment, 2 of 2 running again, L1.",
        {},
        _supervisor_crashes,
        _expect_restarted,
    ),
    Scenario(
        "service-unavailable-bad-deploy-rolls-back",
        "supervisor's newest revision 3 fails to start its tasks (revisions 1-2 are good): rolled back to 2, "
        "available again, L1.",
        {"supervisor": ServiceProfile(revisions=3, bad_from_revision=3)},
        _unavailable_alarm,
        _expect_rolled_back,
    ),
    Scenario(
        "service-unavailable-not-recovered-pages-high",
        "supervisor's tasks crash and no new task starts: one forced deployment, 10 checks, then L2 (severity High) "
        "with the evidence.",
        {"supervisor": ServiceProfile(new_tasks_start=False)},
        _supervisor_crashes,
        _expect_paged_high,
    ),
]
