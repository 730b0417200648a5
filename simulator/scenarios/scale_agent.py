"""Scenarios of the scale-agent runbook (started by hand from the console)."""

from __future__ import annotations

from collections.abc import Callable

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


def _refused(asked: int, reason: str) -> Callable[[Harness], None]:
    def act(h: Harness) -> None:
        h.start_console("scale-agent", {"service": "supervisor", "desiredCount": asked, "reason": "tonight"})

    act.__doc__ = reason
    return act


def _expect_refused(reason: str) -> Callable[[Outcome], list[tuple[str, bool]]]:
    def expect(o: Outcome) -> list[tuple[str, bool]]:
        cause = o.executions[0].cause if o.executions else ""
        return [
            (
                "refused by the guard: the execution fails with WriteRefused",
                [(e.status, e.error) for e in o.executions] == [("FAILED", "WriteRefused")],
            ),
            (
                f"the console says why ({reason}) and that nothing changed",
                reason in cause and "Nothing was changed" in cause,
            ),
            ("no write, desired count unchanged", o.write_calls == 0 and not o.actions),
            ("audited as refused, nobody paged", decisions(o) == ["refused"] and o.notifications == []),
            every_execution_audited(o),
            ("no lease left behind", o.leases == []),
        ]

    return expect


def _step_scaling(h: Harness) -> None:
    h.start_console(
        "scale-agent",
        {
            "service": "supervisor",
            "desiredCount": 3,
            "reason": "launch week",
            "autoScaling": {"minCapacity": 2, "maxCapacity": 6},
        },
    )
    h.settle()
    autoscaling, cloudwatch = h.aws.client("application-autoscaling"), h.aws.client("cloudwatch")
    h.observed["targets"] = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    h.observed["policies"] = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    alarm = cloudwatch.describe_alarms(AlarmNames=["acso-supervisor-scale-up"])["MetricAlarms"]
    h.observed["policy_alarm_actions"] = alarm[0]["AlarmActions"] if alarm else None


def _expect_step_scaling(o: Outcome) -> list[tuple[str, bool]]:
    policy = o.observed.get("policies", [])
    target = o.observed.get("targets", [])
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("supervisor set to 3", [(a["before"], a["after"]) for a in o.actions] == [(2, 3)]),
        (
            "scalable target registered within floor and cap (2..6)",
            [(t["MinCapacity"], t["MaxCapacity"]) for t in target] == [(2, 6)],
        ),
        (
            "the seed's step-scaling policy acso-supervisor-scale-up, +1 then +2",
            [(p["PolicyName"], p["PolicyType"]) for p in policy] == [("acso-supervisor-scale-up", "StepScaling")]
            and [a["ScalingAdjustment"] for a in policy[0]["StepScalingPolicyConfiguration"]["StepAdjustments"]]
            == [1, 2],
        ),
        (
            "a CPU alarm drives the policy",
            o.observed.get("policy_alarm_actions") == [policy[0]["PolicyARN"]] if policy else False,
        ),
        ("audited as acted, L1 told", decisions(o) == ["acted"] and levels(o) == ["L1"]),
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
        "Asked for 0 supervisor tasks: below the floor of 1; refused, nothing changed.",
        {},
        _refused(0, "below-floor"),
        _expect_refused("below-floor"),
    ),
    Scenario(
        "scale-agent-over-cap-rejected",
        "Asked for 9 supervisor tasks: above the cap of 6; refused, nothing changed.",
        {},
        _refused(9, "above-cap"),
        _expect_refused("above-cap"),
    ),
    Scenario(
        "scale-agent-step-scaling-policy",
        "supervisor to 3 with autoScaling 2..6: scalable target, the seed's step policy and its CPU alarm.",
        {},
        _step_scaling,
        _expect_step_scaling,
    ),
    Scenario(
        "bad-inputs",
        '{}, "", "*", null, negative, huge, a string, no reason, another account\'s ARN.',
        {},
        _bad_inputs,
        _expect_bad_inputs,
    ),
]
