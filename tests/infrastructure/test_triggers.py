"""Triggers: per-agent CPU alarms and the EventBridge rules that start the runbooks, delivered reliably."""

from __future__ import annotations

import pytest

from simulator.emulator import event_pattern_matches
from tests.infrastructure.support import (
    ACCOUNT,
    REGION,
    SynthesizedStack,
    actions_cover,
    alarm_arn,
    policy_statements,
)


def _dimensions(alarm: dict) -> dict[str, str]:
    return {dimension["Name"]: dimension["Value"] for dimension in alarm["Dimensions"]}


def _rules_targeting(synthesized: SynthesizedStack, state_machine_suffix: str) -> dict[str, dict]:
    state_machine = synthesized.state_machine_named(state_machine_suffix)
    return {
        logical_id: rule
        for logical_id, rule in synthesized.of_type("AWS::Events::Rule").items()
        if any(target["Arn"] == {"Ref": state_machine} for target in rule["Targets"])
    }


def alarms_starting(synthesized: SynthesizedStack, runbook: str) -> list[str]:
    """Names of the stack's own alarms (and of look-alikes: the other environment's, another region's, another
    account's) whose transition into ALARM the one alarm rule of `runbook` matches; look-alikes never should."""
    _, rule = _only(_rules_targeting(synthesized, runbook), f"rule starting {runbook}")
    pattern = synthesized.resolver().resolve(rule["EventPattern"])
    assert rule["Targets"][0]["DeadLetterConfig"], "undeliverable alarm events go to the dead-letter queue"
    own = [props["AlarmName"] for props in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    other_environment = "staging" if synthesized.environment == "production" else "production"
    arns = [alarm_arn(name) for name in own]
    arns += [alarm_arn(name.replace(f"acso-{synthesized.environment}-", f"acso-{other_environment}-")) for name in own]
    arns += [arn.replace(f":{ACCOUNT}:", ":210987654321:") for arn in arns[: len(own)]]
    arns += [arn.replace(f":{REGION}:", ":us-east-2:") for arn in arns[: len(own)]]
    return sorted(
        arn.rsplit(":", 1)[-1] if arn in arns[: len(own)] else arn
        for arn in arns
        if event_pattern_matches(pattern, _alarm_state_change(arn, "ALARM", "OK"))
    )


def _only(mapping: dict[str, dict], what: str) -> tuple[str, dict]:
    assert len(mapping) == 1, f"expected exactly one {what}, found {sorted(mapping)}"
    return next(iter(mapping.items()))


def _alarm_state_change(arn: str, value: str, previous: str, source: str = "aws.cloudwatch") -> dict:
    """A CloudWatch 'Alarm State Change' event as EventBridge delivers it."""
    name = arn.rsplit(":", 1)[-1]
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": source,
        "account": ACCOUNT,
        "time": "2024-05-01T10:00:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "alarmName": name,
            "state": {"value": value, "reason": "Threshold Crossed", "timestamp": "2024-05-01T10:00:00.000+0000"},
            "previousState": {"value": previous, "reason": "", "timestamp": "2024-05-01T09:50:00.000+0000"},
            "configuration": {"description": f"{name} test event"},
        },
    }


# -- Alarms ---------------------------------------------------------------------------------------------


def test_each_configured_agent_has_one_cpu_alarm_above_80_percent_for_10_minutes_on_its_own_service(synthesized):
    config = synthesized.config
    alarms = list(synthesized.cpu_alarms().values())
    by_service = {_dimensions(alarm).get("ServiceName"): alarm for alarm in alarms}

    assert sorted(by_service) == sorted(config.service_names)
    assert len(alarms) == len(config.agents), "one alarm per agent, no strays"
    for service, alarm in by_service.items():
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ECS", "CPUUtilization", "Average")
        assert _dimensions(alarm) == {"ClusterName": config.cluster_name, "ServiceName": service}
        assert alarm["Threshold"] == config.high_cpu.alarm_threshold_percent == 80
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 600, "CPU > 80 % sustained for 10 minutes"
        assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) == alarm["EvaluationPeriods"], (
            "every datapoint of the 10 minutes must breach, not M out of N"
        )
        assert alarm["TreatMissingData"] == "notBreaching", "a stopped service must not page as high CPU"


