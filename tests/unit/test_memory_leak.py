"""memory-leak: the trend rules (pure), the request, and the steps against moto, called as the state machine
calls them (results stored under their ASL ResultPath)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from remediation.adapters.aws import client
from remediation.domain import memory_trend, summaries
from remediation.domain.summaries import RunContext
from remediation.errors import InvalidInput
from remediation.handlers import memory_leak, record
from stacks.config import ConfigError, parse_environment
from tests.unit.conftest import ACCOUNT_ID, CLUSTER, REGION, SERVICES, STATE_TABLE, alarm_state_change, boto

SUPERVISOR = SERVICES["supervisor"]
RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-memory-leak:run-1"
MEMORY_ALARM = "acso-production-supervisor-memory-leak"
THRESHOLD, MIN_RISE = 85.0, 0.5


def _hourly(values: list[float]) -> list[tuple[float, float]]:
    return [(float(hour), value) for hour, value in enumerate(values)]


# --- Trend rules (domain/memory_trend.py) ---------------------------------------------------------------------


def test_given_points_on_a_line_when_fitted_then_the_slope_is_the_line_and_the_fit_is_perfect():
    line = memory_trend.least_squares([(0.0, 40.0), (1.0, 42.0), (2.0, 44.0), (3.0, 46.0)])

    assert (round(line.slope, 6), round(line.intercept, 6), round(line.fit, 6)) == (2.0, 40.0, 1.0)


def test_given_a_flat_series_when_fitted_then_slope_and_fit_are_zero():
    assert memory_trend.least_squares([(0.0, 45.0), (1.0, 45.0), (2.0, 45.0)]) == memory_trend.Line(0.0, 45.0, 0.0)


def test_given_memory_rising_two_points_an_hour_for_a_day_when_assessed_then_it_is_a_leak_with_its_figures():
    trend = memory_trend.assess(_hourly([45 + 2 * hour for hour in range(24)]), 93.0, 24, THRESHOLD, MIN_RISE)

    assert trend.verdict == "leak" and trend.leaking
    figures = trend.to_dict()
    assert (figures["startPercent"], figures["nowPercent"], figures["latestPercent"]) == (45.0, 91.0, 93.0)
    assert (figures["slopePercentPerHour"], figures["fit"]) == (2.0, 1.0)
    assert figures["hoursToFull"] == 3.5, "(100 - 93) / 2 %/h"


def test_given_a_noisy_but_steady_rise_when_assessed_then_it_is_still_a_leak():
    noise = [0.8, -0.6, 0.4, -0.9, 0.2, 0.7, -0.3, -0.5] * 3
    values = [50 + 1.2 * hour + noise[hour] for hour in range(24)]

    assert memory_trend.assess(_hourly(values), values[-1], 24, THRESHOLD, MIN_RISE).verdict == "leak"


def test_given_a_flat_day_and_one_high_sample_now_when_assessed_then_it_is_a_spike_not_a_leak():
    values = [45.0] * 23 + [48.8]  # the last hourly average carries the one 95 % sample

    trend = memory_trend.assess(_hourly(values), 95.0, 24, THRESHOLD, MIN_RISE)

    assert trend.verdict == "spike"
    assert trend.why.startswith("spike: 95.0 % now")
    assert trend.fit < memory_trend.STEADY_FIT


def test_given_a_step_up_that_stays_flat_above_the_threshold_when_assessed_then_it_is_high_but_not_a_leak():
    values = [50.0] * 12 + [90.0] * 12

    trend = memory_trend.assess(_hourly(values), 90.0, 24, THRESHOLD, MIN_RISE)

    assert trend.verdict == "high-flat"


def test_given_memory_rising_slower_than_the_configured_rise_when_assessed_then_it_is_not_a_leak():
    values = [40 + 0.2 * hour for hour in range(24)]

    assert memory_trend.assess(_hourly(values), values[-1], 24, THRESHOLD, MIN_RISE).verdict == "normal"


def test_given_too_few_hourly_datapoints_when_assessed_then_the_trend_cannot_be_judged():
    trend = memory_trend.assess(_hourly([60.0, 70.0, 80.0, 90.0]), 90.0, 24, THRESHOLD, MIN_RISE)

    assert (trend.verdict, trend.points) == ("no-data", 4)


@pytest.mark.parametrize(
    ("before", "after", "fell"),
    [(93.0, 45.0, True), (93.0, 88.0, False), (60.0, 70.0, False), (93.0, None, False), (None, 40.0, True)],
    ids=["back-to-baseline", "still-over-threshold", "rose", "no-data-after", "no-before"],
)
def test_given_memory_before_and_after_a_restart_when_compared_then_it_fell_only_below_both(before, after, fell):
    assert memory_trend.memory_fell(before, after, THRESHOLD) is fell


# --- Configuration (cdk.json acso:defaults.memoryLeak) ---------------------------------------------------------


def _production(**overrides):
    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    return parse_environment("production", context["acso:defaults"], overrides)


def test_checked_in_config_has_the_seeds_memory_alarm_and_a_day_long_trend():
    policy = _production().memory_leak

    assert (policy.alarm_threshold_percent, policy.period_seconds, policy.evaluation_periods) == (85, 3600, 3)
    assert (policy.trend_hours, policy.min_rise_percent_per_hour, policy.verify_after_seconds) == (24, 0.5, 600)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"evaluationPeriods": 0}, "memoryLeak.evaluationPeriods"),
        ({"trendHours": 2}, "memoryLeak.trendHours"),
        ({"minRisePercentPerHour": 0}, "memoryLeak.minRisePercentPerHour"),
        ({"verifyAfterSeconds": 7200}, "memoryLeak.verifyAfterSeconds"),
    ],
)
def test_a_wrong_memory_leak_value_fails_synth_naming_its_key(override, key):
    with pytest.raises(ConfigError, match=f"acso:environments.production.{key}"):
        _production(memoryLeak=override)


# --- NormalizeRequest --------------------------------------------------------------------------------------------


def _memory_alarm_event(state_at: str = "2024-03-01T10:00:04.555+0000") -> dict:
    """The memory alarm's "CloudWatch Alarm State Change" event (same shape as the CPU alarm's)."""
    event = alarm_state_change("supervisor", state_at)
    event["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{MEMORY_ALARM}"]
    event["detail"]["alarmName"] = MEMORY_ALARM
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]
    metric["metric"]["name"], metric["period"] = "MemoryUtilization", 3600
    return event


def _normalize(raw, lambda_context, execution: str = "run-1") -> dict:
    return memory_leak.normalize({"input": raw, "executionName": execution}, lambda_context)["request"]


def test_given_the_memory_alarm_event_when_normalized_then_the_request_names_the_service_and_its_alarm(
    settings_only, lambda_context
):
    request = _normalize(_memory_alarm_event(), lambda_context)

    assert (request["runbook"], request["trigger"], request["agent"]) == ("memory-leak", "alarm", "supervisor")
    assert request["alarm_name"] == MEMORY_ALARM
    assert request["idempotency_key"].endswith("@2024-03-01T10:00:04.555+0000#memory-restart")


def test_given_console_input_with_a_reason_when_normalized_then_it_is_a_console_request(settings_only, lambda_context):
    request = _normalize({"service": "supervisor", "reason": "memory keeps rising", "dryRun": True}, lambda_context)

    assert (request["trigger"], request["dry_run"], request["service_name"]) == ("console", True, SUPERVISOR)
    assert request["idempotency_key"] == "console:run-1#memory-restart"


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"service": "supervisor"},
        {"service": "*", "reason": "all of them"},
        {"service": "supervisor", "reason": "x"},
    ],
    ids=["empty", "no-reason", "wildcard", "reason-too-short"],
)
def test_given_bad_console_input_when_normalized_then_it_is_rejected_with_an_example(
    settings_only, lambda_context, raw
):
    with pytest.raises(InvalidInput) as rejected:
        _normalize(raw, lambda_context)

    assert "supervisor" in str(rejected.value)


# --- MemoryTrend, RestartService, VerifyMemory against moto -------------------------------------------------------


@pytest.fixture
def metric_data_calls(aws) -> Iterator[list[dict]]:
    calls: list[dict] = []
    events = client("cloudwatch").meta.events

    def record_call(params, **_):
        calls.append(params)

    events.register("provide-client-params.cloudwatch.GetMetricData", record_call, unique_id="test-memory-gmd")
    yield calls
    events.unregister("provide-client-params.cloudwatch.GetMetricData", unique_id="test-memory-gmd")


@pytest.fixture
def update_service_calls(aws) -> Iterator[list[dict]]:
    calls: list[dict] = []
    events = client("ecs").meta.events

    def record_call(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record_call, unique_id="test-memory-update")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-memory-update")


def _put_memory(at_and_values: list[tuple]) -> None:
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "MemoryUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SUPERVISOR}],
                "Timestamp": at,
                "Value": value,
                "Unit": "Percent",
            }
            for at, value in at_and_values
        ],
    )


def _leaking_day(now) -> None:
    """45 % a day ago, +2 points an hour since: 93 % a minute ago."""
    _put_memory([(now - timedelta(hours=hours, minutes=1), 45 + 2 * (24 - hours)) for hours in range(23, -1, -1)])


def test_given_a_day_of_rising_memory_when_the_trend_is_read_then_one_get_metric_data_call_finds_the_leak(
    aws, virtual_clock, lambda_context, metric_data_calls
):
    _leaking_day(virtual_clock.now)

    trend = memory_leak.memory_trend({"request": _normalize(_memory_alarm_event(), lambda_context)}, lambda_context)

    assert len(metric_data_calls) == 1
    [call] = metric_data_calls
    assert call["EndTime"] - call["StartTime"] == timedelta(hours=24)
    assert [query["MetricStat"]["Period"] for query in call["MetricDataQueries"]] == [3600, 300]
    assert trend["verdict"] == "leak"
    assert trend["latestPercent"] == 93.0
    assert trend["slopePercentPerHour"] == pytest.approx(2.0, abs=0.01)
    assert len(trend["hourlyPercent"]) == 24


def _alarm_in(state: str) -> None:
    boto("cloudwatch").put_metric_alarm(
        AlarmName=MEMORY_ALARM,
        Namespace="AWS/ECS",
        MetricName="MemoryUtilization",
        Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SUPERVISOR}],
        Statistic="Average",
        Period=3600,
        EvaluationPeriods=3,
        Threshold=85,
        ComparisonOperator="GreaterThanThreshold",
    )
    boto("cloudwatch").set_alarm_state(AlarmName=MEMORY_ALARM, StateValue=state, StateReason="test")


def _cooldowns() -> list[dict]:
    scan = boto("dynamodb").scan(TableName=STATE_TABLE, ConsistentRead=True)
    return [item for item in scan["Items"] if item["pk"]["S"].startswith("COOLDOWN#")]


def test_given_a_leak_and_its_alarm_in_alarm_when_restarting_then_one_forced_deployment_and_the_cooldown_is_recorded(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _alarm_in("ALARM")
    event = {"request": _normalize(_memory_alarm_event(), lambda_context), "executionArn": RUN}

    action = memory_leak.restart(event, lambda_context)

    assert action["outcome"] == "restarted"
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True}]
    assert aws.desired_count("supervisor") == 2
    assert action["verifyAfterSeconds"] == 600
    # Both cooldowns start: another memory restart and a hand-started restart-agent wait alike.
    assert sorted((c["pk"]["S"], c["sk"]["S"]) for c in _cooldowns()) == [
        (f"COOLDOWN#{CLUSTER}/{SUPERVISOR}", "memory-restart"),
        (f"COOLDOWN#{CLUSTER}/{SUPERVISOR}", "restart"),
    ]


def test_given_the_memory_alarm_back_to_ok_when_restarting_then_nothing_is_written(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _alarm_in("OK")
    event = {"request": _normalize(_memory_alarm_event(), lambda_context), "executionArn": RUN}

    action = memory_leak.restart(event, lambda_context)

    assert (action["outcome"], action["authorization"]["reason"]) == ("refused", "alarm-resolved")
    assert update_service_calls == []
    assert _cooldowns() == []


def test_given_a_dry_run_when_restarting_then_the_exact_call_is_recorded_and_none_is_made(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    request = _normalize({"service": "supervisor", "reason": "rehearsal", "dryRun": True}, lambda_context)

    action = memory_leak.restart({"request": request, "executionArn": RUN}, lambda_context)

    assert action["outcome"] == "dry-run"
    assert action["call"] == {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True},
    }
    assert update_service_calls == []


@pytest.mark.parametrize(("now_percent", "verified"), [(46.0, True), (91.0, False)], ids=["fell", "still-high"])
def test_given_memory_after_the_restart_when_verified_then_only_a_fall_below_the_threshold_verifies(
    aws, virtual_clock, lambda_context, now_percent, verified
):
    aws.create_service("supervisor", desired_count=2)
    _put_memory([(virtual_clock.now - timedelta(minutes=1), now_percent)])
    request = _normalize({"service": "supervisor", "reason": "memory keeps rising"}, lambda_context)

    verification = memory_leak.verify_memory(
        {"request": request, "beforePercent": 93.0, "executionArn": RUN}, lambda_context
    )

    assert (verification["verified"], verification["memoryFell"], verification["stable"]) == (verified, verified, True)
    assert verification["memoryNowPercent"] == now_percent
    assert (verification["breaker"] is None) is verified


# --- Record (summary and notification) ----------------------------------------------------------------------------

CONTEXT = RunContext("production", REGION, RUN, "/aws/acso/production/agents", STATE_TABLE)


def _state(verdict: str, **more) -> dict:
    request = {
        "runbook": "memory-leak",
        "trigger": "alarm",
        "dry_run": False,
        "idempotency_key": "k#memory-restart",
        "reason": "Threshold Crossed",
        "alarm_name": MEMORY_ALARM,
        "alarm_state_at": "2024-03-01T10:00:04.555+0000",
        "agent": "supervisor",
        "service_name": SUPERVISOR,
        "cluster_name": CLUSTER,
    }
    trend = memory_trend.assess(
        _hourly([45.0] * 23 + [48.8]) if verdict == "spike" else _hourly([45 + 2 * h for h in range(24)]),
        95.0 if verdict == "spike" else 93.0,
        24,
        THRESHOLD,
        MIN_RISE,
    ).to_dict() | {"windowHours": 24}
    service = {
        "service_name": SUPERVISOR,
        "running_count": 2,
        "desired_count": 2,
        "deployments": 1,
        "task_definition": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/{SUPERVISOR}:1",
    }
    logs = {
        "pattern": "?memory ?heap ?garbage",
        "windowMinutes": 360,
        "matches": 3,
        "samples": ["WARN [supervisor] heap usage 91 %, garbage collection took 2.3 s"],
    }
    return {
        "request": request,
        "guard": {"proceed": True, "reason": "clear", "detail": ""},
        "evidence": {"trend": trend, "logs": logs, "service": {"supervisor": service}},
    } | more


def test_given_a_spike_when_summarised_then_it_is_audited_as_no_action_and_nobody_is_told():
    decision = summaries.memory_leak(_state("spike"), CONTEXT)

    assert (decision.decision, decision.level) == ("no-action", None)
    assert decision.why.startswith("no leak: spike")


def test_given_a_restart_that_brought_memory_down_when_summarised_then_l1_reads_the_trend_logs_and_links():
    service = {"service_name": SUPERVISOR, "running_count": 2, "desired_count": 2}
    state = _state(
        "leak",
        action={"outcome": "restarted", "before": service, "after": service, "call": {}},
        verification={"verified": True, "stable": True, "memoryBeforePercent": 93.0, "memoryNowPercent": 45.0},
    )

    decision = summaries.memory_leak(state, CONTEXT)

    assert (decision.decision, decision.level) == ("acted", "L1")
    text = "\n".join(decision.lines)
    assert "45.0 % -> 91.0 %" in text and "+2.00 %/h" in text and "100 % in about 3.5 h" in text
    assert "heap usage 91 %" in text
    assert "console.aws.amazon.com/ecs" in text and "alarmsV2:alarm/" + MEMORY_ALARM in text
    assert "memory 93.0 % -> 45.0 %" in decision.why


def test_given_a_restart_after_which_memory_stayed_high_when_recorded_then_l2_is_paged(
    aws, virtual_clock, lambda_context
):
    service = {"service_name": SUPERVISOR, "running_count": 2, "desired_count": 2}
    state = _state(
        "leak",
        action={"outcome": "restarted", "before": service, "after": service, "call": {}},
        verification={"verified": False, "stable": True, "memoryBeforePercent": 93.0, "memoryNowPercent": 91.0},
    )

    result = record.record_decision({"runbook": "memory-leak", "state": state, "executionArn": RUN}, lambda_context)

    assert (result["decision"], result["notified"]) == ("escalated", "L2")
    [message] = aws.notifications("L2")
    assert "memory did not fall" in message["Subject"]
    assert len(aws.items("AUDIT#memory-leak")) == 1
