"""service-unavailable: the decision rule (pure), the input, the steps against moto ECS as the state machine calls
them, and what the record step makes of a run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from remediation.adapters import ecs
from remediation.adapters.aws import client
from remediation.domain import summaries
from remediation.domain.requests.common import ServiceRequest
from remediation.domain.requests.incidents import normalize_service_unavailable
from remediation.domain.rollback import Revision
from remediation.domain.summaries import RunContext
from remediation.domain.unavailability import (
    Deployment,
    ServiceFacts,
    TaskStop,
    decide,
    escalation_level,
    task_stop,
)
from remediation.errors import InvalidInput
from remediation.handlers import service_unavailable as handlers
from remediation.logic import service_unavailable
from remediation.settings import load_settings
from tests.unit.conftest import ACCOUNT_ID, CLUSTER, REGION, SERVICES, boto

SUPERVISOR = SERVICES["supervisor"]
FAMILY = SUPERVISOR  # the agents' task-definition families are named like their services
RUN_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-service-unavailable:run-1"
UNAVAILABLE_ALARM = "acso-production-supervisor-unavailable"


def _rev(number: int, family: str = FAMILY) -> Revision:
    return Revision(family, number)


def _deployment(number: int, rollout: str = "COMPLETED", status: str = "PRIMARY", failed: int = 0) -> Deployment:
    return Deployment(_rev(number), status, rollout, 0, 2, failed)


def _facts(*deployments: Deployment, running: int = 0, desired: int = 2, previous: int | None = 2) -> ServiceFacts:
    return ServiceFacts(desired, running, deployments, _rev(previous) if previous else None)


def _failed_start(number: int) -> TaskStop:
    return TaskStop(_rev(number), "EssentialContainerExited", "Essential container in task exited", 4.0)


def _crash(number: int) -> TaskStop:
    return TaskStop(_rev(number), "EssentialContainerExited", "Essential container in task exited", 6 * 3600.0)


# --- Domain: why a task stopped -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "kind"),
    [
        (TaskStop(_rev(3), "TaskFailedToStart", "CannotPullContainerError: image not found", None), "start-failure"),
        (TaskStop(_rev(3), "EssentialContainerExited", "Essential container in task exited", 4.0), "start-failure"),
        (TaskStop(_rev(3), "EssentialContainerExited", "Essential container in task exited", None), "start-failure"),
        (TaskStop(_rev(3), "EssentialContainerExited", "Essential container in task exited", 21600.0), "crash"),
        (TaskStop(_rev(3), "UserInitiated", "Task stopped by user", 21600.0), "replaced"),
        (
            TaskStop(_rev(3), "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/1)", 9e3),
            "replaced",
        ),
    ],
    ids=[
        "failed-to-start",
        "died-in-startup",
        "never-started",
        "crashed-after-running",
        "stopped-by-user",
        "deployment",
    ],
)
def test_given_a_stopped_task_when_classified_then_start_failures_crashes_and_replacements_are_told_apart(stop, kind):
    assert stop.kind == kind


def test_given_a_described_task_when_read_then_its_revision_and_how_long_it_ran_are_known():
    started = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    described = {
        "taskDefinition": f"{FAMILY}:3",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "startedAt": started.isoformat(),
        "stoppedAt": (started + timedelta(seconds=4)).isoformat(),
    }

    stop = task_stop(described)

    assert (stop.revision, stop.ran_seconds, stop.kind) == (_rev(3), 4.0, "start-failure")


# --- Domain: the remedy (one test per rule) -------------------------------------------------------------------------


def test_given_the_newest_deployment_fails_to_start_its_tasks_when_deciding_then_roll_back_to_the_previous_revision():
    remedy = decide(_facts(_deployment(3, "IN_PROGRESS")), [_failed_start(3), _failed_start(3)])

    assert (remedy.action, remedy.source, remedy.target) == ("rollback", f"{FAMILY}:3", f"{FAMILY}:2")
    assert remedy.start_failures == 2


def test_given_an_older_deployment_still_running_when_rolling_back_then_its_revision_is_the_target():
    """What ran before the failing release, not merely the newest older revision registered."""
    facts = _facts(_deployment(5, "IN_PROGRESS"), _deployment(3, status="ACTIVE"), previous=4)

    remedy = decide(facts, [_failed_start(5)])

    assert (remedy.action, remedy.target) == ("rollback", f"{FAMILY}:3")


def test_given_a_failed_rollout_without_stopped_tasks_left_when_deciding_then_roll_back():
    remedy = decide(_facts(_deployment(3, "FAILED", failed=4)), [])

    assert (remedy.action, remedy.target) == ("rollback", f"{FAMILY}:2")


def test_given_the_newest_deployment_failing_and_no_older_revision_when_deciding_then_escalate_without_restarting_it():
    remedy = decide(_facts(_deployment(1, "IN_PROGRESS"), previous=None), [_failed_start(1)])

    assert remedy.action == "escalate"
    assert "no older revision" in remedy.why


def test_given_the_previous_revision_failing_to_start_too_when_deciding_then_escalate():
    remedy = decide(_facts(_deployment(3, "IN_PROGRESS")), [_failed_start(3), _failed_start(2)])

    assert (remedy.action, remedy.target) == ("escalate", None)
    assert "failed to start too" in remedy.why


def test_given_tasks_of_a_completed_deployment_crashed_after_running_when_deciding_then_force_a_new_deployment():
    remedy = decide(_facts(_deployment(3)), [_crash(3), _crash(3)])

    assert (remedy.action, remedy.target, remedy.crashes) == ("restart", None, 2)


def test_given_a_completed_deployment_whose_new_tasks_fail_to_start_when_deciding_then_restart_not_roll_back():
    """A completed release ran fine: tasks that now fail at start (a dependency, a secret) are not its fault."""
    remedy = decide(_facts(_deployment(3)), [_failed_start(3)])

    assert remedy.action == "restart"


def test_given_tasks_missing_without_any_stopped_task_left_when_deciding_then_restart():
    assert decide(_facts(_deployment(3)), []).action == "restart"


def test_given_a_rollout_in_progress_without_failures_when_deciding_then_escalate_and_do_not_interfere():
    remedy = decide(_facts(_deployment(3, "IN_PROGRESS")), [])

    assert remedy.action == "escalate"
    assert "not interfering" in remedy.why


@pytest.mark.parametrize(("running", "desired"), [(2, 2), (0, 0)], ids=["running-again", "stopped-on-purpose"])
def test_given_nothing_to_recover_when_deciding_then_no_action(running, desired):
    assert decide(_facts(_deployment(3), running=running, desired=desired), []).action == "none"


def test_given_as_many_agents_down_as_the_complete_outage_threshold_when_deciding_then_stand_down():
    remedy = decide(_facts(_deployment(3)), [_crash(3)], agents_down=3, outage_threshold=3)

    assert remedy.action == "stand-down"
    assert "complete-outage" in remedy.why


# --- Domain: who is paged at severity High --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severities", "level"),
    [
        ({"L1": "Medium", "L2": "High", "L3": "Critical", "L4": "Critical"}, "L2"),
        ({"L1": "Low", "L2": "Medium", "L3": "Critical", "L4": "Critical"}, "L3"),
        ({"L1": "Low", "L2": "Low", "L3": "Low", "L4": "Low"}, "L4"),
    ],
    ids=["the-seeds-matrix", "no-high-level", "nothing-as-severe"],
)
def test_given_an_escalation_matrix_when_asked_for_high_then_the_first_level_at_least_that_severe(severities, level):
    assert escalation_level(severities) == level


# --- The input ------------------------------------------------------------------------------------------------------


def _unavailable_alarm_event(alarm_name: str = UNAVAILABLE_ALARM, agent: str = "supervisor") -> dict:
    """The agent's metric-math alarm as CloudWatch puts it in the event: an expression and its two metrics."""

    def metric(query_id: str, name: str) -> dict:
        dimensions = {"ClusterName": CLUSTER, "ServiceName": SERVICES[agent]}
        stat = {"namespace": "ECS/ContainerInsights", "name": name, "dimensions": dimensions}
        return {"id": query_id, "metricStat": {"metric": stat, "period": 60, "stat": "Average"}, "returnData": False}

    stamp = "2026-11-27T09:00:00.000+0000"
    return {
        "version": "0",
        "id": "evt-1",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT_ID,
        "time": "2026-11-27T09:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{alarm_name}"],
        "detail": {
            "alarmName": alarm_name,
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": stamp},
            "previousState": {"value": "OK", "reason": "", "timestamp": stamp},
            "configuration": {
                "metrics": [
                    {"id": "expr", "expression": "desired - running", "label": "tasks missing", "returnData": True},
                    metric("desired", "DesiredTaskCount"),
                    metric("running", "RunningTaskCount"),
                ]
            },
        },
    }


