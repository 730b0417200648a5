"""service-unavailable's trigger and its task reads: the rule that starts the runbook only when an agent's
unavailable alarm goes INTO ALARM, and ListTasks/DescribeTasks limited to the agents' cluster and to the one
investigation step that reads stopped tasks."""

from __future__ import annotations

import pytest

from simulator.emulator import event_pattern_matches
from tests.infrastructure.support import ACCOUNT, REGION, SynthesizedStack, actions_cover, alarm_arn, policy_statements
from tests.infrastructure.test_triggers import _alarm_state_change, _only, _rules_targeting, alarms_starting

STOPPED_TASKS_HANDLER = "remediation.handlers.service_unavailable.stopped_tasks"


def _unavailable_alarms(synthesized: SynthesizedStack) -> dict[str, dict]:
    return {
        logical_id: props
        for logical_id, props in synthesized.of_type("AWS::CloudWatch::Alarm").items()
        if props["AlarmName"].endswith("-unavailable")
    }


def test_service_unavailable_rule_listens_to_exactly_the_agents_unavailable_alarms_going_into_alarm(synthesized):
    _, rule = _only(_rules_targeting(synthesized, "service-unavailable"), "rule starting service-unavailable")
    pattern = rule["EventPattern"]

    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert alarms_starting(synthesized, "service-unavailable") == sorted(
        props["AlarmName"] for props in _unavailable_alarms(synthesized).values()
    ), "exactly the agents' unavailable alarms of this environment, account and region"


@pytest.mark.parametrize(
    ("previous", "value", "starts"),
    [
        ("OK", "ALARM", True),
        ("INSUFFICIENT_DATA", "ALARM", True),
        ("ALARM", "OK", False),
        ("OK", "INSUFFICIENT_DATA", False),
    ],
    ids=["ok-to-alarm", "insufficient-to-alarm", "alarm-to-ok", "ok-to-insufficient"],
)
def test_given_an_unavailable_alarm_state_change_when_matched_then_only_a_transition_into_alarm_starts_the_runbook(
    synthesized, previous, value, starts
):
    _, rule = _only(_rules_targeting(synthesized, "service-unavailable"), "rule starting service-unavailable")
    pattern = synthesized.resolver().resolve(rule["EventPattern"])

    for alarm in _unavailable_alarms(synthesized).values():
        event = _alarm_state_change(alarm_arn(alarm["AlarmName"]), value, previous)
        assert event_pattern_matches(pattern, event) is starts, f"{alarm['AlarmName']}: {previous} -> {value}"


def test_given_the_complete_outage_or_a_cpu_alarm_going_into_alarm_then_service_unavailable_does_not_start(production):
    _, rule = _only(_rules_targeting(production, "service-unavailable"), "rule starting service-unavailable")
    pattern = production.resolver().resolve(rule["EventPattern"])
    cpu_alarm = next(iter(production.cpu_alarms().values()))["AlarmName"]

    for name in (cpu_alarm, f"acso-{production.environment}-complete-outage"):
        assert not event_pattern_matches(pattern, _alarm_state_change(alarm_arn(name), "ALARM", "OK")), name


def test_task_reads_are_limited_to_the_agents_cluster_and_to_the_stopped_tasks_step(synthesized):
    resolver = synthesized.resolver()
    cluster = synthesized.config.cluster_name
    reads = [
        statement
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and any(actions_cover(statement.actions, action) for action in ("ecs:ListTasks", "ecs:DescribeTasks"))
    ]

    assert reads, "the stopped-tasks step must read the service's stopped tasks"
    for statement in reads:
        assert {synthesized.function_of_role(role) for role in statement.roles} == {STOPPED_TASKS_HANDLER}
        assert set(statement.actions) <= {"ecs:ListTasks", "ecs:DescribeTasks"}, statement.actions
        resources = resolver.resolve(list(statement.resources))
        if "ecs:ListTasks" in statement.actions:  # authorized on container instances: '*' under the cluster condition
            assert resources == ["*"]
            assert resolver.resolve(statement.condition) == {
                "ArnEquals": {"ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"}
            }
        else:
            assert resources == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/*"]
