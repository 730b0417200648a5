"""CloudWatch reads in as few GetMetricData calls as the API allows (500 queries and 100,800 datapoints per call),
and the health sweep's CPU and memory still cover only its window when the call spans the day for the log volume."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest

from remediation.adapters import metrics
from remediation.adapters.aws import client
from remediation.adapters.metrics import MetricQuery
from remediation.logic import investigate
from remediation.settings import load_settings
from tests.unit.conftest import CLUSTER, SERVICES, boto


@pytest.fixture
def calls(aws) -> Iterator[list[dict]]:
    """The parameters of every cloudwatch.GetMetricData call the adapters make."""
    made: list[dict] = []
    events = client("cloudwatch").meta.events

    def keep(params, **_):
        made.append(params)

    events.register("provide-client-params.cloudwatch.GetMetricData", keep, unique_id="test-metric-batching")
    yield made
    events.unregister("provide-client-params.cloudwatch.GetMetricData", unique_id="test-metric-batching")


def _datapoints(call: dict) -> int:
    seconds = (call["EndTime"] - call["StartTime"]).total_seconds()
    return sum(-(-seconds // query["MetricStat"]["Period"]) for query in call["MetricDataQueries"])


def _services(count: int) -> SimpleNamespace:
    names = {f"agent-{index:03d}": f"acso-production-agent-{index:03d}" for index in range(count)}
    return SimpleNamespace(services=names, cluster_name=CLUSTER)


@pytest.mark.parametrize(("services", "expected_calls"), [(5, 1), (50, 1), (174, 1), (250, 2)])
def test_given_a_health_sweep_of_many_services_when_collected_then_it_takes_the_fewest_calls_the_api_limits_allow(
    virtual_clock, calls, services, expected_calls
):
    investigate.collect_utilization("all", 60, 300, "Average", True, _services(services))

    # 2 queries per service + the day's 2 log counts; a day at 5-minute periods is 288 datapoints per query.
    assert len(calls) == expected_calls
    assert all(len(call["MetricDataQueries"]) <= 500 and _datapoints(call) <= 100_800 for call in calls)
    assert sum(len(call["MetricDataQueries"]) for call in calls) == 2 * services + 2


def test_given_queries_over_a_long_window_when_read_then_no_call_would_be_paged(virtual_clock, calls):
    queries = [
        MetricQuery(f"q{index}", "AWS/ECS", "CPUUtilization", {"ServiceName": f"s{index}"}, "Average", 60)
        for index in range(100)
    ]

    metrics.get_metric_data(queries, virtual_clock.now - timedelta(days=1), virtual_clock.now)

    assert [len(call["MetricDataQueries"]) for call in calls] == [70, 30]  # 1,440 datapoints each, 100,800 a call


def test_given_a_cpu_peak_hours_ago_when_the_health_sweep_reads_the_last_hour_then_the_peak_is_not_counted(
    virtual_clock, calls
):
    now, supervisor = virtual_clock.now, SERVICES["supervisor"]
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": supervisor}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": value,
                "Unit": "Percent",
            }
            for minutes, value in ((180, 97.0), (40, 55.0), (10, 48.0))
        ],
    )

    result = investigate.collect_utilization(["supervisor"], 60, 300, "Average", True, load_settings())

    assert len(calls) == 1
    assert (
        result["services"]["supervisor"]["cpuMaxPercent"],
        result["services"]["supervisor"]["cpuLatestPercent"],
    ) == (
        55.0,
        48.0,
    )