def test_given_the_agents_metric_math_unavailable_alarm_when_normalized_then_one_alarm_request_about_its_service(
    settings_only,
):
    request = normalize_service_unavailable(_unavailable_alarm_event(), settings_only(), ACCOUNT_ID, REGION, "run-1")

    assert (request.trigger, request.agent, request.service_name, request.alarm_name) == (
        "alarm",
        "supervisor",
        SUPERVISOR,
        UNAVAILABLE_ALARM,
    )
    assert request.idempotency_key.endswith("@2026-11-27T09:00:00.000+0000#unavailable-recover")


def test_given_another_alarm_of_the_agent_when_normalized_then_invalid_input(settings_only):
    event = _unavailable_alarm_event(alarm_name="acso-production-supervisor-high-cpu")

    with pytest.raises(InvalidInput, match="is not supervisor's unavailable alarm"):
        normalize_service_unavailable(event, settings_only(), ACCOUNT_ID, REGION, "run-1")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"service": "supervisor"}, "reason"),
        ({"service": "*", "reason": "health checks failing"}, "Unknown service"),
        ({"service": "supervisor", "reason": "health checks failing", "force": True}, "force"),
        ({}, "Start this runbook with"),
    ],
)
def test_given_bad_console_input_when_normalized_then_invalid_input_names_the_problem(settings_only, raw, problem):
    with pytest.raises(InvalidInput, match=problem):
        normalize_service_unavailable(raw, settings_only(), ACCOUNT_ID, REGION, "run-1")


