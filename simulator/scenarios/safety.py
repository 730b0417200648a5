"""Scenarios of the shared guard and safety layer, each with its fault injected.

Every scenario also checks events in = audit records out, and that no lease outlives its execution.
"""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.world import ServiceProfile

HOT = {"supervisor": ServiceProfile(desired=2, cpu_percent=92.0, slow_lines_per_hour=6)}
SUPERVISOR = "acso-production-supervisor"


def _whys(o: Outcome) -> list[str]:
    return [record.get("why", "") for record in o.audit_records]


def _scaled(o: Outcome) -> dict[str, int]:
    return {action["service"]: action["after"] - action["before"] for action in o.actions}


def _safety_basics(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("every execution ended", all(status in {"SUCCEEDED", "FAILED"} for status in o.statuses)),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


# -- flapping-alarm --------------------------------------------------------------------------------------
def _flapping(h: Harness) -> None:
    """10 transitions in 5 minutes: ALARM, OK, ALARM, OK... ending in ALARM."""
    for index in range(10):
        state = "OK" if index % 2 else "ALARM"
        h.deliver(h.alarm_event("supervisor", state=state, previous="ALARM" if state == "OK" else "OK"))
        h.later(30)
    h.deliver(h.alarm_event("supervisor"))


def _expect_flapping(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("only ALARM transitions started the runbook (6)", len(o.executions) == 6),
        ("at most one action", o.api_calls.get("ecs.UpdateService", 0) <= 1 and len(o.actions) <= 1),
        (
            "the others were suppressed by lease or cooldown",
            sum(d == "suppressed" for d in decisions(o)) >= 5
            and all(
                ("locked" in why or "cooldown" in why) for why in _whys(o) if why.startswith(("locked", "cooldown"))
            ),
        ),
    ]


# -- alarm-storm -----------------------------------------------------------------------------------------
STORM = {
    "supervisor": ServiceProfile(cpu_percent=92.0),
    "threat-hunter": ServiceProfile(cpu_percent=90.0),
}


def _storm(h: Harness) -> None:
    """100 deliveries over a minute: 50 per hot service, duplicates and distinct transitions mixed."""
    events = {agent: [h.alarm_event(agent)] for agent in STORM}
    for _ in range(24):
        h.later(1)
        for agent in STORM:
            events[agent].append(h.alarm_event(agent))
    for sent in events.values():
        for index in range(50):
            h.deliver(sent[index % len(sent)])  # at-least-once delivery repeats some transitions


def _expect_storm(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("100 executions", len(o.executions) == 100),
        (
            "at most one action per service",
            all(count <= 1 for count in _scaled(o).values()) and o.api_calls.get("ecs.UpdateService", 0) <= 2,
        ),
        ("each hot service acted on once", set(_scaled(o)) == {SUPERVISOR, "acso-production-threat-hunter"}),
        (
            # The two services are decided independently: a storm must not turn a verified fix into a page.
            "both scale-outs verified (2 acted, L1 each), the 98 others suppressed without a page",
            sorted(decisions(o)) == ["acted"] * 2 + ["suppressed"] * 98 and levels(o) == ["L1", "L1"],
        ),
        (
            "no other service touched",
            all(a["service"] in {SUPERVISOR, "acso-production-threat-hunter"} for a in o.actions),
        ),
    ]


# -- lock-contention -------------------------------------------------------------------------------------
def _lock_contention(h: Harness) -> None:
    h.hold_lease("supervisor", owner="operator:alice (manual change in progress)", seconds=600)
    h.deliver(h.alarm_event("supervisor"))
    h.settle()
    h.later(660)  # the operator's lease expired without being released (TTL deletion lags)
    h.deliver(h.alarm_event("supervisor"))


def _expect_lock_contention(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        (
            "first event suppressed: the service is locked",
            decisions(o)[:1] == ["suppressed"] and "operator:alice" in _whys(o)[0],
        ),
        ("after the lease expired, the next event acts", decisions(o)[1:] == ["acted"]),
        ("exactly one ecs.UpdateService", o.api_calls.get("ecs.UpdateService") == 1),
    ]


# -- blast-radius ----------------------------------------------------------------------------------------
BROAD = {
    agent: ServiceProfile(cpu_percent=93.0)
    for agent in ("supervisor", "threat-hunter", "incident-response", "service-orchestration")
}


def _blast_radius(h: Harness) -> None:
    events = [h.alarm_event(agent) for agent in BROAD]  # 4 of 5 alarms go into ALARM together
    for event in events:
        h.deliver(event)


def _expect_blast_radius(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("no automated action", o.write_calls == 0 and not o.actions),
        ("exactly one page, at L3", levels(o) == ["L3"]),
        (
            "every decision audited as blast-radius",
            all("blast-radius" in why for why in _whys(o)) and len(o.audit_records) == 4,
        ),
    ]


# -- breaker-trips ---------------------------------------------------------------------------------------
RUNAWAY = {"supervisor": ServiceProfile(desired=2, cpu_percent=95.0, scaling_helps=False)}


def _breaker(h: Harness) -> None:
    """Scaling out does not help; after 3 failed verifications the breaker opens and automation stops."""
    for _ in range(4):
        h.deliver(h.alarm_event("supervisor"))
        h.settle()
        h.later(16 * 60)  # past the cooldown: each alarm is a new incident


def _expect_breaker(o: Outcome) -> list[tuple[str, bool]]:
    texts = [n["message"] for n in o.notifications]
    return [
        *_safety_basics(o),
        ("three scale-outs, then none", o.api_calls.get("ecs.UpdateService") == 3),
        (
            "fourth alarm suppressed: breaker open",
            decisions(o) == ["escalated"] * 3 + ["suppressed"] and "breaker-open" in _whys(o)[3],
        ),
        (
            "the trip is paged once with how to re-enable",
            sum("CIRCUIT BREAKER OPEN" in text for text in texts) == 1
            and any("delete-item" in text and "BREAKER#high-cpu" in text for text in texts),
        ),
    ]


# -- kill-switch -----------------------------------------------------------------------------------------
def _kill_switch(h: Harness) -> None:
    h.set_flags(enabled=False, reason="incident 4711: hands off")
    h.deliver(h.alarm_event("supervisor"))


def _expect_kill_switch(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("no write", o.write_calls == 0 and not o.actions),
        ("audited as kill-switch", decisions(o) == ["suppressed"] and "kill-switch" in _whys(o)[0]),
        (
            "L1 told to handle it by hand, with the reason",
            levels(o) == ["L1"] and "incident 4711" in o.notifications[0]["message"],
        ),
    ]


# -- guard-maintenance-window (the configured window; the maintenance-window runbook's are its own module) --
FIRST_SUNDAY_0230 = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)