# -- High-cpu rule ----------------------------------------------------------------------------------------


def test_high_cpu_rule_starts_the_runbook_only_on_transition_into_alarm_of_the_agent_alarms(synthesized):
    _, rule = _only(_rules_targeting(synthesized, "high-cpu"), "rule starting high-cpu")
    pattern = rule["EventPattern"]

    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert alarms_starting(synthesized, "high-cpu") == sorted(
        props["AlarmName"] for props in synthesized.cpu_alarms().values()
    ), "exactly the agents' CPU alarms of this environment, account and region"


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
def test_given_an_agent_alarm_state_change_when_matched_by_eventbridge_then_only_alarm_starts_high_cpu(
    synthesized, previous, value, starts
):
    _, rule = _only(_rules_targeting(synthesized, "high-cpu"), "rule starting high-cpu")
    pattern = synthesized.resolver().resolve(rule["EventPattern"])

    for alarm in synthesized.cpu_alarms().values():
        event = _alarm_state_change(alarm_arn(alarm["AlarmName"]), value, previous)
        assert event_pattern_matches(pattern, event) is starts, f"{alarm['AlarmName']}: {previous} -> {value}"


@pytest.mark.parametrize(
    "arn",
    [
        alarm_arn("acso-production-unrelated-alarm"),
        f"arn:aws:cloudwatch:{REGION}:210987654321:alarm:acso-production-supervisor-high-cpu",
    ],
    ids=["another-alarm-in-the-account", "same-name-in-another-account"],
)
def test_given_an_alarm_that_is_not_an_agent_cpu_alarm_when_it_goes_into_alarm_then_high_cpu_does_not_start(
    production, arn
):
    _, rule = _only(_rules_targeting(production, "high-cpu"), "rule starting high-cpu")
    pattern = production.resolver().resolve(rule["EventPattern"])

    assert not event_pattern_matches(pattern, _alarm_state_change(arn, "ALARM", "OK"))


def test_given_a_custom_event_imitating_an_alarm_when_matched_then_high_cpu_does_not_start(production):
    _, rule = _only(_rules_targeting(production, "high-cpu"), "rule starting high-cpu")
    pattern = production.resolver().resolve(rule["EventPattern"])
    own_alarm = next(iter(production.cpu_alarms().values()))["AlarmName"]

    event = _alarm_state_change(alarm_arn(own_alarm), "ALARM", "OK", source="acso.custom")
    assert not event_pattern_matches(pattern, event)


# -- Daily schedule --------------------------------------------------------------------------------------


def test_daily_schedule_starts_the_daily_health_check_with_the_configured_cron(synthesized):
    _, rule = _only(_rules_targeting(synthesized, "daily-health-check"), "rule starting daily-health-check")

    assert rule["ScheduleExpression"] == synthesized.config.schedules.daily_health_check == "cron(0 6 * * ? *)"
    assert "EventPattern" not in rule
    assert rule.get("State", "ENABLED") == "ENABLED"


# -- Delivery of every trigger ---------------------------------------------------------------------------


def test_every_trigger_retries_delivery_and_keeps_undelivered_events_in_a_dead_letter_queue(synthesized):
    queues = synthesized.of_type("AWS::SQS::Queue")
    queue_policies = synthesized.of_type("AWS::SQS::QueuePolicy")
    statements = list(policy_statements(synthesized))
    rules = synthesized.of_type("AWS::Events::Rule")
    assert rules

    for logical_id, rule in rules.items():
        assert rule.get("State", "ENABLED") == "ENABLED"
        for target in rule["Targets"]:
            dead_letter_queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            assert dead_letter_queue in queues, f"{logical_id}: dead letters must go to a queue of this stack"
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
            queue_policy_ids = {
                policy_id
                for policy_id, policy in queue_policies.items()
                if {"Ref": dead_letter_queue} in policy["Queues"]
            }
            assert any(
                statement.source in queue_policy_ids
                and statement.effect == "Allow"
                and statement.principal == {"Service": "events.amazonaws.com"}
                and actions_cover(statement.actions, "sqs:SendMessage")
                and statement.condition.get("ArnEquals", {}).get("aws:SourceArn") == {"Fn::GetAtt": [logical_id, "Arn"]}
                for statement in statements
            ), f"{logical_id}: EventBridge may not send this rule's dead letters to {dead_letter_queue}"


