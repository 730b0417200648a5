"""complete-outage's triggers and wiring: one "unavailable" alarm per agent (running < desired, Container Insights,
metric math), the composite alarm "at least M of them", the rule that starts the runbook on it, and the DR failover
permissions (only the approved steps write, only in the DR region, the routing parameter only by the switch)."""

from __future__ import annotations

import json
import re

import pytest

from remediation.logic.complete_outage import RUN_LIMIT_SECONDS
from simulator.emulator import event_pattern_matches
from tests.infrastructure.support import (
    ACCOUNT,
    REGION,
    STATE_MACHINES_DIR,
    SynthesizedStack,
    actions_cover,
    policy_statements,
)


def _unavailable_alarms(synthesized: SynthesizedStack) -> dict[str, dict]:
    return {
        logical_id: props
        for logical_id, props in synthesized.of_type("AWS::CloudWatch::Alarm").items()
        if props["AlarmName"].endswith("-unavailable")
    }


def _composite(synthesized: SynthesizedStack) -> tuple[str, dict]:
    ((logical_id, props),) = synthesized.of_type("AWS::CloudWatch::CompositeAlarm").items()
    return logical_id, props


def _outage_rule(synthesized: SynthesizedStack) -> dict:
    machine = synthesized.state_machine_named("complete-outage")
    (rule,) = [
        rule
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == {"Ref": machine} for target in rule["Targets"])
    ]
    return rule


def _event(name: str, value: str, account: str = ACCOUNT, source: str = "aws.cloudwatch") -> dict:
    return {
        "version": "0",
        "id": "2dde0303-5bb5-4d5f-b0ba-cf1a2f4c8bd3",
        "detail-type": "CloudWatch Alarm State Change",
        "source": source,
        "account": account,
        "time": "2026-11-27T09:02:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": value, "reason": "", "timestamp": "2026-11-27T09:02:00.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-27T09:00:00.000+0000"},
            "configuration": {"alarmRule": "AT_LEAST(...)", "description": ""},
        },
    }


# -- The per-agent unavailable alarms ----------------------------------------------------------------------------


def test_each_agent_has_one_unavailable_alarm_desired_minus_running_above_zero_on_its_own_service(synthesized):
    config, policy = synthesized.config, synthesized.config.availability
    alarms = {props["AlarmName"]: props for props in _unavailable_alarms(synthesized).values()}

    assert sorted(alarms) == sorted(f"acso-{config.name}-{agent}-unavailable" for agent in config.agents)
    for agent in config.agents:
        alarm = alarms[f"acso-{config.name}-{agent}-unavailable"]
        queries = {query["Id"]: query for query in alarm["Metrics"]}
        (expression,) = [query for query in queries.values() if "Expression" in query]
        assert expression["ReturnData"] is True
        desired_id, running_id = re.fullmatch(r"(\w+) - (\w+)", expression["Expression"]).groups()  # desired - running
        for query_id, metric_name in ((desired_id, "DesiredTaskCount"), (running_id, "RunningTaskCount")):
            stat = queries[query_id]["MetricStat"]
            assert stat["Metric"]["Namespace"] == "ECS/ContainerInsights"
            assert stat["Metric"]["MetricName"] == metric_name
            assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
                "ClusterName": config.cluster_name,
                "ServiceName": config.service_name(agent),
            }
            assert stat["Period"] == policy.period_seconds
            assert queries[query_id]["ReturnData"] is False
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold"), "running < desired"
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == policy.evaluation_periods
        assert alarm["TreatMissingData"] == "missing", "no data is unknown, not down"


# -- The composite alarm and its rule ----------------------------------------------------------------------------


def test_the_complete_outage_alarm_is_at_least_m_of_the_unavailable_alarms_in_alarm(synthesized):
    config = synthesized.config
    _, composite = _composite(synthesized)
    rule = synthesized.resolver().resolve(composite["AlarmRule"])

    assert composite["AlarmName"] == f"acso-{config.name}-complete-outage"
    match = re.fullmatch(r"AT_LEAST\((\d+), ALARM, \((.+)\)\)", rule)
    assert match, rule
    assert int(match.group(1)) == config.availability.outage_min_services_down == 3
    assert sorted(re.findall(r'"([^"]+)"', match.group(2))) == sorted(
        f"acso-{config.name}-{agent}-unavailable" for agent in config.agents
    )


