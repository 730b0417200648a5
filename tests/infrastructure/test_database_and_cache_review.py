"""database-review and cache-review as synthesized: the alarms that start them (only on going INTO ALARM), and least
privilege: they read their database / cache and metrics, write only their own folder of the reports bucket, and
may change nothing in RDS or ElastiCache."""

from __future__ import annotations

import pytest

from simulator.emulator import event_pattern_matches
from tests.infrastructure.support import ACCOUNT, REGION, SynthesizedStack, actions_cover, alarm_arn, policy_statements
from tests.infrastructure.test_triggers import _alarm_state_change, _only, _rules_targeting

HANDLERS = {
    "database-review": "remediation.handlers.database_review.",
    "cache-review": "remediation.handlers.cache_review.",
}


def _alarm(synthesized: SynthesizedStack, suffix: str) -> dict:
    name = f"acso-{synthesized.environment}-{suffix}"
    alarms = {k: p for k, p in synthesized.of_type("AWS::CloudWatch::Alarm").items() if p["AlarmName"] == name}
    return _only(alarms, f"alarm {name}")[1]


def _grants(synthesized: SynthesizedStack, runbook: str) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(handler, actions, resolved resources) of every Allow statement on the roles of the runbook's own steps."""
    resolver, found = synthesized.resolver(), []
    for statement in policy_statements(synthesized):
        if statement.effect != "Allow":
            continue
        for role in statement.roles:
            handler = synthesized.function_of_role(role) or ""
            if handler.startswith(HANDLERS[runbook]):
                found.append((handler, statement.actions, resolver.resolve(list(statement.resources))))
    return found


def test_database_connections_alarm_fires_at_the_configured_share_of_max_connections(synthesized):
    policy = synthesized.config.database
    alarm = _alarm(synthesized, "database-connections")

    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/RDS",
        "DatabaseConnections",
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": policy.instance_id}]
    assert alarm["Threshold"] == policy.max_connections * policy.connections_alarm_percent / 100 == 800
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 900, "80 % of the connections held for 15 minutes"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_cache_hit_rate_alarm_is_hits_over_requests_below_the_target(synthesized):
    policy = synthesized.config.cache
    alarm = _alarm(synthesized, "cache-hit-rate")
    metrics = {query["Id"]: query for query in alarm["Metrics"]}

    expression = next(query for query in alarm["Metrics"] if "Expression" in query)
    assert expression["Expression"] == "100 * hits / (hits + misses)"
    for query_id, metric_name in (("hits", "CacheHits"), ("misses", "CacheMisses")):
        stat = metrics[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
            "AWS/ElastiCache",
            metric_name,
            "Sum",
        )
        assert stat["Metric"]["Dimensions"] == [{"Name": "CacheClusterId", "Value": policy.cluster_id}]
    assert alarm["Threshold"] == policy.hit_rate_target_percent == 80
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching", "no traffic is no hit rate, not a bad one"


@pytest.mark.parametrize(
    ("runbook", "suffix"), [("database-review", "database-connections"), ("cache-review", "cache-hit-rate")]
)
@pytest.mark.parametrize(
    ("value", "previous", "starts"),
    [
        ("ALARM", "OK", True),
        ("ALARM", "INSUFFICIENT_DATA", True),
        ("OK", "ALARM", False),
        ("INSUFFICIENT_DATA", "OK", False),
    ],
)
def test_given_the_review_alarm_changes_state_when_matched_then_only_going_into_alarm_starts_the_review(
    synthesized, runbook, suffix, value, previous, starts
):
    _, rule = _only(_rules_targeting(synthesized, runbook), f"rule starting {runbook}")
    pattern = synthesized.resolver().resolve(rule["EventPattern"])
    own = alarm_arn(f"acso-{synthesized.environment}-{suffix}")

    assert event_pattern_matches(pattern, _alarm_state_change(own, value, previous)) is starts
    assert not event_pattern_matches(pattern, _alarm_state_change(alarm_arn("acso-other-alarm"), "ALARM", "OK"))
    assert rule["Targets"][0]["DeadLetterConfig"], "an undeliverable alarm event goes to the dead-letter queue"


def test_database_review_reads_only_its_instance_slow_query_log_and_metrics_and_writes_only_its_reports(synthesized):
    policy = synthesized.config.database
    grants = _grants(synthesized, "database-review")
    granted = {action for _, actions, _ in grants for action in actions}

    assert (
        "remediation.handlers.database_review.describe_instance",
        ("rds:DescribeDBInstances",),
        [f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{policy.instance_id}"],
    ) in grants
    assert (
        "remediation.handlers.database_review.find_slow_queries",
        ("logs:FilterLogEvents",),
        [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{policy.slow_query_log_group}:*"],
    ) in grants
    assert not any(action.startswith("rds:") and not action.startswith("rds:Describe") for action in granted)
    writes = [(handler, resources) for handler, actions, resources in grants if actions_cover(actions, "s3:PutObject")]
    assert [handler for handler, _ in writes] == ["remediation.handlers.database_review.recommend"]
    assert all(resource.endswith("/database-review/*") for _, resources in writes for resource in resources)


def test_cache_review_reads_only_its_cluster_and_metrics_and_writes_only_its_reports(synthesized):
    policy = synthesized.config.cache
    grants = _grants(synthesized, "cache-review")
    granted = {action for _, actions, _ in grants for action in actions}

    assert (
        "remediation.handlers.cache_review.describe_cluster",
        ("elasticache:DescribeCacheClusters",),
        [f"arn:aws:elasticache:{REGION}:{ACCOUNT}:cluster:{policy.cluster_id}"],
    ) in grants
    assert not any(action.startswith("elasticache:") and ":Describe" not in action for action in granted)
    writes = [(handler, resources) for handler, actions, resources in grants if actions_cover(actions, "s3:PutObject")]
    assert [handler for handler, _ in writes] == ["remediation.handlers.cache_review.recommend"]
    assert all(resource.endswith("/cache-review/*") for _, resources in writes for resource in resources)
