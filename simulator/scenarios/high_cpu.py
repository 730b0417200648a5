"""Scenarios of the high-cpu runbook."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import (
    Scenario,
    decisions,
    every_execution_audited,
    expect_rejected,
    levels,
)
from simulator.world import ServiceProfile

# -- high-cpu -----------------------------------------------------------------------------------------
HOT_SUPERVISOR = {"supervisor": ServiceProfile(desired=2, cpu_percent=92.0, slow_lines_per_hour=6)}
# At the scaling cap AND on the largest Fargate size: nothing left to offer, a person must look.
HOT_AT_CAP = {
    "supervisor": ServiceProfile(desired=6, cpu_percent=95.0, slow_lines_per_hour=6, task_cpu=16384, task_memory=32768)
}


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
        ("one audit record: acted", decisions(o) == ["acted"]),
        (
            "one L1 notification with before -> after",
            levels(o) == ["L1"] and "2 -> 3" in o.notifications[0]["subject"],
        ),
    ]


def _expect_at_cap(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("no ecs.UpdateService at the cap", o.api_calls.get("ecs.UpdateService", 0) == 0 and not o.actions),
        ("one L2 notification", levels(o) == ["L2"]),
        (
            "with the evidence (CPU of all services, logs, service state)",
            "CPU max" in message and "Logs matching" in message and "6 running / 6 desired" in message,
        ),
        ("one audit record: escalated", decisions(o) == ["escalated"]),
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
            decisions(o) == ["acted", "suppressed"] and "duplicate-event" in o.audit_records[1]["why"],
        ),
        ("one notification", levels(o) == ["L1"]),
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
        ("one audit record: dry-run", decisions(o) == ["dry-run"]),
        ("one L1 notification marked DRY RUN", levels(o) == ["L1"] and "DRY RUN" in o.notifications[0]["subject"]),
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


# The platform's autoscaler scales supervisor in below 65 % CPU: after the remediation's 2 -> 3 (61 %) it would
# take the task straight back (the feedback loop of Slack's 2021 outage) unless the remediation holds it.
HOT_AUTOSCALED_SUPERVISOR = {
    "supervisor": ServiceProfile(
        desired=2, cpu_percent=92.0, slow_lines_per_hour=6, autoscaling=(2, 6), scale_in_below_percent=65.0
    )
}


def _alarm_with_autoscaler(h: Harness) -> None:
    _alarm(h)
    h.settle()
    target = h.aws.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")
    h.observed["scale_in_suspended_after"] = (
        target["ScalableTargets"][0].get("SuspendedState", {}).get("DynamicScalingInSuspended", False)
    )
    h.observed["scale_ins"] = list(h.world.scale_ins)


def _expect_autoscaler_held(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_expect_scaled(o),
        ("the autoscaler did not scale it back in during the run", o.observed.get("scale_ins") == []),
        ("scale-in resumed when the run released the service", o.observed.get("scale_in_suspended_after") is False),
        ("no lease left behind", o.leases == []),
    ]


# Resource optimization (the seed's "update task definition with more CPU"): hot at the cap on 512/1024 tasks.
HOT_AT_CAP_RESIZABLE = {"supervisor": ServiceProfile(desired=6, cpu_percent=95.0, slow_lines_per_hour=6)}


def _bigger_task_approved(h: Harness) -> None:
    _alarm(h)
    request = h.wait_for_notification("L2", "APPROVAL NEEDED")
    h.answers = [h.click(request, "approve", by="dana")]
    h.settle()
    ecs = h.aws.client("ecs")
    service = ecs.describe_services(cluster=h.world.cluster, services=["acso-production-supervisor"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    h.observed["running_size"] = (definition["revision"], definition["cpu"], definition["memory"])


def _expect_bigger_task(o: Outcome) -> list[tuple[str, bool]]:
    record = o.audit_records[0] if o.audit_records else {}
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("asked a person first (L2 approval request)", levels(o)[:1] == ["L2"]),
        (
            "one new revision with the next valid Fargate size (512/1024 -> 1024/2048), deployed once",
            o.observed.get("running_size") == (2, "1024", "2048")
            and o.api_calls.get("ecs.RegisterTaskDefinition") == 1
            and o.api_calls.get("ecs.UpdateService") == 1,
        ),
        ("the desired count stayed at the cap", not o.actions),
        ("verified: CPU back under threshold, audited as acted", decisions(o) == ["acted"]),
        (
            "before and after task definitions in the audit record",
            bool(record.get("before")) and bool(record.get("after")),
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


# The same, but the bigger revision (2) is a bad release: its tasks crash at start.
HOT_AT_CAP_BAD_BIGGER = {
    "supervisor": ServiceProfile(desired=6, cpu_percent=95.0, slow_lines_per_hour=6, bad_from_revision=2)
}


def _expect_bigger_task_rolled_back(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded (an escalation is a decision)", o.statuses == ["SUCCEEDED"]),
        ("the approved bigger revision was deployed, then rolled back", "RollBackResize" in states),
        (
            "running the prior revision again (1, 512/1024)",
            o.observed.get("running_size") == (1, "512", "1024"),
        ),
        (
            "two deployments: the bigger revision, then the prior one",
            o.api_calls.get("ecs.RegisterTaskDefinition") == 1 and o.api_calls.get("ecs.UpdateService") == 2,
        ),
        (
            "escalated to L2 with the rollback in the subject",
            decisions(o) == ["escalated"]
            and "rolled back" in (o.notifications[-1]["subject"] if o.notifications else ""),
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "high-cpu",
        "supervisor at 92 % CPU on 2 tasks: its alarm fires, the runbook scales it to 3.",
        HOT_SUPERVISOR,
        _alarm,
        _expect_scaled,
    ),
    Scenario(
        "high-cpu-autoscaler-held",
        "supervisor has an autoscaler that scales in below 65 %: the remediation suspends its scale-in while it "
        "holds the service, so 2 -> 3 stays, and resumes it afterwards.",
        HOT_AUTOSCALED_SUPERVISOR,
        _alarm_with_autoscaler,
        _expect_autoscaler_held,
    ),
    Scenario(
        "cpu-at-cap-bigger-task",
        "supervisor hot at its cap of 6 tasks: the next Fargate size is proposed, approved, deployed, verified.",
        HOT_AT_CAP_RESIZABLE,
        _bigger_task_approved,
        _expect_bigger_task,
    ),
    Scenario(
        "cpu-at-cap-bigger-task-fails-rolls-back",
        "As cpu-at-cap-bigger-task, but the bigger revision's tasks crash at start: rolled back to the prior one.",
        HOT_AT_CAP_BAD_BIGGER,
        _bigger_task_approved,
        _expect_bigger_task_rolled_back,
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
        expect_rejected,
    ),
]
