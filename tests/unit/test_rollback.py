"""Rollback: the revision rules (pure), the console input, and the steps against moto ECS as the state machine
calls them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediation.adapters.aws import client
from remediation.adapters.ecs import ServiceState
from remediation.domain import summaries
from remediation.domain.requests.agent_operations import RollbackRequest, normalize_rollback
from remediation.domain.rollback import (
    Revision,
    check_rollback_target,
    parse_revision,
    previous_revision,
    requested_revision,
)
from remediation.domain.summaries import RunContext
from remediation.errors import InvalidInput
from remediation.handlers import rollback as handlers
from remediation.logic.guard import authorize_write
from remediation.settings import load_settings
from tests.unit.conftest import ACCOUNT_ID, CLUSTER, REGION, SERVICES, boto

SUPERVISOR = SERVICES["supervisor"]
FAMILY = SUPERVISOR  # the agents' task-definition families are named like their services
RUN_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-rollback:run-1"
EXAMPLE = '{"service": "supervisor", "reason": "bad release"}'


def _revision(family: str, revision: int) -> Revision:
    return Revision(family, revision)


# --- Domain: what a revision is ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acso-production-supervisor:7", Revision("acso-production-supervisor", 7)),
        (
            f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/acso-production-supervisor:12",
            Revision("acso-production-supervisor", 12, ACCOUNT_ID, REGION),
        ),
    ],
)
def test_given_family_revision_or_its_arn_when_parsed_then_the_family_and_revision_are_read(text, expected):
    parsed = parse_revision(text)

    assert parsed == expected
    assert (parsed.account, parsed.region) == (expected.account, expected.region)


@pytest.mark.parametrize(
    "text",
    ["acso-production-supervisor", "*", "acso-production-supervisor:*", "acso-production-supervisor:0", "x:latest", ""],
)
def test_given_anything_but_family_revision_when_parsed_then_it_is_not_a_revision(text):
    assert parse_revision(text) is None


def test_given_a_malformed_task_definition_when_asked_for_then_invalid_input_says_what_to_send():
    with pytest.raises(InvalidInput, match=r"not a task-definition revision.*Expected"):
        requested_revision("acso-production-supervisor", ACCOUNT_ID, REGION, EXAMPLE)


def test_given_an_arn_of_another_account_when_asked_for_then_invalid_input():
    other = f"arn:aws:ecs:{REGION}:999999999999:task-definition/acso-production-supervisor:2"

    with pytest.raises(InvalidInput, match="acts only on account 123456789012"):
        requested_revision(other, ACCOUNT_ID, REGION, EXAMPLE)


# --- Domain: which revision is "the previous" ---------------------------------------------------------------------


def test_given_active_revisions_when_looking_for_the_previous_then_the_newest_older_one_of_the_family_is_chosen():
    running = _revision(FAMILY, 5)
    active = [_revision(FAMILY, n) for n in (1, 3, 5, 6)] + [_revision("acso-production-threat-hunter", 4)]

    assert previous_revision(running, active) == _revision(FAMILY, 3)


def test_given_no_older_active_revision_when_looking_for_the_previous_then_there_is_none():
    assert previous_revision(_revision(FAMILY, 2), [_revision(FAMILY, 2), _revision(FAMILY, 3)]) is None


# --- Domain: the rules a given target must meet (one test per rule) -------------------------------------------------


def test_given_a_revision_of_another_family_when_checked_then_invalid_input_names_both_families():
    with pytest.raises(InvalidInput, match=r"acso-production-threat-hunter.*acso-production-supervisor:3.*Expected"):
        check_rollback_target(SUPERVISOR, _revision(FAMILY, 3), _revision("acso-production-threat-hunter", 1), "ACTIVE")


def test_given_the_running_revision_when_checked_then_invalid_input_nothing_to_roll_back():
    with pytest.raises(InvalidInput, match="already runs acso-production-supervisor:3"):
        check_rollback_target(SUPERVISOR, _revision(FAMILY, 3), _revision(FAMILY, 3), "ACTIVE")


def test_given_a_revision_that_does_not_exist_when_checked_then_invalid_input():
    with pytest.raises(InvalidInput, match="does not exist"):
        check_rollback_target(SUPERVISOR, _revision(FAMILY, 3), _revision(FAMILY, 9), None)


def test_given_an_inactive_revision_when_checked_then_invalid_input():
    with pytest.raises(InvalidInput, match="INACTIVE"):
        check_rollback_target(SUPERVISOR, _revision(FAMILY, 3), _revision(FAMILY, 1), "INACTIVE")


def test_given_an_older_active_revision_of_the_family_when_checked_then_it_is_the_target():
    target = Revision(FAMILY, 1, ACCOUNT_ID, REGION)

    assert str(check_rollback_target(SUPERVISOR, _revision(FAMILY, 3), target, "ACTIVE")) == f"{FAMILY}:1"


# --- The console input, as far as it goes without ECS ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"service": "supervisor"}, "reason"),
        ({"service": "supervisor", "reason": "bad", "taskDefinition": 7}, "taskDefinition"),
        ({"service": "supervisor", "reason": "bad release", "revision": 2}, "revision"),
        ({"service": "*", "reason": "bad release"}, "Unknown service"),
        ({"service": "supervisor", "reason": "bad release", "dryRun": "yes"}, "dryRun"),
    ],
)
def test_given_bad_console_input_when_normalized_then_invalid_input_names_the_problem(settings_only, raw, problem):
    with pytest.raises(InvalidInput, match=problem):
        normalize_rollback(raw, settings_only(), "run-1", ACCOUNT_ID, REGION)


def test_given_a_task_definition_arn_when_normalized_then_it_is_kept_as_family_revision(settings_only):
    raw = {
        "service": "acso-production-supervisor",
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/{FAMILY}:7",
        "reason": "bad release 2.3",
        "dryRun": True,
    }

    request = normalize_rollback(raw, settings_only(), "run-1", ACCOUNT_ID, REGION)

    assert (request.agent, request.task_definition, request.dry_run) == ("supervisor", f"{FAMILY}:7", True)
    assert request.idempotency_key == "console:run-1#rollback"


# --- Steps against moto ECS -----------------------------------------------------------------------------------------


@pytest.fixture
def update_service_calls(aws) -> Iterator[list[dict]]:
    """Parameters of every ecs.UpdateService API call the adapters make."""
    calls: list[dict] = []
    events = client("ecs").meta.events

    def record(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record, unique_id="test-rollback-update-calls")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-rollback-update-calls")


def _supervisor_on_revision(aws, revisions: int, deregistered: tuple[int, ...] = ()) -> None:
    """supervisor's family has `revisions` revisions and the service runs the last one."""
    ecs = boto("ecs")
    for _ in range(revisions - 1):
        ecs.register_task_definition(
            family=FAMILY, containerDefinitions=[{"name": "supervisor", "image": "acso/supervisor:old", "memory": 512}]
        )
    aws.create_service("supervisor", desired_count=2)
    for revision in deregistered:
        ecs.deregister_task_definition(taskDefinition=f"{FAMILY}:{revision}")


