"""complete-outage: the assessment rules and the failover plan (pure), the input, the guard, the approved failover
against moto (production in eu-west-1, its DR copy in us-west-2) and what the on-call people read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from remediation.adapters.aws import regional_client
from remediation.domain import outage
from remediation.domain.requests.incidents import OutageRequest, normalize_outage
from remediation.domain.summaries import RunContext, complete_outage, rejected_or_failed
from remediation.errors import AwsCallFailed, InvalidInput
from remediation.handlers import complete_outage as steps
from remediation.handlers import record
from remediation.logic import complete_outage as logic
from remediation.logic.abandoned import release_abandoned
from remediation.settings import load_settings
from tests.unit.conftest import (
    ACCOUNT_ID,
    ACTIVE_REGION_PARAMETER,
    AGENTS,
    CLUSTER,
    DR_REGION,
    FLAGS_PARAMETER,
    REGION,
    SERVICES,
    STATE_TABLE,
    boto,
)

OUTAGE_ALARM = "acso-production-complete-outage"
OUTAGE_ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{OUTAGE_ALARM}"
STATE_AT = "2026-11-27T09:02:00.000+0000"
RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-complete-outage:run-1"
OTHER_RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-complete-outage:run-2"
CONTEXT = RunContext("production", REGION, RUN, "/aws/acso/production/agents", STATE_TABLE)


def _state(desired: int, running: int, status: str = "ACTIVE") -> dict:
    """A service as adapters.ecs.ServiceState.to_dict() describes it."""
    return {
        "service_name": "x",
        "status": status,
        "desired_count": desired,
        "running_count": running,
        "pending_count": max(desired - running, 0),
        "task_definition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/x:3",
        "deployments": 1,
        "rollout_state": "COMPLETED" if running >= desired else "IN_PROGRESS",
        "recent_events": ("(service x) was unable to place a task.", "(service x) has started 1 tasks."),
        "steady": running == desired,
    }


def _fleet(**states: dict | None) -> dict[str, dict | None]:
    """Every agent up at 2 of 2, but those given."""
    return {agent: states.get(agent.replace("-", "_"), _state(2, 2)) for agent in AGENTS}


def _four_down() -> dict:
    down = _state(2, 0)
    return outage.assess(
        _fleet(supervisor=down, threat_hunter=down, incident_response=down, service_orchestration=down), SERVICES, 3
    )


# -- The assessment rules (pure) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "condition"),
    [
        (_state(2, 2), outage.UP),
        (_state(3, 4), outage.UP),
        (_state(2, 1), outage.DEGRADED),
        (_state(2, 0), outage.DOWN),
        (_state(0, 0), outage.STOPPED),
        (_state(2, 2, status="DRAINING"), outage.MISSING),
        (None, outage.MISSING),
    ],
    ids=["up", "more-than-desired", "degraded", "down", "stopped-on-purpose", "draining", "not-found"],
)
def test_given_a_service_state_when_classified_then_it_says_whether_the_service_serves(state, condition):
    assert outage.condition_of(state) == condition


def test_given_four_of_five_services_without_a_running_task_when_assessed_then_it_is_a_complete_outage():
    assessment = _four_down()

    assert assessment["outage"] is True
    assert assessment["outOfService"] == ["supervisor", "threat-hunter", "incident-response", "service-orchestration"]
    assert assessment["up"] == ["financial-intelligence"]
    assert assessment["headline"] == "4 of 5 services down (COMPLETE OUTAGE: the threshold is 3)"


@pytest.mark.parametrize(("down", "outage_expected"), [(2, False), (3, True)], ids=["below", "at-the-threshold"])
def test_given_services_down_around_the_threshold_when_assessed_then_the_threshold_itself_is_an_outage(
    down, outage_expected
):
    states = {agent: _state(2, 0) if index < down else _state(2, 2) for index, agent in enumerate(AGENTS)}

    assert outage.assess(states, SERVICES, 3)["outage"] is outage_expected


def test_given_degraded_services_that_still_serve_when_assessed_then_they_are_reported_not_counted_as_down():
    degraded = _state(2, 1)
    states = _fleet(supervisor=degraded, threat_hunter=degraded, incident_response=degraded, service_orchestration=None)

    assessment = outage.assess(states, SERVICES, 3)

    assert assessment["outage"] is False
    assert assessment["degraded"] == ["supervisor", "threat-hunter", "incident-response"]
    assert assessment["missing"] == ["service-orchestration"]


def test_given_services_stopped_on_purpose_when_assessed_then_they_do_not_count_as_an_outage():
    stopped = _state(0, 0)

    assessment = outage.assess(
        _fleet(supervisor=stopped, threat_hunter=stopped, incident_response=stopped), SERVICES, 3
    )

    assert assessment["outage"] is False
    assert assessment["stopped"] == ["supervisor", "threat-hunter", "incident-response"]


def test_given_an_assessment_when_written_for_a_person_then_worst_first_with_counts_and_the_last_event():
    lines = outage.service_lines(_four_down())

    assert lines[0].startswith("  DOWN     incident-response: 0 running / 2 desired")
    assert lines[1] == "           last event: (service x) was unable to place a task."
    assert lines[-1].startswith("  up       financial-intelligence: 2 running / 2 desired")


# -- The failover plan (pure) -------------------------------------------------------------------------------------


def test_given_an_outage_when_planned_then_every_dr_service_gets_productions_desired_count_within_floor_and_cap():
    assessment = outage.assess(
        _fleet(supervisor=_state(9, 0), threat_hunter=_state(2, 0), incident_response=_state(2, 0)), SERVICES, 3
    )

    plan = outage.plan_failover(assessment, dict.fromkeys(AGENTS, _state(0, 0)), floor=1, cap=6)

    assert plan["possible"] is True
    assert {t["agent"]: (t["drDesiredBefore"], t["target"]) for t in plan["targets"]} == {
        "supervisor": (0, 6),
        "threat-hunter": (0, 2),
        "incident-response": (0, 2),
        "service-orchestration": (0, 2),
        "financial-intelligence": (0, 2),
    }


def test_given_an_agent_stopped_on_purpose_in_production_when_planned_then_it_is_not_started_in_dr():
    assessment = outage.assess(_fleet(supervisor=_state(0, 0), threat_hunter=_state(2, 0)), SERVICES, 1)

    plan = outage.plan_failover(assessment, dict.fromkeys(AGENTS, _state(0, 0)), floor=1, cap=6)

    assert "supervisor" not in [t["agent"] for t in plan["targets"]]


def test_given_a_dr_service_missing_when_planned_then_no_failover_is_possible_and_it_says_which():
    plan = outage.plan_failover(_four_down(), _fleet(threat_hunter=None), floor=1, cap=6)

    assert plan == {"possible": False, "why": "DR services missing or not ACTIVE: threat-hunter", "targets": []}


def test_given_dr_services_starting_when_checked_then_ready_only_when_each_runs_its_target():
    targets = [{"agent": "supervisor", "target": 2}, {"agent": "threat-hunter", "target": 2}]

    assert outage.dr_readiness(targets, {"supervisor": _state(2, 2), "threat-hunter": _state(2, 1)}) == (
        False,
        ["threat-hunter"],
    )
    assert outage.dr_readiness(targets, {"supervisor": _state(2, 2), "threat-hunter": _state(2, 2)}) == (True, [])


# -- Input ---------------------------------------------------------------------------------------------------------


def _composite_event(name: str = OUTAGE_ALARM, value: str = "ALARM", account: str = ACCOUNT_ID) -> dict:
    """A composite alarm's "CloudWatch Alarm State Change" event: no metrics, the rule and the triggering alarms."""
    return {
        "version": "0",
        "id": "2dde0303-5bb5-4d5f-b0ba-cf1a2f4c8bd3",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": "2026-11-27T09:02:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {
                "value": value,
                "reason": "4 of 5 alarms in ALARM",
                "reasonData": json.dumps({"triggeringAlarms": []}),
                "timestamp": STATE_AT,
            },
            "previousState": {"value": "OK", "reason": "", "timestamp": STATE_AT},
            "configuration": {"alarmRule": 'AT_LEAST(3, ALARM, ("..."))', "description": ""},
        },
    }