def _maintenance(h: Harness) -> None:
    h.deliver(h.alarm_event("supervisor"))  # Sunday 02:30 UTC, first Sunday of the month
    h.settle()
    h.later(2 * 3600 + 35 * 60)  # 05:05, after the window
    h.deliver(h.alarm_event("supervisor"))


def _expect_maintenance(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        (
            "the alarm during the window is suppressed and audited",
            decisions(o)[:1] == ["suppressed"] and "maintenance-window" in _whys(o)[0],
        ),
        ("after the window it acts again", decisions(o)[1:] == ["acted"] and len(o.actions) == 1),
    ]


# -- verify-fails-restores -------------------------------------------------------------------------------
BAD_TASKS = {"supervisor": ServiceProfile(desired=2, cpu_percent=92.0, new_tasks_start=False)}


def _verify_fails(h: Harness) -> None:
    h.deliver(h.alarm_event("supervisor"))


def _expect_verify_fails(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        *_safety_basics(o),
        ("scaled out, then restored: two absolute ecs.UpdateService calls", o.api_calls.get("ecs.UpdateService") == 2),
        ("desired count back to 2", o.actions == []),
        ("went through RestorePriorCount", "RestorePriorCount" in states),
        ("escalated to L2 saying it restored", levels(o) == ["L2"] and "restored" in o.notifications[0]["subject"]),
        ("the failure counts toward the breaker", "escalated" in decisions(o)),
    ]


SCENARIOS = [
    Scenario(
        "flapping-alarm",
        "supervisor's alarm flaps 10 times in 5 minutes: at most one action.",
        HOT,
        _flapping,
        _expect_flapping,
    ),
    Scenario(
        "alarm-storm",
        "100 alarm deliveries for two hot services in a minute: one action per service.",
        STORM,
        _storm,
        _expect_storm,
    ),
    Scenario(
        "lock-contention",
        "An operator holds supervisor's lease: the alarm waits its turn, then acts.",
        HOT,
        _lock_contention,
        _expect_lock_contention,
    ),
    Scenario(
        "blast-radius",
        "4 of 5 agents alarm at once: no automated action, one L3 page.",
        BROAD,
        _blast_radius,
        _expect_blast_radius,
    ),
    Scenario(
        "breaker-trips",
        "Scaling does not help supervisor: 3 failed verifications open the breaker.",
        RUNAWAY,
        _breaker,
        _expect_breaker,
    ),
    Scenario(
        "kill-switch",
        "Automation switched off in the flags: no action, L1 told to act by hand.",
        HOT,
        _kill_switch,
        _expect_kill_switch,
    ),
    Scenario(
        "guard-maintenance-window",
        "An alarm in the configured monthly window is suppressed; after the window it acts.",
        HOT,
        _maintenance,
        _expect_maintenance,
        start=FIRST_SUNDAY_0230,
    ),
    Scenario(
        "verify-fails-restores",
        "New supervisor tasks never start: the scale-out is undone, L2 paged.",
        BAD_TASKS,
        _verify_fails,
        _expect_verify_fails,
    ),
]