def _normalize(lambda_context, **raw) -> dict:
    event = {"input": {"service": "supervisor", "reason": "bad release 2.3"} | raw, "executionName": "run-1"}
    return handlers.normalize(event, lambda_context)["request"]


def test_given_revision_3_running_when_no_revision_is_given_then_the_target_is_revision_2(aws, lambda_context):
    _supervisor_on_revision(aws, 3)

    request = _normalize(lambda_context)

    assert (request["rollback_from"], request["rollback_to"]) == (f"{FAMILY}:3", f"{FAMILY}:2")


def test_given_the_previous_revision_deregistered_when_no_revision_is_given_then_the_newest_active_older_one(
    aws, lambda_context
):
    _supervisor_on_revision(aws, 3, deregistered=(2,))

    assert _normalize(lambda_context)["rollback_to"] == f"{FAMILY}:1"


def test_given_a_single_revision_when_no_revision_is_given_then_invalid_input(aws, lambda_context):
    _supervisor_on_revision(aws, 1)

    with pytest.raises(InvalidInput, match="no older ACTIVE revision"):
        _normalize(lambda_context)


@pytest.mark.parametrize(
    ("task_definition", "problem"),
    [
        ("acso-production-threat-hunter:1", "a rollback stays within the running family"),
        (f"{FAMILY}:9", "does not exist"),
        (f"{FAMILY}:1", "INACTIVE"),
        (f"{FAMILY}:3", "already runs"),
        (f"{FAMILY}:latest", "not a task-definition revision"),
    ],
)
def test_given_a_bad_target_when_normalized_against_ecs_then_invalid_input_and_nothing_changed(
    aws, lambda_context, update_service_calls, task_definition, problem
):
    _supervisor_on_revision(aws, 3, deregistered=(1,))
    boto("ecs").register_task_definition(
        family="acso-production-threat-hunter", containerDefinitions=[{"name": "t", "image": "t", "memory": 512}]
    )

    with pytest.raises(InvalidInput, match=problem):
        _normalize(lambda_context, taskDefinition=task_definition)
    assert update_service_calls == []


def test_given_a_valid_target_when_rolling_back_then_one_update_service_deploys_it_and_the_cooldown_is_recorded(
    aws, lambda_context, virtual_clock, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _normalize(lambda_context, taskDefinition=f"{FAMILY}:2")

    action = handlers.roll_back({"request": request, "executionArn": RUN_ARN}, lambda_context)
    again = handlers.roll_back({"request": request, "executionArn": RUN_ARN}, lambda_context)  # a retried step

    assert action["outcome"] == again["outcome"] == "rolled-back"
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "taskDefinition": f"{FAMILY}:2"}]
    assert action["before"]["task_definition"].endswith(f"{FAMILY}:3")
    assert again["before"]["task_definition"] == action["before"]["task_definition"]  # the first "before" kept
    assert action["after"]["task_definition"].endswith(f"{FAMILY}:2")
    assert aws.items(f"COOLDOWN#{CLUSTER}/{SUPERVISOR}")[0]["sk"]["S"] == "rollback"


