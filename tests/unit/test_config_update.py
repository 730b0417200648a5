"""config-update: the console input, the write / redeploy / restore steps against moto SSM and ECS, the log check,
and the decision an on-call human reads."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from moto.logs.utils import EventMessageFilter

from remediation.adapters.aws import client
from remediation.domain import summaries
from remediation.domain.requests.agent_operations import normalize_config_update
from remediation.errors import InvalidInput, ParameterNotFound
from remediation.handlers import config_update
from simulator.emulator import log_filter_matches
from stacks.config import ConfigError, load_environments
from tests.unit.conftest import AGENTS_LOG_GROUP, CLUSTER, SERVICES, STATE_TABLE, boto

SUPERVISOR = SERVICES["supervisor"]
PARAMETER = "/acso/production/supervisor/config"
CURRENT = {"logLevel": "INFO", "maxParallelHunts": 4}
NEW = {"logLevel": "DEBUG", "maxParallelHunts": 8}
GOOD = {"service": "supervisor", "config": NEW, "reason": "enable debug"}
RUN_ARN = "arn:aws:states:eu-west-1:123456789012:execution:acso-production-config-update:run-1"


# --- NormalizeRequest --------------------------------------------------------------------------------------------


def test_given_the_documented_console_input_when_normalized_then_it_names_the_agent_and_keeps_the_config(
    settings_only,
):
    request = normalize_config_update(GOOD, settings_only(), "run-1")

    assert (request.runbook, request.trigger, request.agent, request.service_name, request.cluster_name) == (
        "config-update",
        "console",
        "supervisor",
        SUPERVISOR,
        CLUSTER,
    )
    assert request.config == NEW
    assert request.reason == "enable debug"
    assert request.idempotency_key == "console:run-1#config-update"
    assert request.dry_run is False


def test_given_the_ecs_service_name_and_dry_run_when_normalized_then_the_request_is_a_dry_run_of_that_agent(
    settings_only,
):
    request = normalize_config_update(GOOD | {"service": SUPERVISOR, "dryRun": True}, settings_only(), "run-1")

    assert (request.agent, request.dry_run) == ("supervisor", True)


def test_given_the_environment_in_dry_run_when_normalized_then_every_request_is_a_dry_run(settings_only):
    assert normalize_config_update(GOOD, settings_only(dryRun=True), "run-1").dry_run is True


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({}, id="empty"),
        pytest.param("", id="empty-string"),
        pytest.param(None, id="null"),
        pytest.param("*", id="wildcard"),
        pytest.param(GOOD | {"service": "*"}, id="wildcard-service"),
        pytest.param(GOOD | {"service": "billing"}, id="unknown-service"),
        pytest.param(GOOD | {"value": "new-configuration-value"}, id="unknown-key"),
        pytest.param({"service": "supervisor", "config": NEW}, id="no-reason"),
        pytest.param({"service": "supervisor", "reason": "enable debug"}, id="no-config"),
        pytest.param(GOOD | {"config": {}}, id="empty-config"),
        pytest.param(GOOD | {"config": "logLevel=DEBUG"}, id="config-as-a-string"),
        pytest.param(GOOD | {"config": [NEW]}, id="config-as-a-list"),
        pytest.param(GOOD | {"config": {"": "DEBUG"}}, id="empty-config-key"),
        pytest.param(GOOD | {"config": {"rules": "x" * 3000}}, id="oversize-value"),
        pytest.param(GOOD | {"dryRun": "yes"}, id="non-boolean-dry-run"),
    ],
)
def test_given_bad_console_input_when_normalized_then_it_is_rejected_with_what_to_send_instead(settings_only, raw):
    with pytest.raises(InvalidInput) as error:
        normalize_config_update(raw, settings_only(), "run-1")

    message = str(error.value)
    assert any(hint in message for hint in ("Expected", "Configured agents", "Start this runbook with"))


def test_given_a_config_just_under_the_size_bound_when_normalized_then_it_is_accepted(settings_only):
    settings = settings_only()
    padding = settings.config_update.max_config_bytes - len(json.dumps({"rules": ""}))

    assert normalize_config_update(GOOD | {"config": {"rules": "x" * padding}}, settings, "run-1")


def test_given_an_oversize_config_when_the_first_state_runs_then_it_raises_invalid_input_and_writes_nothing(
    aws, lambda_context
):
    _seed_parameter()
    oversize = GOOD | {"config": {"rules": "x" * 5000}}

    with pytest.raises(InvalidInput, match="at most 2048"):
        config_update.normalize({"input": oversize, "executionName": "run-1"}, lambda_context)

    assert _history() == [(1, CURRENT)]


# --- ApplyConfig -------------------------------------------------------------------------------------------------


@pytest.fixture
def update_service_calls(aws) -> Iterator[list[dict]]:
    calls: list[dict] = []
    events = client("ecs").meta.events

    def record(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record, unique_id="test-config-update-calls")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-config-update-calls")


def _seed_parameter(value: dict = CURRENT) -> None:
    boto("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(value), Type="String")


def _history() -> list[tuple[int, dict]]:
    entries = boto("ssm").get_parameter_history(Name=PARAMETER)["Parameters"]
    return [(entry["Version"], json.loads(entry["Value"])) for entry in entries]


def _request(lambda_context, **changes) -> dict:
    return config_update.normalize({"input": GOOD | changes, "executionName": "run-1"}, lambda_context)["request"]


def _apply(lambda_context, **changes) -> dict:
    return config_update.apply_config(
        {"request": _request(lambda_context, **changes), "executionArn": RUN_ARN}, lambda_context
    )


def test_given_the_current_config_when_applying_a_new_one_then_a_new_version_is_written_and_the_service_redeployed(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()

    action = _apply(lambda_context)

    assert action["outcome"] == "updated"
    assert (action["before"]["version"], action["after"]["version"]) == (1, 2)
    assert _history() == [(1, CURRENT), (2, NEW)]
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True}]
    assert action["deployedAt"] == virtual_clock.now.isoformat()
    cooldowns = [item for item in aws.items("COOLDOWN#") if item["sk"]["S"] == "config-update"]
    assert len(cooldowns) == 1


def test_given_the_step_is_retried_after_its_write_when_applying_again_then_the_parameter_is_not_written_twice(
    aws, virtual_clock, lambda_context
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()

    first = _apply(lambda_context)
    retried = _apply(lambda_context)

    assert retried["outcome"] == "updated"
    assert retried["before"] == first["before"]
    assert retried["after"]["version"] == 2
    assert _history() == [(1, CURRENT), (2, NEW)]


def test_given_dry_run_when_applying_then_both_exact_calls_are_recorded_and_nothing_is_written(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()

    action = _apply(lambda_context, dryRun=True)

    assert action["outcome"] == "dry-run"
    assert action["call"] == [
        {
            "operation": "ssm.PutParameter",
            "parameters": {"Name": PARAMETER, "Value": json.dumps(NEW), "Overwrite": True},
        },
        {
            "operation": "ecs.UpdateService",
            "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True},
        },
    ]
    assert _history() == [(1, CURRENT)]
    assert update_service_calls == []


def test_given_the_parameter_already_holds_the_config_when_applying_then_nothing_is_written_or_redeployed(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter(NEW)

    action = _apply(lambda_context)

    assert (action["outcome"], action["call"]) == ("unchanged", None)
    assert _history() == [(1, NEW)]
    assert update_service_calls == []


def test_given_the_hourly_budget_is_spent_when_applying_then_the_guard_refuses_and_nothing_is_written(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()
    aws.use_settings(actionsPerHour=1)
    boto("dynamodb").put_item(
        TableName=STATE_TABLE,
        Item={
            "pk": {"S": f"BUDGET#{virtual_clock.now:%Y-%m-%dT%H}"},
            "sk": {"S": "BUDGET"},
            "used": {"N": "1"},
            "owners": {"SS": ["someone-else"]},
        },
    )

    action = _apply(lambda_context)

    assert action["outcome"] == "refused"
    assert action["authorization"]["reason"] == "budget-exhausted"
    assert _history() == [(1, CURRENT)]
    assert update_service_calls == []


def test_given_a_secure_string_config_parameter_when_applying_then_it_is_refused_and_nothing_is_written(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    boto("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(CURRENT), Type="SecureString")

    action = _apply(lambda_context)

    assert (action["outcome"], action["authorization"]["reason"]) == ("refused", "secure-string")
    assert len(boto("ssm").get_parameter_history(Name=PARAMETER)["Parameters"]) == 1
    assert update_service_calls == []


def test_given_the_agent_has_no_config_parameter_when_applying_then_it_fails_with_parameter_not_found(
    aws, virtual_clock, lambda_context
):
    aws.create_service("supervisor", desired_count=2)

    with pytest.raises(ParameterNotFound, match=PARAMETER):
        _apply(lambda_context)


# --- CheckConfigLoaded -------------------------------------------------------------------------------------------


@pytest.fixture
def cloudwatch_filter_patterns(monkeypatch):
    """CloudWatch's term semantics for filter patterns, as the emulator applies them (moto's are not faithful)."""
    monkeypatch.setattr(EventMessageFilter, "__init__", lambda self, pattern: setattr(self, "pattern", pattern or ""))
    monkeypatch.setattr(EventMessageFilter, "matches", lambda self, message: log_filter_matches(self.pattern, message))


def _log(virtual_clock, *lines: tuple[int, str]) -> None:
    """(seconds from now, message) lines in the agents' log group."""
    logs = boto("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=AGENTS_LOG_GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=AGENTS_LOG_GROUP)
        logs.create_log_stream(logGroupName=AGENTS_LOG_GROUP, logStreamName="agents")
    events = [
        {"timestamp": int((virtual_clock.now + timedelta(seconds=offset)).timestamp() * 1000), "message": message}
        for offset, message in sorted(lines)
    ]
    logs.put_log_events(logGroupName=AGENTS_LOG_GROUP, logStreamName="agents", logEvents=events)


def _check_loaded(lambda_context, deployed_at: str) -> dict:
    event = {"request": _request(lambda_context), "deployedAt": deployed_at, "checksLeft": 5}
    return config_update.check_config_loaded(event, lambda_context)


def test_given_the_agents_configuration_loaded_line_since_the_deployment_when_checked_then_it_is_loaded(
    aws, virtual_clock, lambda_context, cloudwatch_filter_patterns
):
    deployed_at = virtual_clock.now.isoformat()
    virtual_clock.advance(120)
    _log(virtual_clock, (-60, "INFO [supervisor] Configuration loaded (version 2)"))

    result = _check_loaded(lambda_context, deployed_at)

    assert (result["loaded"], result["matches"], result["checksLeft"]) == (True, 1, 4)
    assert result["pattern"] == '"Configuration loaded" "[supervisor]"'


def test_given_only_older_or_other_agents_lines_when_checked_then_it_is_not_loaded(
    aws, virtual_clock, lambda_context, cloudwatch_filter_patterns
):
    deployed_at = virtual_clock.now.isoformat()
    virtual_clock.advance(120)
    _log(
        virtual_clock,
        (-600, "INFO [supervisor] Configuration loaded (version 1)"),  # before the deployment
        (-60, "INFO [threat-hunter] Configuration loaded (version 7)"),
        (-30, "ERROR [supervisor] Invalid configuration (version 2): rejected at start"),
    )

    result = _check_loaded(lambda_context, deployed_at)

    assert (result["loaded"], result["matches"], result["checksLeft"]) == (False, 0, 4)


# --- RestorePreviousConfig ---------------------------------------------------------------------------------------


def _restore(lambda_context, action: dict) -> dict:
    event = {"request": _request(lambda_context), "action": action, "executionArn": RUN_ARN}
    return config_update.restore_previous_config(event, lambda_context)


def test_given_a_config_that_was_not_loaded_when_restoring_then_the_previous_value_is_written_again_and_redeployed(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()
    action = _apply(lambda_context)

    restored = _restore(lambda_context, action)

    assert restored["outcome"] == "restored"
    assert (restored["previousVersion"], restored["replacedVersion"], restored["after"]["version"]) == (1, 2, 3)
    assert _history() == [(1, CURRENT), (2, NEW), (3, CURRENT)]
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True}] * 2