def test_given_console_input_when_normalized_then_a_console_request_with_dry_run(settings_only):
    raw = {"service": "supervisor", "reason": "health checks failing", "dryRun": True}

    request = normalize_service_unavailable(raw, settings_only(), ACCOUNT_ID, REGION, "run-1")

    assert (request.trigger, request.dry_run, request.idempotency_key) == (
        "console",
        True,
        "console:run-1#unavailable-recover",
    )


# --- Steps against moto ECS -----------------------------------------------------------------------------------------


@pytest.fixture
def update_service_calls(aws) -> Iterator[list[dict]]:
    """Parameters of every ecs.UpdateService API call the adapters make."""
    calls: list[dict] = []
    events = client("ecs").meta.events

    def record(params, **_):
        calls.append(params)

    events.register("provide-client-params.ecs.UpdateService", record, unique_id="test-unavailable-update-calls")
    yield calls
    events.unregister("provide-client-params.ecs.UpdateService", unique_id="test-unavailable-update-calls")


def _supervisor_on_revision(aws, revisions: int) -> None:
    """supervisor's family has `revisions` revisions and the service runs the last one, 2 tasks."""
    for _ in range(revisions - 1):
        boto("ecs").register_task_definition(
            family=FAMILY, containerDefinitions=[{"name": "supervisor", "image": "acso/supervisor:old", "memory": 512}]
        )
    aws.create_service("supervisor", desired_count=2)


