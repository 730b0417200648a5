"""Scenarios of the complete-outage runbook: most agents down at once, L3 and L4 paged, a failover to the DR region
offered that happens only when a person approves it."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited
from simulator.world import ServiceProfile

DOWN = ("supervisor", "threat-hunter", "incident-response", "service-orchestration")
UP = "financial-intelligence"
# Their tasks crashed and new ones do not start (a broken dependency): running stays 0 of 2.
OUTAGE = {agent: ServiceProfile(new_tasks_start=False) for agent in DOWN}


def _outage(h: Harness) -> dict:
    """Four of five agents lose every task; their unavailable alarms go into ALARM after two minutes, then so does
    the composite alarm, whose event starts the runbook. Returns the L3 approval request it sends."""
    dr = h.settings["dr"]
    h.world.seed_dr_region(dr["region"], dr["clusterName"])  # pilot light: the agents' services at 0 tasks
    h.observed["drBefore"] = h.world.dr_counts()
    for agent in DOWN:
        h.world.stop_tasks(agent, 0)
    h.later(120)
    for agent in DOWN:
        # Sets the unavailable alarm's state in the account. Its own event would start a single-service runbook,
        # not this one: it is not delivered here, so the scenario counts this runbook's executions only.
        h.alarm_event(agent, kind="unavailable")
    h.deliver(h.composite_alarm_event(h.settings["availability"]["outageAlarm"]))
    return h.wait_for_notification(dr["approverLevel"], "APPROVAL NEEDED")


def _observe(h: Harness) -> None:
    h.settle()
    h.observed["drAfter"] = h.world.dr_counts()
    parameter = h.settings["dr"]["activeRegionParameter"]
    h.observed["activeRegion"] = h.aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    h.observed["drRegion"] = h.settings["dr"]["region"]


def _approved(h: Harness) -> None:
    request = _outage(h)
    h.later(300)  # the engineering manager joins the bridge, reads the assessment, approves
    h.answers = [h.click(request, "approve", by="dana")]
    _observe(h)


def _nobody_answers(h: Harness) -> None:
    request = _outage(h)
    h.later(h.settings["dr"]["approvalTimeoutSeconds"] + 1)
    h.settle()
    h.answers = [h.answer_from_cli(request, "approve", approver="late-larry")]
    _observe(h)


def _messages(o: Outcome, subject: str) -> list[dict]:
    return [n for n in o.notifications if subject in n["subject"]]


def _incident(notification: dict) -> str:
    return next(line for line in notification["message"].splitlines() if line.startswith("Incident: "))


def _paged_l3_and_l4_with_the_assessment(o: Outcome) -> tuple[str, bool]:
    pages = _messages(o, "COMPLETE OUTAGE: 4 of 5 services down")
    readable = all(
        all(f"DOWN     {agent}: 0 running / 2 desired" in page["message"] for agent in DOWN)
        and f"up       {UP}: 2 running / 2 desired" in page["message"]
        and "Failover to us-west-2: approval is asked of L3" in page["message"]
        and "https://" in page["message"]
        for page in pages
    )
    return (
        "L3 and L4 paged at once with the assessment, one incident (which services, counts, links, the ask)",
        sorted(p["level"] for p in pages) == ["L3", "L4"] and len({_incident(p) for p in pages}) == 1 and readable,
    )


def _asked_l3_for_the_failover(o: Outcome) -> tuple[str, bool]:
    asks = _messages(o, "APPROVAL NEEDED complete-outage")
    return (
        "L3 asked to approve the failover (what it does, both links, the CLI)",
        [a["level"] for a in asks] == ["L3"]
        and "desired 0 -> 2" in asks[0]["message"]
        and "decision=approve" in asks[0]["message"]
        and "aws lambda invoke" in asks[0]["message"],
    )


def _expect_approved(o: Outcome) -> list[tuple[str, bool]]:
    record = o.audit_records[0] if o.audit_records else {}
    done = _messages(o, "FAILED OVER to us-west-2")
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        _paged_l3_and_l4_with_the_assessment(o),
        _asked_l3_for_the_failover(o),
        (
            "failover performed exactly once: every DR service scaled once, traffic switched once",
            o.api_calls.get("ecs.UpdateService") == 5 and o.api_calls.get("ssm.PutParameter") == 1,
        ),
        (
            "the DR services run production's counts, the active region is the DR region",
            all(o.observed["drBefore"][agent] == (0, 0) for agent in o.observed["drBefore"])
            and all(counts == (2, 2) for counts in o.observed["drAfter"].values())
            and o.observed["activeRegion"] == o.observed["drRegion"],
        ),
        ("production itself untouched", not o.actions),
        (
            "audited as acted, naming the approver",
            decisions(o) == ["acted"] and "dana" in record.get("approval", "") and "approved by dana" in record["why"],
        ),
        ("L3 and L4 told the failover is done", sorted(n["level"] for n in done) == ["L3", "L4"]),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _expect_timeout(o: Outcome) -> list[tuple[str, bool]]:
    again = _messages(o, "NOBODY APPROVED failover")
    late = o.answers[-1] if o.answers else {}
    return [
        ("execution succeeded (an unanswered approval is a decision)", o.statuses == ["SUCCEEDED"]),
        _paged_l3_and_l4_with_the_assessment(o),
        _asked_l3_for_the_failover(o),
        (
            "no failover call at all, DR untouched, active region unchanged",
            o.write_calls == 0
            and o.observed["drAfter"] == o.observed["drBefore"]
            and o.observed["activeRegion"] != o.observed["drRegion"],
        ),
        ("L3 and L4 paged again: nobody approved", sorted(n["level"] for n in again) == ["L3", "L4"]),
        ("audited as escalated", decisions(o) == ["escalated"] and "nobody approved" in o.audit_records[0]["why"]),
        (
            "a late approval is refused, nothing sent",
            late.get("functionError") == "Unhandled" and o.api_calls.get("stepfunctions.SendTaskSuccess", 0) == 0,
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "complete-outage-approved",
        "4 of 5 agents down: composite alarm, L3+L4 paged, failover to us-west-2 approved by a person, done once.",
        OUTAGE,
        _approved,
        _expect_approved,
    ),
    Scenario(
        "complete-outage-approval-timeout",
        "4 of 5 agents down, nobody approves the failover in time: no failover, L3+L4 paged again.",
        OUTAGE,
        _nobody_answers,
        _expect_timeout,
    ),
]