def test_given_the_composite_alarm_event_when_normalized_then_one_fleet_request_keyed_by_the_alarm_transition(
    settings_only,
):
    request = normalize_outage(_composite_event(), "dr-failover", settings_only(), ACCOUNT_ID, REGION, "run-1")

    assert request.trigger == "alarm"
    assert request.cluster_name == CLUSTER
    assert request.idempotency_key == f"{OUTAGE_ALARM_ARN}@{STATE_AT}#dr-failover"


@pytest.mark.parametrize(
    ("event", "hint"),
    [
        (_composite_event(name="acso-production-supervisor-high-cpu"), "is not the complete-outage alarm"),
        (_composite_event(value="OK"), "not ALARM"),
        (_composite_event(account="210987654321"), "acts only on"),
    ],
    ids=["another-alarm", "back-to-ok", "another-account"],
)
def test_given_an_alarm_event_this_runbook_must_not_act_on_when_normalized_then_invalid_input(
    settings_only, event, hint
):
    with pytest.raises(InvalidInput, match=hint):
        normalize_outage(event, "dr-failover", settings_only(), ACCOUNT_ID, REGION, "run-1")


def test_given_a_reason_and_dry_run_from_the_console_when_normalized_then_a_console_dry_run_request(settings_only):
    raw = {"reason": "every agent down after the network change", "dryRun": True}

    request = normalize_outage(raw, "dr-failover", settings_only(), ACCOUNT_ID, REGION, "run-1")

    assert (request.trigger, request.dry_run, request.reason) == ("console", True, raw["reason"])
    assert request.idempotency_key == "console:run-1#dr-failover"