def _unavailable_alarms(in_alarm: tuple[str, ...] = ()) -> None:
    for agent, service in SERVICES.items():
        boto("cloudwatch").put_metric_alarm(
            AlarmName=f"acso-production-{agent}-unavailable",
            Namespace="ECS/ContainerInsights",
            MetricName="RunningTaskCount",
            Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": service}],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
        if agent in in_alarm:
            boto("cloudwatch").set_alarm_state(
                AlarmName=f"acso-production-{agent}-unavailable", StateValue="ALARM", StateReason="test"
            )


def _console_request(lambda_context, **raw) -> dict:
    event = {"input": {"service": "supervisor", "reason": "health checks failing"} | raw, "executionName": "run-1"}
    return handlers.normalize(event, lambda_context)["request"]


def test_given_revision_3_running_when_inspected_then_the_previous_revision_and_the_agents_down_are_known(
    aws, lambda_context
):
    _supervisor_on_revision(aws, 3)
    _unavailable_alarms(in_alarm=("supervisor",))

    service = handlers.inspect_service({"request": _console_request(lambda_context)}, lambda_context)

    assert (service["runningRevision"], service["previousRevision"]) == (f"{FAMILY}:3", f"{FAMILY}:2")
    assert (service["desiredCount"], service["agentsUnavailable"]) == (2, ["supervisor"])
    assert service["deployments"][0]["status"] == "PRIMARY"
    assert service["deployments"][0]["taskDefinition"].endswith(f"{FAMILY}:3")


def test_given_stopped_tasks_of_the_service_and_of_another_when_listed_then_only_the_services_with_their_reasons(aws):
    _supervisor_on_revision(aws, 1)
    ecs_client = boto("ecs")
    for service in (SUPERVISOR, SERVICES["threat-hunter"]):
        task = ecs_client.run_task(
            cluster=CLUSTER, taskDefinition=f"{FAMILY}:1", launchType="FARGATE", group=f"service:{service}", count=1
        )["tasks"][0]
        ecs_client.stop_task(
            cluster=CLUSTER, task=task["taskArn"], reason=f"Essential container in task exited ({service})"
        )

    stopped = ecs.stopped_tasks(CLUSTER, SUPERVISOR)

    assert [task["stoppedReason"] for task in stopped] == [f"Essential container in task exited ({SUPERVISOR})"]
    assert stopped[0]["taskDefinition"] == f"{FAMILY}:1"


def _evidence(tasks: list[dict], rollout: str = "IN_PROGRESS", running: int = 0) -> dict:
    service = {
        "serviceName": SUPERVISOR,
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": 2 - running,
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/{FAMILY}:3",
        "deployments": [
            {
                "id": "ecs-svc/1",
                "status": "PRIMARY",
                "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/{FAMILY}:3",
                "rolloutState": rollout,
                "rolloutStateReason": None,
                "desiredCount": 2,
                "runningCount": running,
                "pendingCount": 2 - running,
                "failedTasks": 0,
                "createdAt": "2026-11-27T08:50:00+00:00",
            }
        ],
        "events": [{"createdAt": "2026-11-27T08:59:00+00:00", "message": "(service x) is unable to start tasks."}],
        "runningRevision": f"{FAMILY}:3",
        "previousRevision": f"{FAMILY}:2",
        "agentsUnavailable": ["supervisor"],
    }
    stopped = {"count": len(tasks), "startFailures": 0, "crashes": 0, "tasks": tasks}
    logs = {
        "pattern": "?FATAL ?CRITICAL ?startup",
        "windowMinutes": 15,
        "matches": 1,
        "truncated": False,
        "samples": [],
    }
    return {"service": service, "tasks": stopped, "logs": logs}


def _stopped_task(ran_seconds: int) -> dict:
    started = datetime(2026, 11, 27, 8, 55, tzinfo=UTC)
    return {
        "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/c/1",
        "taskDefinition": f"{FAMILY}:3",
        "lastStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "startedBy": "ecs-svc/1",
        "createdAt": started.isoformat(),
        "startedAt": started.isoformat(),
        "stoppedAt": (started + timedelta(seconds=ran_seconds)).isoformat(),
        "containers": [{"name": "agent", "exitCode": 1, "reason": None}],
    }


def test_given_the_newest_revisions_tasks_failing_at_start_when_recovering_then_decided_and_rolled_back_in_one_step(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    evidence = _evidence([_stopped_task(4)])

    remedy = handlers.recover(
        {"request": _console_request(lambda_context), "evidence": evidence, "executionArn": RUN_ARN}, lambda_context
    )

    plan = remedy["plan"]
    assert (plan["action"], plan["source"], plan["target"]) == ("rollback", f"{FAMILY}:3", f"{FAMILY}:2")
    assert (remedy["outcome"], remedy["remedy"], remedy["recovering"]) == ("rolled-back", "rollback", True)
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "taskDefinition": f"{FAMILY}:2"}]


def test_given_the_service_running_again_when_recovering_then_no_remedy_and_no_write(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    evidence = _evidence([], rollout="COMPLETED", running=2)

    remedy = handlers.recover(
        {"request": _console_request(lambda_context), "evidence": evidence, "executionArn": RUN_ARN}, lambda_context
    )

    assert (remedy["plan"]["action"], remedy["remedy"], remedy["recovering"]) == ("none", None, False)
    assert "call" not in remedy
    assert update_service_calls == []


def test_given_the_escalation_matrix_when_normalized_then_the_run_carries_the_level_severity_high_pages(
    aws, lambda_context
):
    event = {"input": {"service": "supervisor", "reason": "health checks failing"}, "executionName": "run-1"}

    assert handlers.normalize(event, lambda_context)["severity"] == {"severity": "High", "level": "L2"}


def _recover(request: dict, plan: dict) -> dict:
    """The act half of the RollBackOrRestart step, given the plan (the rule's half is tested above)."""
    return service_unavailable.recover(ServiceRequest.model_validate(request), plan, RUN_ARN, load_settings())


def test_given_a_rollback_plan_when_recovering_then_one_update_service_deploys_the_previous_revision_and_cooldown(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _console_request(lambda_context)
    plan = {"action": "rollback", "source": f"{FAMILY}:3", "target": f"{FAMILY}:2"}

    action = _recover(request, plan)
    again = _recover(request, plan)  # a retry

    assert (action["outcome"], action["recovering"], again["outcome"]) == ("rolled-back", True, "rolled-back")
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "taskDefinition": f"{FAMILY}:2"}]
    assert {item["sk"]["S"] for item in aws.items(f"COOLDOWN#{CLUSTER}/{SUPERVISOR}")} >= {"unavailable-recover"}