# -- faults at the API boundary and in the functions -------------------------------------------------------
def _flag_store_down(h: Harness) -> None:
    flags = h.settings["guard"]["flagsParameter"]  # the flags parameter only: warm steps hold their settings
    h.aws.inject_fault(
        "ssm.GetParameter", "InternalServerError", times=None, http_status=500, when=lambda p: p.get("Name") == flags
    )
    h.deliver(h.alarm_event("supervisor"))


def _expect_flag_store_down(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("fails closed: no write", o.write_calls == 0 and not o.actions),
        (
            "audited as flag-store-unavailable",
            decisions(o) == ["escalated"] and "flag-store-unavailable" in _whys(o)[0],
        ),
        ("a page at L2", levels(o) == ["L2"]),
    ]


def _alarm_resolved(h: Harness) -> None:
    def cpu_recovers(_event: dict) -> None:
        h.aws.client("cloudwatch").set_alarm_state(
            AlarmName="acso-production-supervisor-high-cpu", StateValue="OK", StateReason="back under threshold"
        )

    h.aws.before_invoke(h.function("high_cpu.scale_out"), cpu_recovers)
    h.deliver(h.alarm_event("supervisor"))


def _expect_alarm_resolved(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("re-checked before acting: no write", o.api_calls.get("ecs.UpdateService", 0) == 0 and not o.actions),
        ("audited as alarm-resolved", decisions(o) == ["suppressed"] and "alarm-resolved" in _whys(o)[0]),
        ("nobody paged for a resolved alarm", o.notifications == []),
    ]


def _throttled(h: Harness) -> None:
    h.aws.inject_fault("ecs.UpdateService", "ThrottlingException", times=2)
    h.deliver(h.alarm_event("supervisor"))


def _expect_throttled(o: Outcome) -> list[tuple[str, bool]]:
    return [
        *_safety_basics(o),
        ("succeeded after the state machine's retries", o.statuses == ["SUCCEEDED"] and decisions(o) == ["acted"]),
        ("two throttled calls, then one that worked", o.api_calls.get("ecs.UpdateService") == 3),
        ("one step in total (2 -> 3), not one per attempt", [a["after"] for a in o.actions] == [3]),
        ("one L1 notification", levels(o) == ["L1"]),
    ]


def _hangs(h: Harness) -> None:
    h.aws.hang_function(h.function("investigate.collect_utilization"), times=None)
    h.deliver(h.alarm_event("supervisor"))


def _expect_hangs(o: Outcome) -> list[tuple[str, bool]]:
    execution = o.executions[0] if o.executions else None
    return [
        *_safety_basics(o),
        (
            "the execution fails with the Lambda timeout",
            execution is not None and execution.status == "FAILED" and execution.error == "Sandbox.Timedout",
        ),
        ("through the one failure path", execution is not None and "RecordFailure" in execution.state_transitions),
        ("no write", o.write_calls == 0 and not o.actions),
        ("audited as failed and L2 paged", decisions(o) == ["failed"] and levels(o) == ["L2"]),
    ]


SCENARIOS += [
    Scenario(
        "flag-store-down",
        "The automation flags cannot be read: fail closed, page L2.",
        HOT,
        _flag_store_down,
        _expect_flag_store_down,
    ),
    Scenario(
        "alarm-resolved-before-act",
        "CPU recovers while the runbook investigates: the re-check stops the write.",
        HOT,
        _alarm_resolved,
        _expect_alarm_resolved,
    ),
    Scenario(
        "throttled-then-succeeds",
        "ECS throttles UpdateService twice: retried with back-off, one step in total.",
        HOT,
        _throttled,
        _expect_throttled,
    ),
    Scenario(
        "lambda-hangs-times-out",
        "The metrics step hangs past its timeout: the run fails cleanly, lease freed.",
        HOT,
        _hangs,
        _expect_hangs,
    ),
]


# -- human approval: a bigger task size at the scaling cap ------------------------------------------------------
AT_CAP = {"supervisor": ServiceProfile(desired=6, cpu_percent=95.0, slow_lines_per_hour=6)}


def _approval_request(h: Harness) -> dict:
    h.deliver(h.alarm_event("supervisor"))
    return h.wait_for_notification("L2", "APPROVAL NEEDED")


def _approval_granted(h: Harness) -> None:
    request = _approval_request(h)
    h.later(600)  # the on-call engineer reads it ten minutes later
    h.answers = [h.click(request, "approve", by="dana")]


