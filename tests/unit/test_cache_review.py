"""cache-review: hit rate and the recommendation rules, the metrics step (one GetMetricData call) and the report
against emulated AWS (moto), and the L1 summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from remediation.domain.cache_review import CacheFigures, CacheThresholds, recommend
from remediation.domain.requests.scheduled_reviews import ReviewRequest, normalize_review
from remediation.domain.summaries import RunContext, cache_review
from remediation.errors import AwsCallFailed, InvalidInput
from remediation.logic import cache_review as logic
from remediation.settings import load_settings
from tests.unit.conftest import ACCOUNT_ID, CACHE_CLUSTER, REGION, REPORTS_BUCKET, boto

LIMITS = CacheThresholds(hit_rate_target_percent=80, memory_percent=80, engine_cpu_percent=90)


def _figures(**changes) -> CacheFigures:
    healthy = {
        "node_type": "cache.r6g.large",
        "engine": "redis",
        "nodes": 1,
        "hits": 9_000.0,
        "misses": 1_000.0,
        "evictions": 0.0,
        "connections_peak": 200.0,
        "memory_peak_percent": 60.0,
        "engine_cpu_peak_percent": 30.0,
    }
    return CacheFigures(**(healthy | changes))


def test_given_hits_and_misses_then_the_hit_rate_is_hits_over_all_requests_and_none_without_traffic():
    assert _figures(hits=5_500.0, misses=4_500.0).hit_rate_percent == 55.0
    assert _figures(hits=0.0, misses=0.0).hit_rate_percent is None


def test_given_a_healthy_cache_when_recommended_then_there_is_nothing_to_recommend():
    assert recommend(_figures(), LIMITS) == []


def test_given_a_hit_rate_below_target_when_recommended_then_ttls_and_keys_are_reviewed_first():
    (found,) = recommend(_figures(hits=5_500.0, misses=4_500.0), LIMITS)

    assert (found.priority, found.area) == (1, "hit-rate")
    assert found.text.startswith("hit rate 55.0 % is below the 80 % target: review the TTLs")
    assert "key design" in found.text and "warm the hot keys" in found.text
    assert found.evidence == "5,500 hits, 4,500 misses"


def test_given_evictions_with_memory_high_when_recommended_then_a_bigger_node_of_its_family_or_ttls_and_policy():
    (found,) = recommend(_figures(node_type="cache.t3.medium", evictions=600.0, memory_peak_percent=94.0), LIMITS)

    assert (found.priority, found.area) == (1, "memory")
    assert found.text.startswith("600 evictions with memory at 94 % of maxmemory: the working set does not fit.")
    assert "(cache.t3.medium -> cache.t3.large)" in found.text and "maxmemory-policy" in found.text


def test_given_evictions_with_memory_low_when_recommended_then_the_eviction_settings_are_checked():
    (found,) = recommend(_figures(evictions=12.0, memory_peak_percent=50.0), LIMITS)

    assert (found.priority, found.area) == (2, "memory")
    assert "reserved-memory-percent" in found.text


def test_given_a_busy_engine_thread_when_recommended_then_commands_and_hot_keys_are_named():
    (found,) = recommend(_figures(engine_cpu_peak_percent=95.0), LIMITS)

    assert (found.priority, found.area) == (2, "cpu")
    assert "one thread" in found.text and "(cache.r6g.large -> cache.r6g.xlarge)" in found.text


def test_given_no_traffic_or_another_engine_when_recommended_then_it_says_so_instead_of_judging():
    found = recommend(_figures(engine="memcached", hits=0.0, misses=0.0), LIMITS)

    assert [(r.priority, r.area) for r in found] == [(3, "engine"), (3, "traffic")]


def test_given_several_findings_when_recommended_then_urgent_ones_come_first():
    found = recommend(
        _figures(hits=1.0, misses=9.0, evictions=5.0, memory_peak_percent=85.0, engine_cpu_peak_percent=99.0), LIMITS
    )

    assert [(r.priority, r.area) for r in found] == [(1, "hit-rate"), (1, "memory"), (2, "cpu")]


def test_given_the_cache_alarm_or_another_when_normalized_then_only_its_own_alarm_starts_it():
    alarm = "acso-production-cache-hit-rate"
    event = {
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT_ID,
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{alarm}"],
        "detail": {"alarmName": alarm, "state": {"value": "ALARM", "timestamp": "2026-11-27T09:00:00.000+0000"}},
    }
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    request = normalize_review(event, "cache-review", alarm, 24, ACCOUNT_ID, REGION, "exec-1", now)
    assert (request.trigger, request.runbook, request.hours) == ("alarm", "cache-review", 24)
    other = event | {"detail": event["detail"] | {"alarmName": "acso-production-database-connections"}}
    with pytest.raises(InvalidInput, match="is not the cache-review alarm"):
        normalize_review(other, "cache-review", alarm, 24, ACCOUNT_ID, REGION, "exec-1", now)


# -- the steps against emulated AWS -------------------------------------------------------------------------------
@pytest.fixture
def request_now(aws, virtual_clock) -> ReviewRequest:
    return ReviewRequest(
        runbook="cache-review",
        trigger="console",
        dry_run=False,
        idempotency_key="console:exec-1#cache-review",
        reason="test",
        hours=24,
        as_of=virtual_clock.now.isoformat(),
    )


def _metrics(now, hours: int = 24) -> None:
    data = []
    for hours_ago in range(1, hours + 1):
        hits, misses = (7_000.0, 3_000.0) if hours_ago % 2 else (4_000.0, 6_000.0)
        for name, value in (
            ("CacheHits", hits),
            ("CacheMisses", misses),
            ("Evictions", 10.0),
            ("CurrConnections", 100.0 + hours_ago),
            ("DatabaseMemoryUsagePercentage", 70.0 + hours_ago / 2),
            ("EngineCPUUtilization", 20.0),
        ):
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "CacheClusterId", "Value": CACHE_CLUSTER}],
                    "Timestamp": now - timedelta(hours=hours_ago, minutes=-1),
                    "Value": value,
                }
            )
    boto("cloudwatch").put_metric_data(Namespace="AWS/ElastiCache", MetricData=data)


def test_given_a_day_of_metrics_when_collected_then_sums_peaks_and_the_worst_hour_come_from_one_call(
    aws, request_now, virtual_clock
):
    _metrics(virtual_clock.now)

    measured = logic.collect_metrics(request_now, load_settings())

    assert (measured["hits"], measured["misses"], measured["evictions"]) == (132_000.0, 108_000.0, 240.0)
    assert (measured["connectionsPeak"], measured["memoryPeakPercent"], measured["engineCpuPeakPercent"]) == (
        124.0,
        82.0,
        20.0,
    )
    assert measured["lowestHourlyHitRatePercent"] == 40.0
    assert measured["hoursWithData"] == 24


def test_given_a_missing_cluster_when_described_then_the_run_fails_naming_the_configuration_key(aws):
    with pytest.raises(AwsCallFailed, match=r"cache.clusterId"):
        logic.describe_cluster(load_settings())


def test_given_the_evidence_when_reviewed_then_a_report_in_s3_and_an_l1_summary_linking_it(
    aws, request_now, virtual_clock
):
    boto("elasticache").create_cache_cluster(
        CacheClusterId=CACHE_CLUSTER, CacheNodeType="cache.t3.medium", Engine="redis", NumCacheNodes=1
    )
    _metrics(virtual_clock.now)
    settings = load_settings()
    evidence = {"metrics": logic.collect_metrics(request_now, settings), "cluster": logic.describe_cluster(settings)}

    review = logic.recommend_and_report(request_now, evidence, "exec-1", settings)

    assert review["report"]["key"] == f"cache-review/{virtual_clock.now:%Y/%m/%d/%H%M%S}-exec-1.md"
    markdown = boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=review["report"]["key"])["Body"].read().decode()
    document = json.loads(boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=review["report"]["jsonKey"])["Body"].read())
    assert "hit rate 55.0 % is below the 80 % target" in markdown
    assert "| Hit rate | 55.0 % (lowest hour 40.0 %) | at least 80 % |" in markdown
    assert [r["area"] for r in document["recommendations"]] == ["hit-rate", "memory"]

    state = {"request": request_now.model_dump(), "evidence": evidence, "review": review}
    decision = cache_review(state, RunContext("production", REGION, "arn:exec", "/aws/acso/production/agents"))
    message = "\n".join(decision.lines)
    assert (decision.decision, decision.level) == ("reported", "L1")
    assert decision.subject == "[ACSO production] cache review acso-production-cache: 2 recommendations, 2 urgent"
    assert "Hit rate 55.0 % (target 80 %): 132,000 hits, 108,000 misses" in message
    assert (
        f"https://s3.console.aws.amazon.com/s3/object/{REPORTS_BUCKET}?region={REGION}&prefix=cache-review" in message
    )