def test_given_the_restore_step_is_retried_when_restoring_again_then_the_previous_value_is_not_written_twice(
    aws, virtual_clock, lambda_context
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()
    action = _apply(lambda_context)

    _restore(lambda_context, action)
    retried = _restore(lambda_context, action)

    assert (retried["outcome"], retried["after"]["version"]) == ("restored", 3)
    assert _history() == [(1, CURRENT), (2, NEW), (3, CURRENT)]


def test_given_someone_changed_the_parameter_after_our_write_when_restoring_then_their_change_is_kept(
    aws, virtual_clock, lambda_context, update_service_calls
):
    aws.create_service("supervisor", desired_count=2)
    _seed_parameter()
    action = _apply(lambda_context)
    theirs = {"logLevel": "WARN"}
    boto("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(theirs), Overwrite=True)

    restored = _restore(lambda_context, action)

    assert restored["outcome"] == "refused"
    assert restored["authorization"]["reason"] == "parameter-changed"
    assert _history()[-1] == (3, theirs)
    assert len(update_service_calls) == 1  # only the update's own deployment


# --- The decision ------------------------------------------------------------------------------------------------

CONTEXT = summaries.RunContext("production", "eu-west-1", RUN_ARN, AGENTS_LOG_GROUP)


def _state(outcome: str = "updated", **extra) -> dict:
    service = {
        "service_name": SUPERVISOR,
        "running_count": 2,
        "desired_count": 2,
        "rollout_state": "COMPLETED",
        "deployments": 1,
    }
    return {
        "request": {
            "agent": "supervisor",
            "service_name": SUPERVISOR,
            "cluster_name": CLUSTER,
            "reason": "enable debug",
        },
        "guard": {"proceed": True, "lease": {"resource": f"{CLUSTER}/{SUPERVISOR}"}},
        "action": {
            "outcome": outcome,
            "parameter": PARAMETER,
            "before": {"name": PARAMETER, "value": json.dumps(CURRENT), "version": 1},
            "after": {"name": PARAMETER, "value": json.dumps(NEW), "version": 2},
            "call": [
                {"operation": "ssm.PutParameter", "parameters": {"Name": PARAMETER}},
                {"operation": "ecs.UpdateService", "parameters": {"service": SUPERVISOR}},
            ],
            "serviceAfter": service,
        },
        "rollout": {"stable": True, "checksLeft": 9, "service": service},
    } | extra


def test_given_the_new_tasks_loaded_the_config_when_recorded_then_l1_is_told_with_both_versions():
    loaded = {"loaded": True, "matches": 2, "pattern": '"Configuration loaded"', "since": "t"}

    decision = summaries.config_update(_state(loaded=loaded), CONTEXT)

    assert (decision.decision, decision.level) == ("acted", "L1")
    assert decision.subject.endswith("config updated, loaded by the new tasks")
    assert "version 1 -> 2" in decision.why
    assert any("systems-manager/parameters/acso/production/supervisor/config" in line for line in decision.lines)


def test_given_the_config_never_loaded_and_was_restored_when_recorded_then_l2_is_told_every_version():
    loaded = {"loaded": False, "matches": 0, "pattern": '"Configuration loaded"', "since": "t", "checksLeft": 0}
    restore = {
        "outcome": "restored",
        "previousVersion": 1,
        "replacedVersion": 2,
        "after": {"name": PARAMETER, "value": json.dumps(CURRENT), "version": 3},
    }

    decision = summaries.config_update(_state(loaded=loaded, restore=restore), CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert decision.subject.endswith("config not loaded, previous config restored")
    assert "version 1 -> 2" in decision.why and "version 1" in decision.why and "version 3" in decision.why
    assert decision.after["version"] == 3


def test_given_the_restore_was_refused_when_recorded_then_l2_gets_the_command_to_restore_by_hand():
    restore = {
        "outcome": "refused",
        "authorization": {"allowed": False, "reason": "parameter-changed", "detail": "now version 3"},
        "after": {"name": PARAMETER, "value": "{}", "version": 3},
    }
    state = _state(restore=restore) | {
        "rollout": {
            "stable": False,
            "checksLeft": 0,
            "service": {
                "service_name": SUPERVISOR,
                "running_count": 0,
                "desired_count": 2,
                "rollout_state": "IN_PROGRESS",
            },
        }
    }

    decision = summaries.config_update(state, CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert decision.subject.endswith("rollout not stable, NOT restored")
    assert f"aws ssm get-parameter --name {PARAMETER}:1" in decision.why


def test_given_a_dry_run_when_recorded_then_both_calls_are_listed():
    decision = summaries.config_update(_state("dry-run"), CONTEXT)

    assert (decision.decision, decision.level) == ("dry-run", "L1")
    assert "ssm.PutParameter" in decision.why and "ecs.UpdateService" in decision.why


@pytest.mark.parametrize("outcome", ["updated", "dry-run", "refused", "unchanged"])
def test_given_the_longest_agent_name_when_recorded_then_the_subject_fits_sns_100_characters(outcome):
    state = _state(outcome, loaded={"loaded": outcome == "updated", "matches": 1, "pattern": "p", "since": "t"})
    state["request"] |= {"agent": "financial-intelligence", "service_name": SERVICES["financial-intelligence"]}
    state["action"]["authorization"] = {"allowed": False, "reason": "deployment-in-progress", "detail": "d"}
    restores = [None, {"outcome": "restored", "previousVersion": 1, "after": {"version": 3}}, {"outcome": "refused"}]
    for restore in restores if outcome == "updated" else [None]:
        for stable in (True, False):
            state["rollout"]["stable"] = stable
            state["loaded"]["loaded"] = restore is None and stable
            subject = summaries.config_update(state | {"restore": restore}, CONTEXT).subject
            assert len(subject) <= 100, subject


# --- Configuration (cdk.json) ------------------------------------------------------------------------------------

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _production(**overrides):
    context = copy.deepcopy(CDK_CONTEXT)
    context["acso:environments"]["production"].update(overrides)
    return next(config for config in load_environments(context) if config.name == "production")


def test_given_the_checked_in_config_then_each_agent_has_the_seeds_config_parameter_and_bounded_checks():
    production = _production()

    assert production.agent_config_parameter.replace("{agent}", "supervisor") == PARAMETER
    assert production.config_update.max_config_bytes < 4096
    assert production.config_update.loaded_checks * production.config_update.loaded_poll_seconds <= 1800


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"agentConfigParameter": "/acso/{env}/config"}, "agentConfigParameter"),
        ({"agentConfigParameter": "acso/{env}/{agent}/config"}, "agentConfigParameter"),
        ({"configUpdate": {"maxConfigBytes": 8192}}, "configUpdate.maxConfigBytes"),
        ({"configUpdate": {"loadedChecks": 0}}, "configUpdate.loadedChecks"),
    ],
)
def test_given_a_wrong_config_update_value_when_parsed_then_synth_fails_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=f"production.{key}"):
        _production(**overrides)
