"""P2: CloudWatch read calls per health sweep for 5, 50 and 250 services.

The daily health check's own step (its CollectUtilization parameters read from the state machine file) runs against
the emulator with N services; every GetMetricData call it makes is counted, and also costed as CloudWatch would
serve it: a call over 100,800 datapoints answers with a NextToken, i.e. another call. The seed's CLI procedure makes
two calls per service (get-metric-statistics for CPU, then memory). A call carries at most 500 queries, so with
CPU and memory per service plus the day's two log counts, one call holds up to 249 services and 174 over a day
at 5-minute periods (datapoints); beyond that the minimum is ceil(max(queries / 500, datapoints / 100,800)).
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from bench.common import STATE_MACHINES_DIR, ProbeResult, Row
from remediation import clock
from remediation.adapters.aws import client
from remediation.logic import investigate
from simulator.emulator import EmbeddedAws, VirtualClock

SERVICE_COUNTS = (5, 50, 250)
TARGET_CALLS = 1
MAX_QUERIES, MAX_DATAPOINTS = 500, 100_800


def run() -> ProbeResult:
    started = time.perf_counter()
    parameters = _collect_utilization_parameters()
    rows, details = [], {"parameters": parameters}
    for count in SERVICE_COUNTS:
        settings = SimpleNamespace(
            services={f"agent-{index:03d}": f"acso-production-agent-{index:03d}" for index in range(count)},
            cluster_name="acso-production-cluster",
        )
        with EmbeddedAws(VirtualClock(datetime(2026, 11, 27, 6, 0, tzinfo=UTC))) as aws:
            clock.use_source(aws.clock.now)
            requests: list[dict] = []
            events = client("cloudwatch").meta.events
            events.register(
                "provide-client-params.cloudwatch.GetMetricData",
                lambda params, made=requests, **_: made.append(params),
                unique_id="bench-p2",
            )
            try:
                investigate.collect_utilization(
                    "all",
                    parameters["windowMinutes"],
                    parameters["periodSeconds"],
                    parameters["stat"],
                    parameters["includeLogVolume"],
                    settings,
                )
            finally:
                events.unregister("provide-client-params.cloudwatch.GetMetricData", unique_id="bench-p2")
                clock.use_source(None)
            made = aws.api_calls().get("cloudwatch.GetMetricData", 0)
        queries = sum(len(request["MetricDataQueries"]) for request in requests)
        points = [_datapoints(request) for request in requests]
        served = sum(max(1, math.ceil(p / MAX_DATAPOINTS)) for p in points)
        minimum = max(math.ceil(queries / MAX_QUERIES), math.ceil(sum(points) / MAX_DATAPOINTS))
        details[str(count)] = {
            "calls": made,
            "callsAsCloudWatchServesThem": served,
            "minimumPossible": minimum,
            "queries": queries,
            "datapointsPerCall": points,
            "queriesPerCall": [len(request["MetricDataQueries"]) for request in requests],
            "seedCliCalls": 2 * count,
        }
        rows.append(
            Row(
                "P2",
                f"GetMetricData calls per health sweep, {count} services",
                str(served),
                str(TARGET_CALLS),
                served <= TARGET_CALLS,
                f"seed CLI: {2 * count}; {queries} metrics; the minimum the API allows: {minimum}",
            )
        )
    return ProbeResult("P2", "CloudWatch read calls per health sweep", rows, details, time.perf_counter() - started)


def _collect_utilization_parameters() -> dict:
    definition = json.loads((STATE_MACHINES_DIR / "daily_health_check.asl.json").read_text())

    def find(states: dict) -> dict | None:
        for name, state in states.items():
            if name == "CollectUtilization":
                return state["Parameters"]
            for branch in state.get("Branches", []):
                if found := find(branch["States"]):
                    return found
        return None

    parameters = find(definition["States"])
    if parameters is None:
        raise LookupError("daily_health_check.asl.json has no CollectUtilization state")
    return parameters


def _datapoints(request: dict) -> int:
    seconds = (request["EndTime"] - request["StartTime"]).total_seconds()
    return sum(math.ceil(seconds / query["MetricStat"]["Period"]) for query in request["MetricDataQueries"])