@pytest.mark.parametrize(
    "raw",
    [{}, "*", {"reason": "x"}, {"reason": "down", "dryRun": "yes"}, {"reason": "down", "service": "supervisor"}],
    ids=["empty", "wildcard", "reason-too-short", "dry-run-not-boolean", "unknown-key"],
)
def test_given_a_bad_console_input_when_normalized_then_invalid_input_with_an_example(settings_only, raw):
    with pytest.raises(InvalidInput, match='"reason"'):
        normalize_outage(raw, "dr-failover", settings_only(), ACCOUNT_ID, REGION, "run-1")


# -- Guard, failover and switch against moto -----------------------------------------------------------------------


def _request(dry_run: bool = False, execution: str = "run-1") -> OutageRequest:
    return OutageRequest(
        runbook="complete-outage",
        trigger="console",
        dry_run=dry_run,
        idempotency_key=f"console:{execution}#dr-failover",
        reason="outage drill",
        cluster_name=CLUSTER,
    )


def _create_services(ecs, desired: int, running: int, agents=AGENTS) -> None:
    """moto reports MOTO_ECS_SERVICE_RUNNING tasks running when a service is created."""
    if not ecs.describe_clusters(clusters=[CLUSTER])["clusters"]:
        ecs.create_cluster(clusterName=CLUSTER)
    for agent in agents:
        task_definition = ecs.register_task_definition(
            family=SERVICES[agent], containerDefinitions=[{"name": agent, "image": f"acso/{agent}:1.0", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
            ecs.create_service(
                cluster=CLUSTER, serviceName=SERVICES[agent], taskDefinition=task_definition, desiredCount=desired
            )


@pytest.fixture
def dr_ecs(aws):
    """The DR region's copy of the agents (pilot light: 0 tasks) and the active-region parameter."""
    ecs = boto3.client("ecs", region_name=DR_REGION)
    _create_services(ecs, desired=0, running=0)
    boto("ssm").put_parameter(Name=ACTIVE_REGION_PARAMETER, Type="String", Value=REGION)
    return ecs


@pytest.fixture
def four_down(aws) -> None:
    """Production: four agents at 0 of 2 tasks, financial-intelligence at 2 of 2."""
    _create_services(boto("ecs"), desired=2, running=0, agents=AGENTS[:4])
    _create_services(boto("ecs"), desired=2, running=2, agents=AGENTS[4:])


@pytest.fixture
def dr_update_service_calls(aws) -> Iterator[list[dict]]:
    """Parameters of every ecs.UpdateService call made in the DR region."""
    calls: list[dict] = []
    events = regional_client("ecs", DR_REGION).meta.events

    def record_call(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record_call, unique_id="test-dr-update-service")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-dr-update-service")


def _plan(dry_run: bool = False) -> dict:
    guard = {"proceed": True, "offerFailover": True, "reason": "clear", "detail": ""}
    return logic.plan_failover(_request(dry_run), _four_down(), guard, REGION, load_settings())


def _dr_desired(ecs) -> set[int]:
    services = ecs.describe_services(cluster=CLUSTER, services=list(SERVICES.values()))["services"]
    return {service["desiredCount"] for service in services}


def test_given_a_first_outage_run_when_a_second_one_starts_then_only_the_first_holds_the_fleet_lease(
    aws, virtual_clock
):
    first = logic.admit(_request(execution="run-1"), RUN, load_settings())
    second = logic.admit(_request(execution="run-2"), OTHER_RUN, load_settings())

    assert (first["proceed"], first["offerFailover"]) == (True, True)
    assert first["lease"] == {"resource": f"{CLUSTER}/dr-failover"}
    assert (second["proceed"], second["reason"]) == (False, "locked")


def test_given_the_same_alarm_event_twice_when_guarded_then_the_second_run_is_a_duplicate(aws, virtual_clock):
    request = normalize_outage(_composite_event(), "dr-failover", load_settings(), ACCOUNT_ID, REGION, "run-1")

    logic.admit(request, RUN, load_settings())
    again = logic.admit(request, OTHER_RUN, load_settings())

    assert (again["proceed"], again["reason"]) == (False, "duplicate-event")


def test_given_the_kill_switch_on_when_guarded_then_the_run_still_pages_but_offers_no_failover(aws, virtual_clock):
    boto("ssm").put_parameter(
        Name=FLAGS_PARAMETER, Type="String", Overwrite=True, Value=json.dumps({"enabled": False, "reason": "drill"})
    )

    verdict = logic.admit(_request(), RUN, load_settings())

    assert (verdict["proceed"], verdict["offerFailover"], verdict["reason"]) == (True, False, "kill-switch")


def test_given_four_services_down_when_assessed_then_one_describe_call_finds_the_outage(
    aws, virtual_clock, four_down, lambda_context
):
    assessment = steps.assess({"request": _request().model_dump()}, lambda_context)

    assert assessment["outage"] is True
    assert assessment["down"] == list(AGENTS[:4])


def test_given_an_approved_failover_when_the_step_runs_twice_then_each_dr_service_is_scaled_once(
    aws, virtual_clock, four_down, dr_ecs, dr_update_service_calls, lambda_context
):
    logic.admit(_request(), RUN, load_settings())
    event = {"request": _request().model_dump(), "plan": _plan(), "approval": {"approver": "dana"}, "executionArn": RUN}

    first = steps.fail_over(event, lambda_context)
    second = steps.fail_over(event, lambda_context)  # a retried step

    assert (first["outcome"], second["outcome"]) == ("scaling", "scaling")
    assert len(dr_update_service_calls) == 5, "the retry found every DR service at its target"
    assert first["before"] == second["before"] == dict.fromkeys(AGENTS, 0)
    assert _dr_desired(dr_ecs) == {2}


def test_given_a_dry_run_when_the_failover_is_approved_then_the_calls_are_recorded_and_none_made(
    aws, virtual_clock, four_down, dr_ecs, dr_update_service_calls
):
    logic.admit(_request(dry_run=True), RUN, load_settings())

    result = logic.fail_over(_request(dry_run=True), _plan(dry_run=True), {"approver": "dana"}, RUN, load_settings())

    assert result["outcome"] == "dry-run"
    assert [call["operation"] for call in result["call"]] == ["ecs.UpdateService"] * 5 + ["ssm.PutParameter"]
    assert dr_update_service_calls == []


def test_given_production_recovered_while_waiting_for_approval_when_approved_then_no_failover(
    aws, virtual_clock, dr_ecs, dr_update_service_calls
):
    _create_services(boto("ecs"), desired=2, running=2)
    logic.admit(_request(), RUN, load_settings())

    result = logic.fail_over(_request(), _plan(), {"approver": "dana"}, RUN, load_settings())

    assert result["outcome"] == "recovered"
    assert dr_update_service_calls == []


def test_given_the_kill_switch_turned_on_after_approval_when_switching_traffic_then_refused_and_unchanged(
    aws, virtual_clock, dr_ecs
):
    logic.admit(_request(), RUN, load_settings())
    boto("ssm").put_parameter(
        Name=FLAGS_PARAMETER, Type="String", Overwrite=True, Value=json.dumps({"enabled": False, "reason": "stop"})
    )

    result = logic.switch_active_region(RUN, load_settings())

    assert (result["outcome"], result["authorization"]["reason"]) == ("refused", "kill-switch")
    assert boto("ssm").get_parameter(Name=ACTIVE_REGION_PARAMETER)["Parameter"]["Value"] == REGION


def test_given_ready_dr_services_when_switching_traffic_then_the_active_region_is_the_dr_region(
    aws, virtual_clock, dr_ecs
):
    logic.admit(_request(), RUN, load_settings())

    result = logic.switch_active_region(RUN, load_settings())

    assert (result["outcome"], result["before"], result["after"]) == ("switched", REGION, DR_REGION)


# -- What the on-call people read ---------------------------------------------------------------------------------


def _unanswered_state(error: str, cause: str) -> dict:
    settings_plan = {
        "possible": True,
        "drRegion": DR_REGION,
        "approvalTimeoutSeconds": 900,
        "targets": [{"agent": "supervisor", "serviceName": SERVICES["supervisor"], "target": 2}],
        "manualCommands": ["  aws ecs update-service ...", "  aws ssm put-parameter ..."],
    }
    return {
        "request": _request().model_dump(),
        "guard": {"proceed": True, "lease": {"resource": f"{CLUSTER}/dr-failover"}},
        "evidence": _four_down(),
        "plan": settings_plan,
        "paged": {"levels": ["L3", "L4"]},
        "error": {"Error": error, "Cause": cause},
    }


def test_given_nobody_approved_in_time_when_recorded_then_l3_and_l4_are_paged_again_and_nothing_changed():
    decision = rejected_or_failed(_unanswered_state("States.Timeout", ""), "complete-outage", CONTEXT)

    assert (decision.decision, decision.level, decision.also) == ("escalated", "L3", ("L4",))
    assert "nobody approved the failover to us-west-2 within 900 s; no failover made" in decision.why
    assert "NOBODY APPROVED" in decision.subject


def test_given_a_person_declined_the_failover_when_recorded_then_it_is_audited_as_declined_and_l3_l4_told():
    decision = rejected_or_failed(
        _unanswered_state("ApprovalRejected", "Rejected by erik at 2026-11-27T09:10:00+00:00"),
        "complete-outage",
        CONTEXT,
    )

    assert (decision.decision, decision.level, decision.also) == ("declined", "L3", ("L4",))
    assert "Rejected by erik" in decision.why


def test_given_a_fleet_that_is_not_in_outage_when_recorded_then_l2_is_told_and_no_failover_was_offered():
    state = {
        "request": _request().model_dump(),
        "guard": {"proceed": True, "lease": None},
        "evidence": outage.assess(_fleet(supervisor=_state(2, 0)), SERVICES, 3),
    }

    decision = complete_outage(state, CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert decision.why.startswith("not a complete outage: 1 of 5 services down")


def test_given_a_decision_for_l3_and_l4_when_recorded_then_each_level_gets_one_message_of_the_same_incident(
    aws, virtual_clock, lambda_context
):
    state = _unanswered_state("States.Timeout", "")
    event = {"runbook": "complete-outage", "state": state, "executionArn": RUN}

    record.record_decision(event, lambda_context)
    record.record_decision(event, lambda_context)  # a retried record step

    l3, l4 = aws.notifications("L3"), aws.notifications("L4")
    assert len(l3) == len(l4) == 1
    assert l3[0]["MessageAttributes"]["incident"] == l4[0]["MessageAttributes"]["incident"]
    assert (
        l3[0]["Subject"]
        == l4[0]["Subject"]
        == "[ACSO production] complete-outage: NOBODY APPROVED failover, still down"
    )


def test_given_an_outage_run_stopped_while_waiting_when_released_as_abandoned_then_the_fleet_lease_is_free(
    aws, virtual_clock
):
    logic.admit(_request(), RUN, load_settings())
    machine = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:acso-production-complete-outage"

    released = release_abandoned(RUN, "ABORTED", machine, load_settings())

    assert released["released"] == [f"{CLUSTER}/dr-failover"]
    assert logic.admit(_request(execution="run-2"), OTHER_RUN, load_settings())["proceed"] is True


def test_given_ecs_failing_to_answer_when_assessed_then_the_reported_outage_stands_and_is_said_unknown(
    aws, virtual_clock, monkeypatch
):
    def failing(*_args, **_kwargs):
        raise AwsCallFailed("ecs.DescribeServices failed: ServerException")

    monkeypatch.setattr(logic.ecs, "describe_fleet", failing)

    assessment = logic.assess(_request(), load_settings())

    assert assessment["outage"] is True
    assert assessment["unreadable"] == "ecs.DescribeServices failed: ServerException"
    assert outage.service_lines(assessment)[0].startswith("  UNKNOWN  financial-intelligence: ")


def test_given_production_counts_unknown_when_planned_then_each_dr_service_gets_at_least_the_floor():
    unreadable = outage.unreadable(SERVICES, 3, "ecs.DescribeServices failed: ServerException")

    plan = outage.plan_failover(unreadable, dict.fromkeys(AGENTS, _state(0, 0)), floor=1, cap=6)

    assert {t["target"] for t in plan["targets"]} == {1}


def test_given_the_dr_region_unreadable_when_planning_then_no_failover_is_offered_but_nothing_fails(aws, virtual_clock):
    guard = {"proceed": True, "offerFailover": True, "reason": "clear", "detail": ""}

    plan = logic.plan_failover(_request(), _four_down(), guard, REGION, load_settings())  # no DR cluster at all

    assert plan["possible"] is False
    assert plan["why"].startswith("DR services missing or not ACTIVE")


def test_given_the_kill_switch_on_when_planning_then_no_failover_is_offered_but_the_page_carries_the_commands(
    aws, virtual_clock, dr_ecs
):
    guard = {"proceed": True, "offerFailover": False, "reason": "kill-switch", "detail": "automation disabled"}

    plan = logic.plan_failover(_request(), _four_down(), guard, REGION, load_settings())

    assert (plan["possible"], plan["why"]) == (False, "automation paused (kill-switch: automation disabled)")
    assert plan["manualCommands"][-1] == (
        f"  aws ssm put-parameter --overwrite --name {ACTIVE_REGION_PARAMETER} --value {DR_REGION}"
    )


def test_given_an_outage_when_paging_then_l3_and_l4_get_one_readable_message_each_of_one_incident(
    aws, virtual_clock, dr_ecs
):
    request = normalize_outage(_composite_event(), "dr-failover", load_settings(), ACCOUNT_ID, REGION, "run-1")
    plan = _plan()

    logic.page_on_call(request, _four_down() | {"checkedAt": "09:02"}, plan, RUN, REGION, load_settings())
    logic.page_on_call(request, _four_down() | {"checkedAt": "09:02"}, plan, RUN, REGION, load_settings())  # retry

    (l3,), (l4,) = aws.notifications("L3"), aws.notifications("L4")
    assert l3["Subject"] == l4["Subject"] == "[ACSO production] COMPLETE OUTAGE: 4 of 5 services down"
    assert l3["MessageAttributes"]["incident"]["Value"] == f"{OUTAGE_ALARM_ARN}@{STATE_AT}"
    assert l4["MessageAttributes"]["incident"] == l3["MessageAttributes"]["incident"]
    assert "escalation L4: CTO / VP Engineering" in l4["Message"]
    assert "  DOWN     supervisor: 0 running / 2 desired" in l3["Message"]
    assert "Failover to us-west-2: approval is asked of L3 (Engineering manager) now" in l3["Message"]
    assert "  supervisor: desired 0 -> 2 (0 running now)" in l3["Message"]
