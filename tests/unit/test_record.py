"""Record, the last step of every path: one audit item, the lease released, one notification at the right level.

The state handed to record_decision is built the way the high-cpu state machine builds it: each real handler's
result stored under its ASL ResultPath ($.request, $.guard, $.evidence, $.action, $.verification, $.error).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from remediation.adapters import state_store
from remediation.errors import AwsThrottled
from remediation.handlers import guard as guard_step
from remediation.handlers import high_cpu, investigate, record
from tests.unit.conftest import (
    AGENTS_LOG_GROUP,
    CLUSTER,
    REGION,
    SERVICES,
    STATE_TABLE,
    alarm_state_change,
    boto,
    execution_arn,
)

SUPERVISOR = SERVICES["supervisor"]
RUN = execution_arn("run-1")
LEASE = f"LEASE#{CLUSTER}/{SUPERVISOR}"
LOG_PATTERN = "?timeout ?slow ?performance"  # the high-cpu state machine's SearchAgentLogs pattern


def _put_cpu(now, *values: float) -> None:
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SUPERVISOR}],
                "Timestamp": now - timedelta(minutes=len(values) - index),
                "Value": value,
                "Unit": "Percent",
            }
            for index, value in enumerate(values)
        ],
    )


def _agent_logs(now) -> None:
    logs = boto("logs")
    logs.create_log_group(logGroupName=AGENTS_LOG_GROUP)
    logs.create_log_stream(logGroupName=AGENTS_LOG_GROUP, logStreamName="supervisor/app/1")
    messages = ["WARN upstream timeout after 30 s calling threat-hunter", "INFO task started", "WARN slow plan: 12 s"]
    logs.put_log_events(
        logGroupName=AGENTS_LOG_GROUP,
        logStreamName="supervisor/app/1",
        logEvents=[
            {"timestamp": int((now - timedelta(minutes=10 - index)).timestamp() * 1000), "message": message}
            for index, message in enumerate(messages)
        ],
    )


def _run(aws, virtual_clock, lambda_context, desired_count: int, cpu_after: float | None = None, raw=None) -> dict:
    """Normalize -> AcquireGuard -> Investigate -> ScaleOut (-> VerifyScaling), as the state machine chains them."""
    aws.create_service("supervisor", desired_count=desired_count)
    _put_cpu(virtual_clock.now, 93.0, 91.4)
    _agent_logs(virtual_clock.now)
    raw = raw if raw is not None else {"service": "supervisor"}
    state = high_cpu.normalize({"input": raw, "executionName": "run-1"}, lambda_context)
    state["guard"] = guard_step.acquire(
        {"request": state["request"], "action": "scale-out", "executionArn": RUN}, lambda_context
    )
    state["evidence"] = {
        "utilization": investigate.collect_utilization(
            {"agents": "all", "windowMinutes": 30, "periodSeconds": 300, "stat": "Maximum"}, lambda_context
        ),
        "logs": investigate.search_logs({"pattern": LOG_PATTERN, "windowMinutes": 60}, lambda_context),
        "service": investigate.describe_services({"agents": [state["request"]["agent"]]}, lambda_context),
    }
    state["action"] = high_cpu.scale_out({"request": state["request"], "executionArn": RUN}, lambda_context)
    if state["action"]["outcome"] == "scaled":
        virtual_clock.advance(state["action"]["verifyAfterSeconds"])
        _put_cpu(virtual_clock.now, cpu_after)
        state["verification"] = high_cpu.verify_scaling(
            {
                "request": state["request"],
                "targetDesiredCount": state["action"]["after"]["desired_count"],
                "executionArn": RUN,
            },
            lambda_context,
        )
    return state


def _record(state: dict, lambda_context, execution: str = RUN) -> dict:
    return record.record_decision({"runbook": "high-cpu", "state": state, "executionArn": execution}, lambda_context)


def _audit_items(aws) -> list[dict]:
    return aws.items("AUDIT#")


def _sent(aws) -> dict[str, list[dict]]:
    return {level: aws.notifications(level) for level in ("L1", "L2", "L3", "L4")}


def test_given_a_verified_scale_out_when_recorded_then_one_audit_item_says_what_was_done_and_l1_is_told(
    aws, virtual_clock, lambda_context
):
    state = _run(aws, virtual_clock, lambda_context, desired_count=2, cpu_after=48.0)

    result = _record(state, lambda_context)

    assert (result["decision"], result["notified"]) == ("acted", "L1")
    [item] = _audit_items(aws)
    assert item["pk"]["S"] == "AUDIT#high-cpu"
    assert item["sk"]["S"] == "run-1"
    assert item["recordedAt"]["S"] == virtual_clock.now.isoformat()
    assert (item["decision"]["S"], item["idempotencyKey"]["S"], item["executionArn"]["S"]) == (
        "acted",
        "console:run-1#scale-out",
        RUN,
    )
    assert item["why"]["S"].startswith(f"scaled {SUPERVISOR} from 2 to 3 tasks; 3 running, CPU now 48.0 %")
    assert json.loads(item["before"]["S"])["desired_count"] == 2
    assert json.loads(item["after"]["S"])["desired_count"] == 3
    assert json.loads(item["call"]["S"])["parameters"]["desiredCount"] == 3
    assert item["leaseReleased"] == {"BOOL": True}
    sent = _sent(aws)
    assert [len(sent[level]) for level in ("L1", "L2", "L3", "L4")] == [1, 0, 0, 0]
    assert sent["L1"][0]["MessageId"] == result["messageId"]


def test_given_a_run_holding_the_lease_when_recorded_then_the_lease_is_released(aws, virtual_clock, lambda_context):
    state = _run(aws, virtual_clock, lambda_context, desired_count=2, cpu_after=48.0)
    assert state["guard"]["lease"] == {"resource": f"{CLUSTER}/{SUPERVISOR}"}
    assert len(aws.items(LEASE)) == 1

    _record(state, lambda_context)

    assert aws.items(LEASE) == []


def test_given_an_alarm_for_a_service_at_the_cap_when_recorded_then_l2_is_told_with_links_and_evidence(
    aws, virtual_clock, lambda_context
):
    alarm = alarm_state_change("supervisor", virtual_clock.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"))
    state = _run(aws, virtual_clock, lambda_context, desired_count=6, raw=alarm)

    result = _record(state, lambda_context)

    assert (result["decision"], result["notified"]) == ("escalated", "L2")
    sent = _sent(aws)
    assert [len(sent[level]) for level in ("L1", "L2", "L3", "L4")] == [0, 1, 0, 0]
    notification = sent["L2"][0]
    assert notification["Subject"] == "[ACSO production] high-cpu supervisor: at scaling cap 6, CPU still high"
    body = notification["Message"]
    assert body.startswith("ESCALATED - escalation L2: Development team lead, severity High, respond within 5 min")
    assert f"What happened: {SUPERVISOR} is at the scaling cap (6 of 6 tasks); no scale-out." in body
    assert (
        f"Execution: https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/{RUN}"
        in body.splitlines()
    )
    assert (
        f"Service: https://{REGION}.console.aws.amazon.com/ecs/v2/clusters/{CLUSTER}/services/{SUPERVISOR}/health"
        f"?region={REGION}" in body.splitlines()
    )
    logs = state["evidence"]["logs"]
    assert "Evidence" in body.splitlines()
    assert f"Logs matching '?timeout ?slow ?performance' (60 min): {logs['matches']}" in body
    assert "CPU max (30 min): supervisor 93.0 %, threat-hunter no data" in body
    assert f"{SUPERVISOR}: 6 running / 6 desired, 1 deployment(s), {SUPERVISOR}:1" in body
    alarm_at = alarm["detail"]["state"]["timestamp"]
    assert f"Why it ran: alarm acso-production-supervisor-high-cpu entered ALARM at {alarm_at}: Threshold" in body
    assert (
        f"Alarm: https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        "#alarmsV2:alarm/acso-production-supervisor-high-cpu" in body.splitlines()
    )
    assert notification["MessageAttributes"]["decision"]["Value"] == "escalated"
    assert notification["MessageAttributes"]["level"]["Value"] == "L2"
    [item] = _audit_items(aws)
    assert (item["decision"]["S"], item["notifiedLevel"]["S"]) == ("escalated", "L2")


def test_given_a_run_the_guard_suppressed_when_recorded_then_it_is_audited_and_nobody_is_told(
    aws, virtual_clock, lambda_context
):
    other = execution_arn("run-0")
    state_store.acquire_lease(STATE_TABLE, f"{CLUSTER}/{SUPERVISOR}", other, virtual_clock.now, 900)
    request = high_cpu.normalize({"input": {"service": "supervisor"}, "executionName": "run-1"}, lambda_context)
    state = request | {
        "guard": guard_step.acquire(
            {"request": request["request"], "action": "scale-out", "executionArn": RUN}, lambda_context
        )
    }
    assert state["guard"]["reason"] == "locked"

    result = _record(state, lambda_context)

    assert (result["decision"], result["notified"], result["messageId"]) == ("suppressed", None, None)
    assert _sent(aws) == {"L1": [], "L2": [], "L3": [], "L4": []}
    [item] = _audit_items(aws)
    assert item["decision"]["S"] == "suppressed"
    assert item["why"]["S"] == f"locked: {CLUSTER}/{SUPERVISOR} is held by {other}"
    assert aws.items(LEASE)[0]["owner"]["S"] == other  # the other run's lease survives


def test_given_rejected_input_when_recorded_then_it_is_audited_and_nobody_is_told(aws, virtual_clock, lambda_context):
    cause = {
        "errorMessage": "Unknown service 'billing'. Configured agents in production: supervisor, ...",
        "errorType": "InvalidInput",
    }
    state = {"error": {"Error": "InvalidInput", "Cause": json.dumps(cause)}}

    result = _record(state, lambda_context)

    assert (result["decision"], result["notified"]) == ("rejected", None)
    assert _sent(aws) == {"L1": [], "L2": [], "L3": [], "L4": []}
    [item] = _audit_items(aws)
    assert (item["decision"]["S"], item["why"]["S"]) == ("rejected", cause["errorMessage"])


def test_given_a_failed_step_when_recorded_then_the_decision_is_failed_l2_is_told_and_the_lease_released(
    aws, virtual_clock, lambda_context
):
    aws.create_service("supervisor", desired_count=2)
    state = high_cpu.normalize({"input": {"service": "supervisor"}, "executionName": "run-1"}, lambda_context)
    state["guard"] = guard_step.acquire(
        {"request": state["request"], "action": "scale-out", "executionArn": RUN}, lambda_context
    )
    message = "ecs.UpdateService was throttled (ThrottlingException)"
    state["error"] = {"Error": "AwsThrottled", "Cause": json.dumps({"errorMessage": message})}

    result = _record(state, lambda_context)

    assert (result["decision"], result["notified"]) == ("failed", "L2")
    assert result["why"] == f"AwsThrottled: {message}"
    sent = _sent(aws)
    assert [len(sent[level]) for level in ("L1", "L2", "L3", "L4")] == [0, 1, 0, 0]
    assert sent["L2"][0]["Subject"] == "[ACSO production] high-cpu: FAILED (AwsThrottled)"
    assert f"Error: AwsThrottled: {message}" in sent["L2"][0]["Message"]
    assert RUN in sent["L2"][0]["Message"]
    assert aws.items(LEASE) == []
    [item] = _audit_items(aws)
    assert item["decision"]["S"] == "failed"
    assert json.loads(item["error"]["S"])["Error"] == "AwsThrottled"


def test_given_two_decisions_when_recorded_then_each_call_writes_exactly_one_audit_item(
    aws, virtual_clock, lambda_context
):
    rejected = {"error": {"Error": "InvalidInput", "Cause": json.dumps({"errorMessage": "empty"})}}

    _record(rejected, lambda_context, execution_arn("run-1"))
    assert len(_audit_items(aws)) == 1
    virtual_clock.advance(1)
    _record(rejected, lambda_context, execution_arn("run-2"))

    assert sorted(item["sk"]["S"].rsplit("#", 1)[-1] for item in _audit_items(aws)) == ["run-1", "run-2"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_given_the_audit_write_was_throttled_when_step_functions_retries_then_the_level_is_notified_once(
    aws, virtual_clock, lambda_context, monkeypatch
):
    state = _run(aws, virtual_clock, lambda_context, desired_count=6)
    put, attempts = state_store.put_audit_record, []

    def throttled_once(*args, **kwargs):
        attempts.append(args)
        if len(attempts) == 1:
            raise AwsThrottled("dynamodb.PutItem was throttled (ThrottlingException)")
        return put(*args, **kwargs)

    monkeypatch.setattr(state_store, "put_audit_record", throttled_once)
    with pytest.raises(AwsThrottled):
        _record(state, lambda_context)

    _record(state, lambda_context)

    assert len(aws.notifications("L2")) == 1
    assert len(_audit_items(aws)) == 1


def test_given_evidence_with_percentages_when_audited_then_numbers_stay_numbers(aws, virtual_clock, lambda_context):
    state = _run(aws, virtual_clock, lambda_context, desired_count=6)

    _record(state, lambda_context)

    [item] = _audit_items(aws)
    evidence = json.loads(item["evidence"]["S"])
    assert evidence["utilization"]["services"]["supervisor"]["cpuMaxPercent"] == 93.0
