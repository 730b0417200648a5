"""The runbooks' state machines as deployed: checked-in ASL, every placeholder substituted, validated by
statelint, and shaped so every failure is retried, bounded in time and recorded on one failure path."""

from __future__ import annotations

import json

import pytest
from statelint.config import Config
from statelint.linter import Linter
from statelint.problem import ProblemType

from stacks.runbook import asl_placeholders
from tests.infrastructure.support import STATE_MACHINES_DIR, SynthesizedStack, iter_states, transitions

ASL_FILES = sorted(path.name for path in STATE_MACHINES_DIR.glob("*.asl.json"))
FAILURE_PATH = "RecordFailure"
REJECTED_INPUT = "KeepRejectedInputError"
FAILED = "RunbookFailed"
# statelint's FLOAT check only wants `2.0` spelled instead of `2` (BackoffRate); Step Functions accepts both and
# statelint documents `--ignore=FLOAT` for it. Every other check stays on.
STATELINT = Config(ignored_problem_types={ProblemType.FLOAT})
# Which handler each Task state runs: a swapped substitution would still deploy and validate.
TASK_HANDLERS = {
    "high-cpu": {
        "NormalizeRequest": "remediation.handlers.high_cpu.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "CollectUtilization": "remediation.handlers.investigate.collect_utilization",
        "SearchAgentLogs": "remediation.handlers.investigate.search_logs",
        "DescribeAlarmedService": "remediation.handlers.investigate.describe_services",
        "ScaleOut": "remediation.handlers.high_cpu.scale_out",
        "VerifyScaling": "remediation.handlers.high_cpu.verify_scaling",
        "RestorePriorCount": "remediation.handlers.high_cpu.restore_prior_count",
        "RollBackResize": "remediation.handlers.high_cpu.roll_back_resize",
        "PlanResize": "remediation.handlers.high_cpu.plan_resize",
        "RequestApproval": "remediation.handlers.approval.request_approval",
        "ResizeTask": "remediation.handlers.high_cpu.resize_task",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "daily-health-check": {
        "NormalizeRequest": "remediation.handlers.daily_health_check.normalize",
        "DescribeServices": "remediation.handlers.investigate.describe_services",
        "CollectUtilization": "remediation.handlers.investigate.collect_utilization",
        "AssessHealth": "remediation.handlers.daily_health_check.assess",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "weekly-performance-review": {
        "NormalizeRequest": "remediation.handlers.weekly_performance_review.normalize",
        "CollectMetrics": "remediation.handlers.weekly_performance_review.collect_metrics",
        "DescribeServices": "remediation.handlers.investigate.describe_services",
        "DescribeScaling": "remediation.handlers.weekly_performance_review.describe_scaling",
        "AnalyzePerformance": "remediation.handlers.weekly_performance_review.analyze",
        "PublishReport": "remediation.handlers.weekly_performance_review.publish_report",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "restart-agent": {
        "NormalizeRequest": "remediation.handlers.restart_agent.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "ForceNewDeployment": "remediation.handlers.restart_agent.force_new_deployment",
        "CheckRollout": "remediation.handlers.restart_agent.check_rollout",
        "CheckAgentLogs": "remediation.handlers.investigate.search_logs",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "config-update": {
        "NormalizeRequest": "remediation.handlers.config_update.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "ApplyConfig": "remediation.handlers.config_update.apply_config",
        "CheckRollout": "remediation.handlers.restart_agent.check_rollout",
        "CheckConfigLoaded": "remediation.handlers.config_update.check_config_loaded",
        "RestorePreviousConfig": "remediation.handlers.config_update.restore_previous_config",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "rollback": {
        "NormalizeRequest": "remediation.handlers.rollback.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "RollBack": "remediation.handlers.rollback.roll_back",
        "CheckRollout": "remediation.handlers.rollback.check_rollout",
        "CheckAgentLogs": "remediation.handlers.investigate.search_logs",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "service-unavailable": {
        "NormalizeRequest": "remediation.handlers.service_unavailable.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "DescribeUnavailableService": "remediation.handlers.service_unavailable.inspect_service",
        "ListStoppedTasks": "remediation.handlers.service_unavailable.stopped_tasks",
        "SearchStartupLogs": "remediation.handlers.investigate.search_logs",
        "RollBackOrRestart": "remediation.handlers.service_unavailable.recover",
        "CheckRecovery": "remediation.handlers.service_unavailable.check_recovery",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "memory-leak": {
        "NormalizeRequest": "remediation.handlers.memory_leak.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "MemoryTrend": "remediation.handlers.memory_leak.memory_trend",
        "SearchMemoryLogs": "remediation.handlers.investigate.search_logs",
        "DescribeLeakingService": "remediation.handlers.investigate.describe_services",
        "RestartService": "remediation.handlers.memory_leak.restart",
        "VerifyMemory": "remediation.handlers.memory_leak.verify_memory",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "complete-outage": {
        "NormalizeRequest": "remediation.handlers.complete_outage.normalize",
        "AcquireGuard": "remediation.handlers.complete_outage.acquire_guard",
        "AssessOutage": "remediation.handlers.complete_outage.assess",
        "PlanFailover": "remediation.handlers.complete_outage.plan_failover",
        "PageOnCall": "remediation.handlers.complete_outage.page_on_call",
        "RequestApproval": "remediation.handlers.approval.request_approval",
        "FailOver": "remediation.handlers.complete_outage.fail_over",
        "CheckDrReady": "remediation.handlers.complete_outage.check_dr_ready",
        "SwitchActiveRegion": "remediation.handlers.complete_outage.switch_active_region",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "data-breach": {
        "NormalizeRequest": "remediation.handlers.data_breach.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "DescribeService": "remediation.handlers.investigate.describe_services",
        "DescribeTaskDefinition": "remediation.handlers.data_breach.describe_task_definition",
        "ReadServiceLogs": "remediation.handlers.data_breach.read_service_logs",
        "PlanResponse": "remediation.handlers.data_breach.plan",
        "RequestApproval": "remediation.handlers.approval.request_approval",
        "IsolateService": "remediation.handlers.data_breach.isolate_service",
        "PreserveEvidence": "remediation.handlers.data_breach.preserve_evidence",
        "NotifyStakeholders": "remediation.handlers.data_breach.notify_stakeholders",
        "RestoreService": "remediation.handlers.data_breach.restore_service",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "scale-agent": {
        "NormalizeRequest": "remediation.handlers.scale_agent.normalize",
        "AcquireGuard": "remediation.handlers.guard.acquire",
        "SetDesiredCount": "remediation.handlers.scale_agent.set_desired_count",
        "ApplyScalingPolicy": "remediation.handlers.scale_agent.apply_scaling_policy",
        "VerifyStable": "remediation.handlers.scale_agent.verify_stable",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "backup-verification": {
        "NormalizeRequest": "remediation.handlers.backup_verification.normalize",
        "ListBackupJobs": "remediation.handlers.backup_verification.list_backup_jobs",
        "ListBackupObjects": "remediation.handlers.backup_verification.list_backup_objects",
        "AssessBackups": "remediation.handlers.backup_verification.assess",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "maintenance-window": {
        "NormalizeRequest": "remediation.handlers.maintenance_window.normalize",
        "AcquireGuard": "remediation.handlers.maintenance_window.acquire_guard",
        "PreChecklist": "remediation.handlers.maintenance_window.pre_checklist",
        "StartBackup": "remediation.handlers.maintenance_window.start_backup",
        "CheckBackup": "remediation.handlers.maintenance_window.check_backup",
        "SuppressAutoRemediation": "remediation.handlers.maintenance_window.suppress_auto_remediation",
        "DescribeServicesAfterWork": "remediation.handlers.investigate.describe_services",
        "CollectUtilizationAfterWork": "remediation.handlers.investigate.collect_utilization",
        "AssessValidation": "remediation.handlers.maintenance_window.assess_health",
        "DescribeServicesAfterMonitoring": "remediation.handlers.investigate.describe_services",
        "CollectUtilizationAfterMonitoring": "remediation.handlers.investigate.collect_utilization",
        "AssessMonitoring": "remediation.handlers.maintenance_window.assess_health",
        "SwitchBackAutoRemediation": "remediation.handlers.maintenance_window.switch_back",
        "ReportMaintenance": "remediation.handlers.maintenance_window.report",
        # The run's own record step: on the failure path it switches auto-remediation back on first.
        "RecordDecision": "remediation.handlers.maintenance_window.record_decision",
        "RecordFailure": "remediation.handlers.maintenance_window.record_decision",
    },
    "dr-test": {
        "NormalizeRequest": "remediation.handlers.dr_test.normalize",
        "AcquireGuard": "remediation.handlers.dr_test.acquire_guard",
        "FindLatestBackup": "remediation.handlers.dr_test.find_latest_backup",
        "RestoreBackup": "remediation.handlers.dr_test.restore_backup",
        "ValidateRestore": "remediation.handlers.dr_test.validate_restore",
        "ReportDrTest": "remediation.handlers.dr_test.report",
        "CleanUpRestore": "remediation.handlers.dr_test.clean_up",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "security-patch-review": {
        "NormalizeRequest": "remediation.handlers.security_patch_review.normalize",
        "DescribeServices": "remediation.handlers.investigate.describe_services",
        "ScanImages": "remediation.handlers.security_patch_review.scan_images",
        "PublishReport": "remediation.handlers.security_patch_review.publish_report",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "access-review": {
        "NormalizeRequest": "remediation.handlers.access_review.normalize",
        "ListAcsoRoles": "remediation.handlers.access_review.list_roles",
        "StartLastAccessed": "remediation.handlers.access_review.start_last_accessed",
        "CollectLastAccessed": "remediation.handlers.access_review.collect_last_accessed",
        "PublishReport": "remediation.handlers.access_review.publish_report",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "database-review": {
        "NormalizeRequest": "remediation.handlers.database_review.normalize",
        "FindSlowQueries": "remediation.handlers.database_review.find_slow_queries",
        "SearchAgentLogs": "remediation.handlers.investigate.search_logs",
        "CollectDatabaseMetrics": "remediation.handlers.database_review.collect_metrics",
        "DescribeDatabase": "remediation.handlers.database_review.describe_instance",
        "RecommendDatabase": "remediation.handlers.database_review.recommend",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
    "cache-review": {
        "NormalizeRequest": "remediation.handlers.cache_review.normalize",
        "CollectCacheMetrics": "remediation.handlers.cache_review.collect_metrics",
        "DescribeCache": "remediation.handlers.cache_review.describe_cluster",
        "RecommendCache": "remediation.handlers.cache_review.recommend",
        "RecordDecision": "remediation.handlers.record.record_decision",
        "RecordFailure": "remediation.handlers.record.record_decision",
    },
}


def _definitions(synthesized: SynthesizedStack) -> list[tuple[str, dict]]:
    """(state machine name, resolved definition) of every state machine in the template."""
    machines = synthesized.of_type("AWS::StepFunctions::StateMachine")
    definitions = [
        (machines[logical_id]["StateMachineName"], definition)
        for logical_id, definition in synthesized.definitions().items()
    ]
    assert definitions
    return definitions


def _runbook(synthesized: SynthesizedStack, state_machine_name: str) -> str:
    return state_machine_name.removeprefix(f"acso-{synthesized.environment}-")


def test_every_state_machine_definition_passes_statelint(synthesized):
    problems = {name: Linter.validate(definition, STATELINT) for name, definition in _definitions(synthesized)}

    assert problems == {name: [] for name in problems}


def test_statelint_is_not_silently_accepting_everything():
    """A broken transition is reported: the check above can fail."""
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}
    assert Linter.validate(broken, STATELINT)


def test_every_state_says_what_it_does_in_a_comment(synthesized):
    for name, definition in _definitions(synthesized):
        assert str(definition.get("Comment", "")).strip(), f"{name}: the state machine has no Comment"
        silent = [
            (scope, state_name)
            for scope, state_name, state, _ in iter_states(definition)
            if not str(state.get("Comment", "")).strip()
        ]
        assert silent == [], name


def test_every_task_retries_and_is_bounded_in_time(synthesized):
    for name, definition in _definitions(synthesized):
        for scope, state_name, state, _ in iter_states(definition):
            if state["Type"] != "Task":
                continue
            where = f"{name}: {'/'.join((*scope, state_name))}"
            assert state.get("Retry"), f"{where} has no Retry"
            assert all(
                retrier.get("ErrorEquals") and retrier.get("MaxAttempts", 3) >= 1 for retrier in state["Retry"]
            ), where
            assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{where} has no TimeoutSeconds"


def test_every_state_machine_is_bounded_in_time(synthesized):
    for name, definition in _definitions(synthesized):
        assert isinstance(definition.get("TimeoutSeconds"), int), f"{name}: no TimeoutSeconds"
        assert definition["TimeoutSeconds"] > 0


def test_high_cpu_runbook_timeout_leaves_room_for_the_configured_verification_wait(synthesized):
    definition = synthesized.definitions()[synthesized.state_machine_named("high-cpu")]
    assert definition["TimeoutSeconds"] > synthesized.config.high_cpu.verify_after_seconds


def test_every_catch_leads_to_the_single_failure_path_with_the_error_under_dollar_error(synthesized):
    for name, definition in _definitions(synthesized):
        for scope, state_name, state, _ in iter_states(definition):
            where = f"{name}: {'/'.join((*scope, state_name))}"
            for catcher in state.get("Catch", []):
                if scope == () and state_name == definition["StartAt"]:
                    # The first state may reject input that is not even an object: the error replaces it.
                    assert (catcher["Next"], catcher.get("ResultPath")) == (REJECTED_INPUT, "$"), where
                elif scope == () and state_name == FAILURE_PATH:
                    # Recording the failure failed: keep the original $.error for RunbookFailed.
                    assert catcher["Next"] == FAILED, where
                    assert catcher.get("ResultPath") not in (None, "$", "$.error"), where
                else:
                    assert (catcher["Next"], catcher.get("ResultPath")) == (FAILURE_PATH, "$.error"), where


def test_no_failure_escapes_the_failure_path(synthesized):
    """Every top-level step that can fail catches States.ALL; the failure path records, then fails the run."""
    for name, definition in _definitions(synthesized):
        states = definition["States"]
        for state_name, state in states.items():
            if state["Type"] in {"Task", "Parallel", "Map"}:
                assert any("States.ALL" in catcher["ErrorEquals"] for catcher in state.get("Catch", [])), (
                    f"{name}: {state_name} lets an error end the execution unrecorded"
                )
        assert states[REJECTED_INPUT]["Type"] == "Pass"
        assert states[REJECTED_INPUT]["Next"] == FAILURE_PATH
        assert states[REJECTED_INPUT]["Parameters"] == {"error.$": "$"}
        assert states[FAILURE_PATH]["Type"] == "Task"
        after_record = states[states[FAILURE_PATH]["Next"]]
        if after_record is not states[FAILED]:
            # Only a person's decision (a rejected or unanswered approval) may end the run without failing it.
            assert after_record["Type"] == "Choice" and after_record["Default"] == FAILED, name
            decided = {json.dumps(choice, sort_keys=True) for choice in after_record["Choices"]}
            assert all("ApprovalRejected" in choice or "States.Timeout" in choice for choice in decided), name
        assert states[FAILED]["Type"] == "Fail"
        assert (states[FAILED].get("ErrorPath"), states[FAILED].get("CausePath")) == ("$.error.Error", "$.error.Cause")


def test_every_transition_points_to_a_state_of_its_own_scope_and_every_state_is_reachable(synthesized):
    for name, definition in _definitions(synthesized):
        scopes: dict[tuple[str, ...], tuple[str, dict]] = {}
        for scope, state_name, state, siblings in iter_states(definition):
            for target in transitions(state):
                assert target in siblings, f"{name}: {'/'.join((*scope, state_name))} -> {target} does not exist"
            scopes.setdefault(scope, (state_name, siblings))
        for scope, (_, siblings) in scopes.items():
            start = definition["StartAt"] if scope == () else _branch_start(definition, scope)
            reached, frontier = {start}, [start]
            while frontier:
                for target in transitions(siblings[frontier.pop()]):
                    if target not in reached:
                        reached.add(target)
                        frontier.append(target)
            assert reached == set(siblings), f"{name}: unreachable {sorted(set(siblings) - reached)} in {scope}"


def _branch_start(definition: dict, scope: tuple[str, ...]) -> str:
    node = definition
    for part in scope:
        if part.startswith("Branches["):
            node = node["Branches"][int(part[len("Branches[") : -1])]
        elif part in ("ItemProcessor", "Iterator"):
            node = node[part]
        else:
            node = node["States"][part]
    return node["StartAt"]


def test_each_task_state_invokes_the_handler_of_its_step(synthesized):
    functions = synthesized.of_type("AWS::Lambda::Function")
    resolver = synthesized.resolver()
    handler_by_arn = {
        resolver.attributes[(logical_id, "Arn")]: props["Handler"] for logical_id, props in functions.items()
    }
    for name, definition in _definitions(synthesized):
        runbook = _runbook(synthesized, name)
        invoked = {
            state_name: handler_by_arn.get(_invoked(state), _invoked(state))
            for _, state_name, state, _ in iter_states(definition)
            if state["Type"] == "Task"
        }
        assert invoked == TASK_HANDLERS[runbook], name


def test_each_state_machine_role_may_invoke_exactly_the_functions_its_definition_calls(synthesized):
    resolver = synthesized.resolver()
    machines = synthesized.of_type("AWS::StepFunctions::StateMachine")
    policies = synthesized.of_type("AWS::IAM::Policy")
    for logical_id, definition in synthesized.definitions().items():
        role = machines[logical_id]["RoleArn"]["Fn::GetAtt"][0]
        called = {_invoked(state) for _, _, state, _ in iter_states(definition) if state["Type"] == "Task"}
        invokable = {
            resource.removesuffix(":*")
            for policy in policies.values()
            if {"Ref": role} in policy["Roles"]
            for statement in policy["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Allow" and "lambda:InvokeFunction" in json.dumps(statement["Action"])
            for resource in resolver.resolve(
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
        }
        assert invokable == called, machines[logical_id]["StateMachineName"]


def test_every_state_machine_logs_and_traces_its_executions(synthesized):
    for props in synthesized.of_type("AWS::StepFunctions::StateMachine").values():
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["Destinations"]


@pytest.mark.parametrize("asl_file", ASL_FILES)
def test_every_placeholder_of_a_checked_in_asl_file_is_substituted_and_every_substitution_used(synthesized, asl_file):
    """Matched by content: the deployed definition is the checked-in file, not a copy."""
    source = (STATE_MACHINES_DIR / asl_file).read_text()
    machines = synthesized.of_type("AWS::StepFunctions::StateMachine")
    deployed = [
        props
        for props in machines.values()
        if synthesized.assets[props["DefinitionS3Location"]["Key"]].read_text() == source
    ]

    assert len(deployed) == 1, f"{asl_file} must be deployed by exactly one state machine"
    assert set(deployed[0]["DefinitionSubstitutions"]) == asl_placeholders(asl_file)
    assert asl_placeholders(asl_file), f"{asl_file}: a runbook without Lambda steps is unexpected"


def test_every_state_machine_comes_from_a_checked_in_asl_file(synthesized):
    sources = {(STATE_MACHINES_DIR / asl_file).read_text() for asl_file in ASL_FILES}
    for props in synthesized.of_type("AWS::StepFunctions::StateMachine").values():
        assert "DefinitionS3Location" in props, f"{props['StateMachineName']}: inline definition"
        assert synthesized.assets[props["DefinitionS3Location"]["Key"]].read_text() in sources


def _invoked(state: dict) -> str:
    """The function a Task calls: its Resource, or for an integration (lambda:invoke[.waitForTaskToken])
    the FunctionName parameter."""
    if state["Resource"].startswith("arn:aws:states:::lambda:invoke"):
        return state["Parameters"]["FunctionName"]
    return state["Resource"]