def test_given_a_restart_plan_when_recovering_then_one_forced_deployment_of_the_same_revision(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _console_request(lambda_context)

    action = _recover(request, {"action": "restart", "source": f"{FAMILY}:3"})

    assert (action["outcome"], action["remedy"], action["recovering"]) == ("restarted", "restart", True)
    assert update_service_calls == [{"cluster": CLUSTER, "service": SUPERVISOR, "forceNewDeployment": True}]


def test_given_dry_run_when_recovering_then_the_exact_call_is_recorded_and_none_is_made(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    request = _console_request(lambda_context, dryRun=True)
    plan = {"action": "rollback", "source": f"{FAMILY}:3", "target": f"{FAMILY}:2"}

    action = _recover(request, plan)

    assert (action["outcome"], action["recovering"]) == ("dry-run", False)
    assert action["call"] == {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": CLUSTER, "service": SUPERVISOR, "taskDefinition": f"{FAMILY}:2"},
    }
    assert update_service_calls == []


def test_given_the_unavailable_alarm_resolved_before_the_write_when_recovering_then_refused_and_nothing_changed(
    aws, lambda_context, update_service_calls
):
    _supervisor_on_revision(aws, 3)
    _unavailable_alarms()  # every alarm OK: the service came back by itself
    event = {"input": _unavailable_alarm_event(), "executionName": "run-1"}
    request = handlers.normalize(event, lambda_context)["request"]

    action = _recover(request, {"action": "restart", "source": f"{FAMILY}:3"})

    assert (action["outcome"], action["authorization"]["reason"]) == ("refused", "alarm-resolved")
    assert update_service_calls == []


def test_given_the_last_check_still_down_when_checking_the_recovery_then_the_circuit_breaker_counts_it(
    aws, lambda_context, virtual_clock, monkeypatch
):
    task_definition = boto("ecs").register_task_definition(
        family=FAMILY, containerDefinitions=[{"name": "supervisor", "image": "acso/supervisor:1", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    boto("ecs").create_cluster(clusterName=CLUSTER)
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # moto: no task of the service runs
    boto("ecs").create_service(cluster=CLUSTER, serviceName=SUPERVISOR, taskDefinition=task_definition, desiredCount=2)
    request = _console_request(lambda_context)
    action = {"remedy": "restart", "startedAt": virtual_clock.now.isoformat()}

    first = handlers.check_recovery(
        {"request": request, "action": action, "checksLeft": 10, "executionArn": RUN_ARN}, lambda_context
    )
    last = handlers.check_recovery(
        {"request": request, "action": action, "checksLeft": 1, "executionArn": RUN_ARN}, lambda_context
    )

    assert (first["stable"], first["checksLeft"], first["breaker"]) == (False, 9, None)
    assert (last["stable"], last["checksLeft"], last["breaker"]["failures"]) == (False, 0, 1)


# --- The record -----------------------------------------------------------------------------------------------------


CONTEXT = RunContext("production", REGION, RUN_ARN, "/aws/acso/production/agents", "acso-production-state")


def _run(plan: dict, action: dict | None = None, rollout: dict | None = None) -> dict:
    request = {
        "agent": "supervisor",
        "service_name": SUPERVISOR,
        "cluster_name": CLUSTER,
        "reason": "Threshold Crossed",
        "trigger": "alarm",
        "alarm_name": UNAVAILABLE_ALARM,
        "alarm_state_at": "2026-11-27T09:00:00.000+0000",
        "dry_run": False,
    }
    state = {
        "request": request,
        "guard": {"proceed": True, "lease": {"resource": f"{CLUSTER}/{SUPERVISOR}"}},
        "evidence": _evidence([_stopped_task(4)]),
        "severity": {"severity": "High", "level": "L2"},
    }
    plan = {"source": f"{FAMILY}:3", "target": None} | plan
    # the RollBackOrRestart step's result: what it did with the plan, or the plan alone when it is no remedy
    state["action"] = (action | {"plan": plan}) if action is not None else {"plan": plan, "remedy": None}
    if rollout is not None:
        state["rollout"] = rollout
    return state


def _service(revision: int, running: int) -> dict:
    return {
        "service_name": SUPERVISOR,
        "task_definition": f"{FAMILY}:{revision}",
        "desired_count": 2,
        "running_count": running,
        "rollout_state": "COMPLETED" if running == 2 else "IN_PROGRESS",
    }


def _rollback_action() -> dict:
    return {
        "remedy": "rollback",
        "outcome": "rolled-back",
        "from": f"{FAMILY}:3",
        "to": f"{FAMILY}:2",
        "before": _service(3, 0),
        "after": _service(2, 0),
        "call": {"operation": "ecs.UpdateService", "parameters": {"taskDefinition": f"{FAMILY}:2"}},
    }


def test_given_a_rollback_that_recovered_when_recorded_then_acted_l1_with_the_revisions_before_and_after():
    state = _run(
        {"action": "rollback", "target": f"{FAMILY}:2", "why": "newest fails"},
        _rollback_action(),
        {
            "stable": True,
            "service": _service(2, 2),
        },
    )

    decision = summaries.service_unavailable(state, CONTEXT)

    assert (decision.decision, decision.level) == ("acted", "L1")
    assert "rolled back rev 3 -> 2" in decision.subject
    assert f"Revision before: {FAMILY}:3" in decision.lines and f"Revision after: {FAMILY}:2" in decision.lines
    assert (decision.before["task_definition"], decision.after["task_definition"]) == (f"{FAMILY}:3", f"{FAMILY}:2")


def test_given_a_rollback_that_did_not_recover_when_recorded_then_the_high_level_is_paged_with_the_evidence():
    rollout = {"stable": False, "checksLeft": 0, "service": _service(2, 0), "breaker": None}
    state = _run({"action": "rollback", "target": f"{FAMILY}:2", "why": "newest fails"}, _rollback_action(), rollout)

    decision = summaries.service_unavailable(state, CONTEXT)
    text = "\n".join(decision.lines)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert "STILL UNAVAILABLE" in decision.subject
    assert "Stopped tasks (1)" in text and "is unable to start tasks" in text and "?FATAL ?CRITICAL ?startup" in text
    assert f"--task-definition {FAMILY}:3" in text, "the command back to the prior revision"
    assert "console.aws.amazon.com/ecs/v2/clusters" in text and "alarmsV2:alarm/" in text


def test_given_no_remedy_fits_when_recorded_then_escalated_at_high_without_any_change():
    decision = summaries.service_unavailable(_run({"action": "escalate", "why": "no older revision"}), CONTEXT)

    assert (decision.decision, decision.level, decision.before) == ("escalated", "L2", None)


@pytest.mark.parametrize(("action", "decided"), [("none", "no-action"), ("stand-down", "suppressed")])
def test_given_nothing_to_do_here_when_recorded_then_audited_and_nobody_paged(action, decided):
    decision = summaries.service_unavailable(_run({"action": action, "why": "..."}), CONTEXT)

    assert (decision.decision, decision.level) == (decided, None)


def test_given_the_service_down_again_within_the_cooldown_of_a_remedy_when_recorded_then_paged_at_high():
    state = _run({"action": "restart", "why": "..."})
    state["guard"] = {"proceed": False, "reason": "cooldown", "detail": "unavailable-recover at 09:00", "lease": None}

    decision = summaries.service_unavailable(state, CONTEXT)

    assert (decision.decision, decision.level) == ("escalated", "L2")
    assert "AGAIN" in decision.subject


def test_given_a_dry_run_when_recorded_then_l1_reads_the_exact_call():
    action = _rollback_action() | {"outcome": "dry-run"}

    decision = summaries.service_unavailable(_run({"action": "rollback", "why": "newest fails"}, action), CONTEXT)

    assert (decision.decision, decision.level) == ("dry-run", "L1")
    assert json.dumps(action["call"]["parameters"]).replace('"', "'") in decision.why.replace('"', "'")
