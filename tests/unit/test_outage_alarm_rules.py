"""The complete-outage composite alarm counts exactly "at least N agents unavailable", for any fleet size: one
AT_LEAST rule up to 100 agents, per-group composites beyond (stacks/outage_alarm.py), evaluated as CloudWatch does
(simulator/alarm_rules.py)."""

from __future__ import annotations

import itertools
import random

import pytest

from simulator.alarm_rules import evaluate, referenced_alarms
from stacks.config import ConfigError
from stacks.outage_alarm import MAX_CHILDREN, MAX_RULE_CHARS, outage_rules

TOP = "acso-production-complete-outage"


def _children(count: int) -> list[str]:
    return [f"acso-production-agent-{index:03d}-unavailable" for index in range(count)]


def _in_alarm(rules: dict[str, str], alarming: set[str]) -> bool:
    def state_of(name: str) -> str:
        if name in rules:
            return "ALARM" if evaluate(rules[name], state_of) else "OK"
        return "ALARM" if name in alarming else "OK"

    return evaluate(rules[TOP], state_of)


def test_given_five_agents_then_one_at_least_rule_names_every_unavailable_alarm():
    rules = outage_rules(TOP, _children(5), 3)

    assert list(rules) == [TOP]
    assert rules[TOP].startswith("AT_LEAST(3, ALARM, (")
    assert referenced_alarms(rules[TOP]) == _children(5)


@pytest.mark.parametrize("agents", [5, 100, 101, 200, 250])
def test_given_any_fleet_the_outage_alarm_is_in_alarm_exactly_when_at_least_three_agents_are_down(agents):
    children = _children(agents)
    rules = outage_rules(TOP, children, 3)
    picks = random.Random(agents)
    # Every way of spreading 0..4 failures over the first, middle and last agents, plus random spreads.
    probes = [children[0], children[1], children[agents // 2], children[-2], children[-1]]
    cases = [set(combination) for size in range(5) for combination in itertools.combinations(probes, size)]
    cases += [set(picks.sample(children, picks.randint(0, min(6, agents)))) for _ in range(50)]

    for alarming in cases:
        assert _in_alarm(rules, alarming) is (len(alarming) >= 3), sorted(alarming)


def test_given_200_agents_every_rule_fits_cloudwatchs_limits_and_the_top_alarm_is_created_last():
    rules = outage_rules(TOP, _children(200), 3)

    assert list(rules)[-1] == TOP
    for rule in rules.values():
        assert len(rule) <= MAX_RULE_CHARS
        assert len(referenced_alarms(rule)) <= MAX_CHILDREN
    assert set(referenced_alarms(rules[TOP])) <= set(rules), "the top rule names the group composites only"


def test_given_a_threshold_whose_rules_cannot_fit_cloudwatchs_limits_then_synth_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match=r"availability\.outageMinServicesDown: 90 of 250 agents"):
        outage_rules(TOP, _children(250), 90)


@pytest.mark.parametrize(
    ("rule", "alarming", "expected"),
    [
        ('ALARM("a")', {"a"}, True),
        ('OK("a")', {"a"}, False),
        ('ALARM("a") OR ALARM("b") AND ALARM("c")', {"a"}, True),  # AND binds tighter
        ('(ALARM("a") OR ALARM("b")) AND ALARM("c")', {"a"}, False),
        ('NOT ALARM("a")', set(), True),
        ('AT_LEAST(2, ALARM, ("a", "b", "c"))', {"a", "c"}, True),
        ('AT_LEAST(50%, ALARM, ("a", "b", "c", "d"))', {"d"}, False),
        ('ALARM("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a")', {"a"}, True),
    ],
)
def test_alarm_rules_evaluate_as_cloudwatch_documents_them(rule, alarming, expected):
    assert evaluate(rule, lambda name: "ALARM" if name in alarming else "OK") is expected
