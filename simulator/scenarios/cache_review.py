"""Scenario of the cache-review runbook. The scenario seeds the agents' ElastiCache node (moto creates it) and a day
of its metrics: a 55 % hit rate, evictions while memory is nearly full; the hit-rate alarm fires and an operator also
starts a review by hand. The reports are read back and copied to simulation-output/cache-review/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.scenarios.database_review import read_reports, report_link

RUNBOOK = "cache-review"
PREFIX = "cache-review/"
OUTPUT = Path("simulation-output") / RUNBOOK
NODE_TYPE = "cache.t3.medium"
HITS_PER_HOUR, MISSES_PER_HOUR = 5_500.0, 4_500.0  # a 55 % hit rate
EVICTIONS_PER_HOUR = 50.0  # in the 12 busiest hours


def seed_cache(h: Harness) -> None:
    """The Redis node and 24 hourly datapoints of each metric the review reads."""
    cluster_id, now = h.settings["cache"]["clusterId"], h.clock.now().replace(minute=0, second=0, microsecond=0)
    h.aws.client("elasticache").create_cache_cluster(
        CacheClusterId=cluster_id, CacheNodeType=NODE_TYPE, Engine="redis", EngineVersion="7.1", NumCacheNodes=1
    )
    data = []
    for hours_ago in range(1, 25):
        busy = hours_ago <= 12
        values = {
            "CacheHits": (HITS_PER_HOUR, "Count"),
            "CacheMisses": (MISSES_PER_HOUR, "Count"),
            "Evictions": (EVICTIONS_PER_HOUR if busy else 0.0, "Count"),
            "CurrConnections": (240.0 if busy else 180.0, "Count"),
            "DatabaseMemoryUsagePercentage": (94.0 if busy else 88.0, "Percent"),
            "EngineCPUUtilization": (45.0 if busy else 30.0, "Percent"),
        }
        data += [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "CacheClusterId", "Value": cluster_id}],
                "Timestamp": now - timedelta(hours=hours_ago),
                "Value": value,
                "Unit": unit,
            }
            for name, (value, unit) in values.items()
        ]
    h.aws.client("cloudwatch").put_metric_data(Namespace="AWS/ElastiCache", MetricData=data)


def _review(h: Harness) -> None:
    seed_cache(h)
    h.deliver(h.alarm_event("cache", kind="hit-rate"))
    h.start_console(RUNBOOK, {"reason": "agents slower after the cache change"})
    h.settle()
    read_reports(h, PREFIX, OUTPUT)


def _expect_review(o: Outcome) -> list[tuple[str, bool]]:
    reports = o.observed.get("reports", {})
    markdown = [body for key, body in sorted(reports.items()) if key.endswith(".md")]
    messages = [n["message"] for n in o.notifications]
    bucket = o.observed.get("bucket", "")
    linked = [key for key in reports if key.endswith(".md") and any(report_link(bucket, key) in m for m in messages)]
    cache_writes = [
        name for name in o.api_calls if name.startswith("elasticache.") and not name.startswith("elasticache.Describe")
    ]
    return [
        ("both executions succeeded (the hit-rate alarm and the console)", o.statuses == ["SUCCEEDED"] * 2),
        (
            "the node's metrics in exactly one GetMetricData call per run",
            o.api_calls.get("cloudwatch.GetMetricData") == 2,
        ),
        ("the node described once per run", o.api_calls.get("elasticache.DescribeCacheClusters") == 2),
        ("zero write calls to ElastiCache (or anything in production)", not cache_writes and o.write_calls == 0),
        ("a Markdown and a JSON report per run", len(markdown) == 2 and sum(k.endswith(".json") for k in reports) == 2),
        (
            "the report gives the 55 % hit rate against the 80 % target and recommends TTLs and keys",
            all("hit rate 55.0 % is below the 80 % target: review the TTLs" in body for body in markdown),
        ),
        (
            "evictions with memory high: a bigger node (the next size of its family) or the eviction policy",
            all(
                "600 evictions with memory at 94 % of maxmemory" in body
                and "Move to a larger node type (cache.t3.medium -> cache.t3.large)" in body
                and "maxmemory-policy" in body
                for body in markdown
            ),
        ),
        ("one short L1 message per run, nobody else paged", levels(o) == ["L1", "L1"]),
        ("each L1 message links its own report", len(linked) == 2),
        (
            "the L1 message says the hit rate and the evictions",
            all("Hit rate 55.0 % (target 80 %)" in m and "Evictions 600" in m for m in messages),
        ),
        ("audited: reported, twice", decisions(o) == ["reported", "reported"]),
        every_execution_audited(o),
    ]


SCENARIOS = [
    Scenario(
        "cache-review",
        "The cache's hit rate is 55 % (target 80 %) with 600 evictions at 94 % memory: the hit-rate alarm fires (and "
        "an operator asks too); report recommends TTL/key review and a bigger node, L1 linked, nothing changed.",
        {},
        _review,
        _expect_review,
    ),
]
