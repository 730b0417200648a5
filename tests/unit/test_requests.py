"""Normalize: alarm events, schedules and console inputs become one validated request, or a clear refusal."""

from __future__ import annotations

import copy

import pytest

from remediation.domain.requests.incidents import normalize_service_alarm
from remediation.domain.requests.scheduled_reviews import normalize_health_check
from remediation.errors import InvalidInput
from remediation.handlers import high_cpu as high_cpu_handlers
from tests.unit.conftest import ACCOUNT_ID, AGENTS, CLUSTER, REGION, alarm_state_change

ALARM_NAME = "acso-production-supervisor-high-cpu"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{ALARM_NAME}"
STATE_AT = "2024-03-01T12:10:04.123+0000"
CONSOLE_EXAMPLE = '{"service": "supervisor"}'
ALARM_EVENT = alarm_state_change("supervisor", STATE_AT)


def _alarm_event(**changes) -> dict:
    event = copy.deepcopy(ALARM_EVENT)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = event
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return event


def _with_dimensions(**dimensions) -> dict:
    event = copy.deepcopy(ALARM_EVENT)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = dimensions
    return event


def _scale_out_request(raw, settings, execution_name="exec-1"):
    return normalize_service_alarm(raw, "high-cpu", "scale-out", settings, ACCOUNT_ID, REGION, execution_name)


# --- Alarm events ---------------------------------------------------------------------------------------


def test_given_the_documented_alarm_event_when_normalized_then_it_names_the_agent_service_and_cluster(
    settings_only,
):
    request = _scale_out_request(ALARM_EVENT, settings_only())

    assert (request.agent, request.service_name, request.cluster_name) == (
        "supervisor",
        "acso-production-supervisor",
        CLUSTER,
    )
    assert request.trigger == "alarm"
    assert request.idempotency_key == f"{ALARM_ARN}@{STATE_AT}#scale-out"
    assert (request.alarm_name, request.alarm_arn, request.alarm_state_at) == (ALARM_NAME, ALARM_ARN, STATE_AT)
    assert request.reason.startswith("Threshold Crossed")
    assert request.dry_run is False


def test_given_guard_dry_run_in_settings_when_an_alarm_is_normalized_then_the_request_is_a_dry_run(settings_only):
    assert _scale_out_request(ALARM_EVENT, settings_only(dryRun=True)).dry_run is True


def test_given_the_same_alarm_event_delivered_twice_when_normalized_then_both_have_the_same_idempotency_key(
    settings_only,
):
    settings = settings_only()
    first = _scale_out_request(copy.deepcopy(ALARM_EVENT), settings, "exec-1")
    redelivered = _scale_out_request(copy.deepcopy(ALARM_EVENT), settings, "exec-2")

    assert first.idempotency_key == redelivered.idempotency_key


def test_given_a_later_alarm_transition_when_normalized_then_it_gets_a_new_idempotency_key(settings_only):
    settings = settings_only()
    later = _alarm_event(detail__state={**ALARM_EVENT["detail"]["state"], "timestamp": "2024-03-01T14:00:00.000+0000"})

    first = _scale_out_request(ALARM_EVENT, settings)

    assert _scale_out_request(later, settings).idempotency_key != first.idempotency_key


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            _alarm_event(detail__state={**ALARM_EVENT["detail"]["state"], "value": "OK"}),
            f"Alarm {ALARM_NAME} is in state OK, not ALARM: nothing to remediate.",
        ),
        (
            _alarm_event(account="999999999999"),
            f"comes from account 999999999999 in {REGION}; this automation acts only on account {ACCOUNT_ID} in "
            f"{REGION}",
        ),
        (
            _alarm_event(region="us-east-1"),
            f"comes from account {ACCOUNT_ID} in us-east-1; this automation acts only on account {ACCOUNT_ID} in "
            f"{REGION}",
        ),
        (
            _with_dimensions(ClusterName="acso-staging-cluster", ServiceName="acso-production-supervisor"),
            f"Alarm names cluster 'acso-staging-cluster'; this automation manages {CLUSTER}.",
        ),
        (
            _with_dimensions(ClusterName=CLUSTER, ServiceName="acso-production-billing"),
            "Unknown service 'acso-production-billing'. Configured agents in production: supervisor, threat-hunter, "
            "incident-response, service-orchestration, financial-intelligence.",
        ),
        (
            _with_dimensions(ClusterName=CLUSTER),
            f"Alarm '{ALARM_NAME}' has no ServiceName dimension; it is not an agent alarm.",
        ),
        (_alarm_event(source="aws.ecs"), "Event source 'aws.ecs' is not aws.cloudwatch."),
    ],
    ids=["ok-state", "other-account", "other-region", "other-cluster", "unknown-service", "no-service", "not-cw"],
)
def test_given_an_alarm_event_we_must_not_act_on_when_normalized_then_invalid_input_says_what_is_wrong(
    settings_only, event, message
):
    with pytest.raises(InvalidInput) as refused:
        _scale_out_request(event, settings_only())

    assert message in str(refused.value)