def test_the_outage_rule_starts_complete_outage_only_when_the_composite_alarm_goes_into_alarm(synthesized):
    composite_id, composite = _composite(synthesized)
    rule = _outage_rule(synthesized)
    pattern = synthesized.resolver().resolve(rule["EventPattern"])
    name = composite["AlarmName"]

    assert rule["EventPattern"]["resources"] == [{"Fn::GetAtt": [composite_id, "Arn"]}]
    assert event_pattern_matches(pattern, _event(name, "ALARM"))
    assert not event_pattern_matches(pattern, _event(name, "OK"))
    assert not event_pattern_matches(pattern, _event(f"acso-{synthesized.environment}-supervisor-unavailable", "ALARM"))
    assert not event_pattern_matches(pattern, _event(name, "ALARM", account="210987654321"))
    assert not event_pattern_matches(pattern, _event(name, "ALARM", source="acso.custom"))


def test_no_per_agent_unavailable_alarm_starts_complete_outage_on_its_own(synthesized):
    pattern = synthesized.resolver().resolve(_outage_rule(synthesized)["EventPattern"])

    for props in _unavailable_alarms(synthesized).values():
        assert not event_pattern_matches(pattern, _event(props["AlarmName"], "ALARM")), props["AlarmName"]


# -- Time limits -------------------------------------------------------------------------------------------------


def test_the_run_outlasts_the_approval_and_the_dr_start_up_and_the_fleet_lease_lasts_the_whole_run(synthesized):
    dr = synthesized.config.dr
    definition = json.loads((STATE_MACHINES_DIR / "complete_outage.asl.json").read_text())

    assert definition["TimeoutSeconds"] == RUN_LIMIT_SECONDS
    assert dr.approval_timeout_seconds + dr.ready_checks * dr.ready_poll_seconds + 600 < RUN_LIMIT_SECONDS
    assert definition["States"]["RequestApproval"]["TimeoutSecondsPath"] == "$.plan.approvalTimeoutSeconds"


# -- Permissions -------------------------------------------------------------------------------------------------


def _handlers(synthesized: SynthesizedStack, roles: tuple[str, ...]) -> set[str | None]:
    return {synthesized.function_of_role(role) for role in roles}


def test_only_the_approved_failover_step_updates_services_in_the_dr_region(synthesized):
    dr, resolver = synthesized.config.dr, synthesized.resolver()
    dr_prefix = f"arn:aws:ecs:{dr.region}:{ACCOUNT}:service/{dr.cluster_name}/"
    touching = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow" and any(str(r).startswith(dr_prefix) for r in resolver.resolve(list(s.resources)))
    ]

    writers = [s for s in touching if actions_cover(s.actions, "ecs:UpdateService")]
    assert writers
    for statement in writers:
        assert _handlers(synthesized, statement.roles) == {"remediation.handlers.complete_outage.fail_over"}
        assert sorted(resolver.resolve(list(statement.resources))) == sorted(
            f"{dr_prefix}{service}" for service in synthesized.config.service_names
        )


def test_only_the_switch_step_may_change_the_active_region_parameter(synthesized):
    parameter = synthesized.config.dr.active_region_parameter
    ((logical_id, created),) = [
        (logical_id, props)
        for logical_id, props in synthesized.of_type("AWS::SSM::Parameter").items()
        if props["Name"] == parameter
    ]
    writers = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow"
        and actions_cover(s.actions, "ssm:PutParameter")
        and logical_id in json.dumps(s.resources)
    ]

    own_region = ({"Ref": "AWS::Region"}, synthesized.config.region)
    assert created["Value"] in own_region, "the stack creates the routing parameter naming its own region"
    assert writers
    for statement in writers:
        assert _handlers(synthesized, statement.roles) == {"remediation.handlers.complete_outage.switch_active_region"}


@pytest.mark.parametrize("level", ["L3", "L4"])
def test_the_page_step_may_publish_to_l3_and_l4(synthesized, level):
    topic = next(
        logical_id
        for logical_id, props in synthesized.of_type("AWS::SNS::Topic").items()
        if props["TopicName"].endswith(f"-{level.lower()}")
    )
    assert any(
        s.effect == "Allow"
        and actions_cover(s.actions, "sns:Publish")
        and {"Ref": topic} in s.resources
        and "remediation.handlers.complete_outage.page_on_call" in _handlers(synthesized, s.roles)
        for s in policy_statements(synthesized)
    )
