"""memory-leak's trigger: the seed's memory alarm on every agent, and the rule that starts the runbook only when
one of those alarms goes INTO ALARM."""

from __future__ import annotations

import pytest

from simulator.emulator import event_pattern_matches
from tests.infrastructure.support import SynthesizedStack, alarm_arn
from tests.infrastructure.test_triggers import (
    _alarm_state_change,
    _dimensions,
    _only,
    _rules_targeting,
    alarms_starting,
)


def _memory_alarms(synthesized: SynthesizedStack) -> dict[str, dict]:
    return {
        logical_id: props
        for logical_id, props in synthesized.of_type("AWS::CloudWatch::Alarm").items()
        if props.get("MetricName") == "MemoryUtilization"
    }


def test_each_agent_has_the_seeds_memory_alarm_above_85_percent_for_three_hourly_periods_on_its_service(synthesized):
    config = synthesized.config
    alarms = list(_memory_alarms(synthesized).values())
    by_service = {_dimensions(alarm)["ServiceName"]: alarm for alarm in alarms}

    assert sorted(by_service) == sorted(config.service_names)
    assert len(alarms) == len(config.agents), "one memory alarm per agent, no strays"
    for agent in config.agents:
        alarm = by_service[config.service_name(agent)]
        assert alarm["AlarmName"] == f"acso-{config.name}-{agent}-memory-leak"
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            "AWS/ECS",
            "MemoryUtilization",
            "Average",
        )
        assert _dimensions(alarm) == {"ClusterName": config.cluster_name, "ServiceName": config.service_name(agent)}
        assert (alarm["Threshold"], alarm["Period"], alarm["EvaluationPeriods"]) == (85, 3600, 3)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm.get("DatapointsToAlarm", 3) == 3, "three hours in a row, not a single high hour"
        assert alarm["TreatMissingData"] == "notBreaching", "a stopped service must not look like a leak"


def test_memory_leak_rule_listens_to_exactly_the_memory_alarms_going_into_alarm(synthesized):
    _, rule = _only(_rules_targeting(synthesized, "memory-leak"), "rule starting memory-leak")
    pattern = rule["EventPattern"]

    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert alarms_starting(synthesized, "memory-leak") == sorted(
        props["AlarmName"] for props in _memory_alarms(synthesized).values()
    ), "exactly the agents' memory alarms of this environment, account and region"


@pytest.mark.parametrize(
    ("previous", "value", "starts"),
    [
        ("OK", "ALARM", True),
        ("INSUFFICIENT_DATA", "ALARM", True),
        ("ALARM", "OK", False),
        ("OK", "INSUFFICIENT_DATA", False),
        ("ALARM", "INSUFFICIENT_DATA", False),
    ],
    ids=["ok-to-alarm", "insufficient-to-alarm", "alarm-to-ok", "ok-to-insufficient", "alarm-to-insufficient"],
)
def test_given_a_memory_alarm_state_change_when_matched_then_only_a_transition_into_alarm_starts_memory_leak(
    synthesized, previous, value, starts
):
    _, rule = _only(_rules_targeting(synthesized, "memory-leak"), "rule starting memory-leak")
    pattern = synthesized.resolver().resolve(rule["EventPattern"])

    for alarm in _memory_alarms(synthesized).values():
        event = _alarm_state_change(alarm_arn(alarm["AlarmName"]), value, previous)
        assert event_pattern_matches(pattern, event) is starts, f"{alarm['AlarmName']}: {previous} -> {value}"


def test_given_an_agent_cpu_alarm_going_into_alarm_then_memory_leak_does_not_start(production):
    _, rule = _only(_rules_targeting(production, "memory-leak"), "rule starting memory-leak")
    pattern = production.resolver().resolve(rule["EventPattern"])
    cpu_alarm = next(iter(production.cpu_alarms().values()))["AlarmName"]

    assert not event_pattern_matches(pattern, _alarm_state_change(alarm_arn(cpu_alarm), "ALARM", "OK"))