def test_given_dry_run_when_rolling_back_then_the_exact_call_is_recorded_and_none_is_made(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _normalize(lambda_context, dryRun=True)

    action = handlers.roll_back({"request": request, "executionArn": RUN_ARN}, lambda_context)

    assert action["outcome"] == "dry-run"
    assert action["call"] == {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "taskDefinition": f"{FAMILY}:2"},
    }
    assert update_service_calls == []


def test_given_someone_deployed_since_the_request_when_rolling_back_then_refused_and_nothing_changed(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _normalize(lambda_context)
    boto("ecs").register_task_definition(family=FAMILY, containerDefinitions=[{"name": "s", "image": "s", "memory": 1}])
    boto("ecs").update_service(cluster=CLUSTER, service=SUPERVISOR, taskDefinition=f"{FAMILY}:4")
    update_service_calls.clear()

    action = handlers.roll_back({"request": request, "executionArn": RUN_ARN}, lambda_context)

    assert (action["outcome"], action["authorization"]["reason"]) == ("refused", "service-changed")
    assert update_service_calls == []


def test_given_a_deployment_in_progress_when_authorizing_then_only_a_rollback_may_replace_it(aws, lambda_context):
    """The failing release a rollback is for is usually still rolling out."""
    _supervisor_on_revision(aws, 3)
    request = RollbackRequest.model_validate(_normalize(lambda_context))
    rolling_out = ServiceState(SUPERVISOR, "ACTIVE", 2, 0, 2, f"{FAMILY}:3", 2, "IN_PROGRESS", ())

    refused = authorize_write(request, rolling_out, 2, RUN_ARN, load_settings())
    replaced = authorize_write(request, rolling_out, 2, RUN_ARN, load_settings(), replaces_deployment=True)

    assert (refused.allowed, refused.reason) == (False, "deployment-in-progress")
    assert replaced.allowed


def test_given_the_service_on_the_target_when_checking_the_rollout_then_stable_and_the_log_window_starts_at_the_deploy(
    aws, lambda_context, virtual_clock
):
    _supervisor_on_revision(aws, 3)
    request = _normalize(lambda_context)
    action = handlers.roll_back({"request": request, "executionArn": RUN_ARN}, lambda_context)
    virtual_clock.advance(180)

    check = handlers.check_rollout(
        {"request": request, "target": action["to"], "deployedAt": action["deployedAt"], "checksLeft": 10},
        lambda_context,
    )
    elsewhere = handlers.check_rollout(
        {"request": request, "target": f"{FAMILY}:1", "deployedAt": action["deployedAt"], "checksLeft": 10},
        lambda_context,
    )

    assert (check["stable"], check["onTarget"], check["checksLeft"], check["logWindowMinutes"]) == (True, True, 9, 3)
    assert (elsewhere["stable"], elsewhere["onTarget"]) == (False, False)


# --- The decision ------------------------------------------------------------------------------------------------


def _state(rollout: dict, matches: int = 0) -> dict:
    before = {
        "service_name": SUPERVISOR,
        "task_definition": f"{FAMILY}:3",
        "desired_count": 2,
        "running_count": 2,
        "rollout_state": "COMPLETED",
    }
    request = {
        "agent": "supervisor",
        "service_name": SUPERVISOR,
        "cluster_name": CLUSTER,
        "reason": "bad release 2.3",
        "task_definition": None,
        "rollback_from": f"{FAMILY}:3",
        "rollback_to": f"{FAMILY}:2",
    }
    action = {"outcome": "rolled-back", "before": before, "after": before, "call": {}}
    logs = {"pattern": "?FATAL ?CRITICAL", "windowMinutes": 3, "matches": matches, "samples": ["FATAL boom"] * matches}
    return {"request": request, "guard": {"proceed": True}, "action": action, "rollout": rollout, "logs": logs}


CONTEXT = RunContext("production", REGION, RUN_ARN, "/aws/acso/production/agents")
ON_TARGET = {
    "stable": True,
    "service": {"task_definition": f"{FAMILY}:2", "desired_count": 2, "running_count": 2, "rollout_state": "COMPLETED"},
}


def test_given_stable_and_clean_logs_when_recorded_then_acted_l1_with_before_and_after():
    decision = summaries.rollback(_state(ON_TARGET), CONTEXT)

    assert (decision.decision, decision.level) == ("acted", "L1")
    assert (decision.before["task_definition"], decision.after["task_definition"]) == (f"{FAMILY}:3", f"{FAMILY}:2")


def test_given_fatal_lines_since_the_rollback_when_recorded_then_escalated_l2_with_the_way_back():
    decision = summaries.rollback(_state(ON_TARGET, matches=2), CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert any(f"--task-definition {FAMILY}:3" in line for line in decision.lines)


def test_given_never_stable_when_recorded_then_escalated_l2():
    stuck = {"stable": False, "service": ON_TARGET["service"] | {"running_count": 0, "rollout_state": "IN_PROGRESS"}}

    decision = summaries.rollback(_state(stuck), CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert "not stable" in decision.subject