def test_given_the_alarm_event_when_the_normalize_handler_runs_then_account_and_region_come_from_its_own_arn(
    settings_only, lambda_context
):
    result = high_cpu_handlers.normalize({"input": ALARM_EVENT, "executionName": "exec-1"}, lambda_context)

    assert result["request"]["service_name"] == "acso-production-supervisor"
    assert result["request"]["idempotency_key"] == f"{ALARM_ARN}@{STATE_AT}#scale-out"


# --- Console inputs (high-cpu) ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["supervisor", "acso-production-supervisor"])
def test_given_an_agent_or_its_ecs_service_name_from_the_console_when_normalized_then_it_targets_that_service(
    settings_only, service
):
    request = _scale_out_request({"service": service}, settings_only(), "manual-run-7")

    assert (request.agent, request.service_name, request.cluster_name) == (
        "supervisor",
        "acso-production-supervisor",
        CLUSTER,
    )
    assert request.trigger == "console"
    assert request.dry_run is False
    assert request.idempotency_key == "console:manual-run-7#scale-out"


def test_given_dry_run_true_from_the_console_when_normalized_then_the_request_is_a_dry_run(settings_only):
    assert _scale_out_request({"service": "threat-hunter", "dryRun": True}, settings_only()).dry_run is True


@pytest.mark.parametrize(
    "raw", [{}, "", "*", None, []], ids=["empty-object", "empty-string", "star", "none", "empty-list"]
)
def test_given_an_empty_or_non_object_console_input_when_normalized_then_it_is_rejected_with_an_example(
    settings_only, raw
):
    with pytest.raises(InvalidInput) as refused:
        _scale_out_request(raw, settings_only())

    message = str(refused.value)
    assert f"({raw!r})" in message
    assert "Start this runbook with" in message
    assert CONSOLE_EXAMPLE in message


@pytest.mark.parametrize(
    ("raw", "problem", "instead"),
    [
        ({"service": "*"}, "Unknown service '*'", "Configured agents in production: supervisor, threat-hunter"),
        ({"service": "supervisor", "force": True}, "force: Extra inputs are not permitted", CONSOLE_EXAMPLE),
        ({"service": "supervisor", "dryRun": "yes"}, "dryRun: Input should be a valid boolean", CONSOLE_EXAMPLE),
        ({"service": "supervisor", "dryRun": 1}, "dryRun: Input should be a valid boolean", CONSOLE_EXAMPLE),
        ({"service": ""}, "service: String should have at least 1 character", CONSOLE_EXAMPLE),
        ({"dryRun": True}, "service: Field required", CONSOLE_EXAMPLE),
    ],
    ids=["wildcard", "unknown-key", "string-dry-run", "int-dry-run", "empty-service", "no-service"],
)
def test_given_a_bad_console_input_when_normalized_then_the_message_says_what_is_wrong_and_what_to_send(
    settings_only, raw, problem, instead
):
    with pytest.raises(InvalidInput) as refused:
        _scale_out_request(raw, settings_only())

    assert problem in str(refused.value)
    assert instead in str(refused.value)


# --- Daily health check -----------------------------------------------------------------------------------

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT_ID,
    "time": "2024-03-01T06:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/acso-production-daily-health-check"],
    "detail": {},
}
HEALTH_EXAMPLE = '{"services": "all"} or {"services": ["supervisor", "threat-hunter"]}'


def test_given_the_daily_scheduled_event_when_normalized_then_every_agent_is_checked(settings_only):
    request = normalize_health_check(SCHEDULED_EVENT, settings_only(), "daily-1")

    assert request.agents == AGENTS
    assert request.trigger == "schedule"
    assert request.reason == "daily schedule 2024-03-01T06:00:00Z"
    assert request.dry_run is False


def test_given_services_all_from_the_console_when_normalized_then_every_agent_is_checked(settings_only):
    request = normalize_health_check({"services": "all"}, settings_only(), "manual-1")

    assert request.agents == AGENTS
    assert (request.trigger, request.idempotency_key) == ("console", "console:manual-1")


def test_given_a_list_naming_an_agent_twice_when_normalized_then_each_agent_is_checked_once_in_order(settings_only):
    raw = {"services": ["threat-hunter", "supervisor", "acso-production-threat-hunter", "supervisor"]}

    assert normalize_health_check(raw, settings_only(), "manual-2").agents == ("threat-hunter", "supervisor")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"services": []}, '"services" is an empty list; name agents or use "all"'),
        ({"services": ["supervisor", "billing"]}, "Unknown service 'billing'. Configured agents in production"),
        ({"services": "*"}, "services"),
        ({}, "The input is empty or not a JSON object ({})"),
        ({"services": "all", "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
    ids=["empty-list", "unknown-name", "wildcard", "empty-object", "unknown-key"],
)
def test_given_a_bad_health_check_input_when_normalized_then_it_is_rejected_saying_what_to_send(
    settings_only, raw, problem
):
    with pytest.raises(InvalidInput) as refused:
        normalize_health_check(raw, settings_only(), "manual-3")

    message = str(refused.value)
    assert problem in message
    assert HEALTH_EXAMPLE in message or "Configured agents in production: supervisor" in message
