"""weekly-performance-review as deployed: its weekly schedule, and the little it may touch (read metrics and
scaling policies; write only its own report folder and baseline in the reports bucket)."""

from __future__ import annotations

from tests.infrastructure.support import SynthesizedStack, actions_cover, policy_statements
from tests.infrastructure.test_triggers import _only, _rules_targeting

HANDLERS = "remediation.handlers.weekly_performance_review."


def _statements_of(synthesized: SynthesizedStack, handler: str):
    return [
        statement
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and any(synthesized.function_of_role(role) == HANDLERS + handler for role in statement.roles)
    ]


def _granted(synthesized: SynthesizedStack, handler: str) -> set[str]:
    return {action for statement in _statements_of(synthesized, handler) for action in statement.actions}


def test_weekly_schedule_starts_the_review_with_the_configured_cron_every_monday(synthesized):
    _, rule = _only(_rules_targeting(synthesized, "weekly-performance-review"), "rule starting the weekly review")

    assert rule["ScheduleExpression"] == synthesized.config.schedules.weekly_performance_review
    assert synthesized.config.schedules.weekly_performance_review == "cron(0 6 ? * MON *)"
    assert "EventPattern" not in rule
    assert rule["Targets"][0]["DeadLetterConfig"], "an undeliverable schedule event goes to the dead-letter queue"


def test_the_review_writes_only_its_own_folder_of_the_reports_bucket(synthesized):
    resolver = synthesized.resolver()
    writes = [
        statement
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and actions_cover(statement.actions, "s3:PutObject")
        and any((synthesized.function_of_role(role) or "").startswith(HANDLERS) for role in statement.roles)
    ]

    assert len(writes) == 1
    assert [synthesized.function_of_role(role) for role in writes[0].roles] == [HANDLERS + "publish_report"]
    (resource,) = writes[0].resources
    assert resolver.resolve(resource).endswith("/weekly-performance-review/*")


def test_the_analysis_reads_only_the_stored_baseline_and_may_learn_that_it_is_missing(synthesized):
    resolver = synthesized.resolver()
    statements = _statements_of(synthesized, "analyze")
    reads = [s for s in statements if actions_cover(s.actions, "s3:GetObject")]
    lists = [s for s in statements if actions_cover(s.actions, "s3:ListBucket")]

    assert [resolver.resolve(list(s.resources))[0].rsplit("/", 2)[-2:] for s in reads] == [
        ["weekly-performance-review", "baseline.json"]
    ]
    assert [s.condition for s in lists] == [{"StringEquals": {"s3:prefix": "weekly-performance-review/baseline.json"}}]


def test_no_review_step_can_change_production(synthesized):
    for handler in ("normalize", "collect_metrics", "describe_scaling", "analyze", "publish_report"):
        granted = _granted(synthesized, handler)
        for write in ("ecs:UpdateService", "application-autoscaling:RegisterScalableTarget", "ssm:PutParameter"):
            assert not actions_cover(tuple(granted), write), f"{handler} may {write}"
    assert "cloudwatch:GetMetricData" in _granted(synthesized, "collect_metrics")
    assert "cloudwatch:GetMetricWidgetImage" in _granted(synthesized, "publish_report")
    assert {
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
    } <= _granted(synthesized, "describe_scaling")