def _approval_rejected(h: Harness) -> None:
    request = _approval_request(h)
    h.answers = [h.answer_from_cli(request, "reject", approver="erik")]
    h.settle()
    h.answers.append(h.click(request, "approve", by="mallory"))  # a replay after the decision


def _approval_timeout(h: Harness) -> None:
    request = _approval_request(h)
    h.later(1801)  # nobody answers within the approval timeout
    h.settle()
    h.answers = [h.answer_from_cli(request, "approve", approver="late-larry")]


def _token_hidden(o: Outcome) -> bool:
    return all("taskToken" not in n["message"] and "AAAA" not in n["message"] for n in o.notifications)


def _expect_granted(o: Outcome) -> list[tuple[str, bool]]:
    record = o.audit_records[0] if o.audit_records else {}
    return [
        *_safety_basics(o),
        (
            "asked L2 for approval with the evidence and both ways to answer",
            levels(o)[:1] == ["L2"]
            and "APPROVAL NEEDED" in o.notifications[0]["subject"]
            and "decision=approve" in o.notifications[0]["message"]
            and "aws lambda invoke" in o.notifications[0]["message"],
        ),
        ("the task token never appears in a notification", _token_hidden(o)),
        (
            "after approval: one new revision and one deployment",
            o.api_calls.get("ecs.RegisterTaskDefinition") == 1 and o.api_calls.get("ecs.UpdateService") == 1,
        ),
        (
            "verified and audited as acted, with the approver",
            decisions(o) == ["acted"]
            and "dana" in record.get("approval", "")
            and "approved by dana" in record.get("why", ""),
        ),
    ]


def _expect_rejected_by_person(o: Outcome) -> list[tuple[str, bool]]:
    answers = o.answers
    return [
        *_safety_basics(o),
        ("no write after the rejection", o.write_calls == 0 and not o.actions),
        ("audited as declined, naming who declined", decisions(o) == ["declined"] and "erik" in _whys(o)[0]),
        ("the run ends as a decision, not a failure", o.statuses == ["SUCCEEDED"]),
        (
            "a replayed link is refused (409), nothing sent",
            answers[-1:]
            and answers[-1].get("statusCode") == 409
            and o.api_calls.get("stepfunctions.SendTaskSuccess", 0) == 0,
        ),
    ]


def _expect_timeout(o: Outcome) -> list[tuple[str, bool]]:
    answers = o.answers
    return [
        *_safety_basics(o),
        ("no write: a timeout is never an approval", o.write_calls == 0 and not o.actions),
        ("escalated one level up (L3)", decisions(o) == ["escalated"] and levels(o) == ["L2", "L3"]),
        (
            "a late answer is refused",
            answers[-1:]
            and answers[-1].get("functionError") == "Unhandled"
            and o.api_calls.get("stepfunctions.SendTaskSuccess", 0) == 0,
        ),
    ]


SCENARIOS += [
    Scenario(
        "approval-granted",
        "supervisor hot at its cap: a bigger task size is approved from the link, deployed.",
        AT_CAP,
        _approval_granted,
        _expect_granted,
    ),
    Scenario(
        "approval-rejected",
        "The bigger task size is rejected from the CLI; a replayed link is refused.",
        AT_CAP,
        _approval_rejected,
        _expect_rejected_by_person,
    ),
    Scenario(
        "approval-timeout",
        "Nobody answers within 30 minutes: no action, escalated to L3, late answer refused.",
        AT_CAP,
        _approval_timeout,
        _expect_timeout,
    ),
]


def _aborted(h: Harness) -> None:
    """An operator stops a run that holds supervisor's lease (waiting for an approval)."""
    [arn] = h.deliver(h.alarm_event("supervisor"))
    h.wait_for_notification("L2", "APPROVAL NEEDED")
    # moto ends a stopped callback wait as FAILED (States.Runtime) rather than ABORTED, and a stop without an
    # error never ends it; the status-change rule covers both statuses.
    h.aws.client("stepfunctions").stop_execution(executionArn=arn, error="Operator.Stopped", cause="wrong alarm")
    h.later(1801)  # moto's stopped callback wait only unwinds at its timeout
    h.settle()
    h.deliver(h.status_change_event(arn))


def _expect_aborted(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "the run ended without reaching its record step",
            o.statuses in (["ABORTED"], ["FAILED"])
            and "RecordDecision" not in o.executions[0].state_transitions
            and "RecordFailure" not in o.executions[0].state_transitions,
        ),
        ("its lease was released by the status-change rule", o.leases == []),
        ("it still left its one audit record", decisions(o) == ["abandoned"]),
        every_execution_audited(o),
        ("no write", o.write_calls == 0 and not o.actions),
    ]


SCENARIOS += [
    Scenario(
        "execution-aborted-releases-lease",
        "A run holding supervisor's lease is stopped: the lease is freed.",
        AT_CAP,
        _aborted,
        _expect_aborted,
    ),
]
