"""Scenarios of the scale-agent runbook (started by hand from the console)."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels, tells_what_to_fix


def _scale(h: Harness) -> None:
    h.start_console("scale-agent", {"service": "threat-hunter", "desiredCount": 4, "reason": "launch week"})


def _expect_scaled(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "threat-hunter set to exactly 4 (absolute)",
            o.actions
            == [{"service": "acso-production-threat-hunter", "action": "desiredCount", "before": 2, "after": 4}],
        ),
        ("one ecs.UpdateService", o.api_calls.get("ecs.UpdateService") == 1),
        ("verified stable after waiting", "VerifyStable" in o.executions[0].state_transitions),
        ("audited as acted, L1 told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
        every_execution_audited(o),
    ]


def _below_floor(h: Harness) -> None:
    h.start_console("scale-agent", {"service": "supervisor", "desiredCount": 0, "reason": "save money tonight"})
    h.settle()
    h.start_console("scale-agent", {"service": "supervisor", "desiredCount": 9, "reason": "just in case"})


def _expect_below_floor(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "both refused by the guard: the executions fail with WriteRefused",
            [(e.status, e.error) for e in o.executions] == [("FAILED", "WriteRefused")] * 2,
        ),
        (
            "the console says why (floor, cap) and that nothing changed",
            all("Nothing was changed" in (e.cause or "") for e in o.executions)
            and "below-floor" in (o.executions[0].cause or "")
            and "above-cap" in (o.executions[1].cause or ""),
        ),
        ("no write, desired count never 0", o.write_calls == 0 and not o.actions),
        ("audited as refused, nobody paged", decisions(o) == ["refused", "refused"] and o.notifications == []),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


BAD_INPUTS = [
    {},
    "",
    "*",
    None,
    {"service": "*", "desiredCount": 2, "reason": "all of them"},
    {"service": "supervisor", "desiredCount": -1, "reason": "negative"},
    {"service": "supervisor", "desiredCount": 100000, "reason": "huge"},
    {"service": "supervisor", "desiredCount": "3", "reason": "a string"},
    {"service": "supervisor", "desiredCount": 3},
    {
        "service": "arn:aws:ecs:eu-west-1:999999999999:service/acso-production-cluster/acso-production-supervisor",
        "desiredCount": 3,
        "reason": "another account's ARN",
    },
]


def _bad_inputs(h: Harness) -> None:
    for bad in BAD_INPUTS:
        h.start_console("scale-agent", bad)


def _expect_bad_inputs(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "every execution failed at the first state with InvalidInput",
            len(o.executions) == len(BAD_INPUTS)
            and all(
                e.status == "FAILED"
                and e.error == "InvalidInput"
                and e.state_transitions[:1] == ["NormalizeRequest"]
                and "AcquireGuard" not in e.state_transitions
                for e in o.executions
            ),
        ),
        ("the console shows what to fix", all(tells_what_to_fix(e.cause) for e in o.executions)),
        ("no write to production", o.write_calls == 0 and not o.actions),
        (
            "each rejection is audited, nobody paged",
            decisions(o) == ["rejected"] * len(BAD_INPUTS) and not o.notifications,
        ),
        every_execution_audited(o),
    ]


SCENARIOS = [
    Scenario("scale-agent", "An operator sets threat-hunter to 4 tasks from the console.", {}, _scale, _expect_scaled),
    Scenario(
        "below-floor-refused",
        "Asked for 0 and for 9 supervisor tasks: below the floor, above the cap; refused.",
        {},
        _below_floor,
        _expect_below_floor,
    ),
    Scenario(
        "bad-inputs",
        '{}, "", "*", null, negative, huge, a string, no reason, another account\'s ARN.',
        {},
        _bad_inputs,
        _expect_bad_inputs,
    ),
]