def test_each_trigger_role_may_only_start_its_own_state_machine(synthesized):
    statements = list(policy_statements(synthesized))
    for logical_id, rule in synthesized.of_type("AWS::Events::Rule").items():
        for target in rule["Targets"]:
            if "RoleArn" not in target:  # a Lambda target is allowed by the function's resource policy instead
                continue
            role = target["RoleArn"]["Fn::GetAtt"][0]
            trust = [s for s in statements if s.kind == "trust" and s.source == role]
            allowed = [s for s in statements if s.kind == "identity" and role in s.roles and s.effect == "Allow"]

            assert [s.principal for s in trust] == [{"Service": "events.amazonaws.com"}]
            assert [(s.actions, s.resources) for s in allowed] == [(("states:StartExecution",), (target["Arn"],))], (
                f"{logical_id}: the trigger role must start its target and nothing else"
            )


def test_eventbridge_may_use_the_key_of_the_encrypted_dead_letter_queue(synthesized):
    keys = synthesized.of_type("AWS::KMS::Key")
    statements = list(policy_statements(synthesized))
    dead_letter_queues = {
        target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        for target in rule["Targets"]
    }
    assert dead_letter_queues

    for queue in dead_letter_queues:
        key_ref = synthesized.of_type("AWS::SQS::Queue")[queue].get("KmsMasterKeyId")
        if not isinstance(key_ref, dict):
            continue  # SQS-managed or AWS-managed encryption: no key policy of ours is involved
        key = key_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in key_ref else key_ref["Ref"]
        assert key in keys
        granted = [
            s
            for s in statements
            if s.source == key and s.effect == "Allow" and s.principal == {"Service": "events.amazonaws.com"}
        ]
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            assert any(actions_cover(s.actions, action) for s in granted), (
                f"{queue} is encrypted with {key}, whose key policy does not allow EventBridge {action}"
            )


def test_failed_or_timed_out_runbooks_and_undelivered_trigger_events_page_l2(synthesized):
    resolver = synthesized.resolver()
    l2_topic = next(
        resolver.resolve({"Ref": logical_id})
        for logical_id, props in synthesized.of_type("AWS::SNS::Topic").items()
        if props["TopicName"].endswith("-l2")
    )
    own = [
        props
        for props in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if props.get("MetricName") not in ("CPUUtilization", "MemoryUtilization")  # the agents' trigger alarms
        and not props["AlarmName"].endswith("-unavailable")  # the agents' metric-math unavailable alarms
        and not props["AlarmName"].endswith(("-database-connections", "-cache-hit-rate"))  # the reviews' triggers
    ]
    watched = {(props["Namespace"], props["MetricName"]) for props in own}

    assert watched == {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
    for props in own:
        assert resolver.resolve(props["AlarmActions"]) == [l2_topic], props["AlarmName"]
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
    machines = {resolver.resolve(d["Value"]) for p in own for d in p["Dimensions"] if d["Name"] == "StateMachineArn"}
    assert len(machines) == len(synthesized.of_type("AWS::StepFunctions::StateMachine"))


def test_executions_that_end_unrecorded_release_their_leases_through_a_status_change_rule(synthesized):
    resolver = synthesized.resolver()
    machines = sorted(
        resolver.resolve({"Ref": logical_id}) for logical_id in synthesized.of_type("AWS::StepFunctions::StateMachine")
    )
    (rule,) = [
        rule
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if rule.get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    pattern = resolver.resolve(rule["EventPattern"])

    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    for machine in machines:  # every runbook's state machine, and no other environment's
        event = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change"}
        assert event_pattern_matches(pattern, event | {"detail": {"status": "TIMED_OUT", "stateMachineArn": machine}})
        other = machine.replace(f"acso-{synthesized.environment}-", "acso-elsewhere-")
        assert not event_pattern_matches(pattern, event | {"detail": {"status": "FAILED", "stateMachineArn": other}})
    (target,) = rule["Targets"]
    assert synthesized.of_type("AWS::Lambda::Function")[target["Arn"]["Fn::GetAtt"][0]]["Handler"] == (
        "remediation.handlers.abandoned.release_leases"
    )
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
