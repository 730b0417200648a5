"""CloudWatch adapter: utilization of many services in as few GetMetricData calls as possible."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from remediation.adapters.aws import aws_errors, client

_MAX_QUERIES_PER_CALL = 500
_MAX_DATAPOINTS_PER_CALL = 100_800
"""GetMetricData returns at most this many datapoints per call; beyond it answers with a NextToken (another call)."""


@dataclass(frozen=True)
class MetricQuery:
    query_id: str
    namespace: str
    metric_name: str
    dimensions: dict[str, str]
    stat: str
    period: int


@dataclass(frozen=True)
class MetricSeries:
    values: tuple[float, ...]
    """Newest first, as GetMetricData returns them with ScanBy=TimestampDescending."""

    @property
    def latest(self) -> float | None:
        return self.values[0] if self.values else None

    @property
    def maximum(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def total(self) -> float:
        return sum(self.values)


def get_metric_data(queries: list[MetricQuery], start: datetime, end: datetime) -> dict[str, MetricSeries]:
    """As few GetMetricData calls as the API allows (`_batches`), following NextToken pages."""
    values: dict[str, list[float]] = {query.query_id: [] for query in queries}
    for queries_of_call in _batches(queries, start, end):
        batch = [_to_api(query) for query in queries_of_call]
        paginator = client("cloudwatch").get_paginator("get_metric_data")
        with aws_errors("cloudwatch.GetMetricData"):
            for page in paginator.paginate(
                MetricDataQueries=batch, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
            ):
                for result in page.get("MetricDataResults", []):
                    values[result["Id"]].extend(result.get("Values", []))
    return {query_id: MetricSeries(tuple(series)) for query_id, series in values.items()}


def _batches(queries: list[MetricQuery], start: datetime, end: datetime) -> list[list[MetricQuery]]:
    """The queries split into calls of at most 500 queries and 100,800 datapoints (each query returns up to one
    datapoint per period of the window), in order: a call that would page costs a call anyway."""
    seconds = max((end - start).total_seconds(), 1.0)
    batches: list[list[MetricQuery]] = []
    datapoints = 0
    for query in queries:
        cost = math.ceil(seconds / query.period)
        if not batches or len(batches[-1]) == _MAX_QUERIES_PER_CALL or datapoints + cost > _MAX_DATAPOINTS_PER_CALL:
            batches.append([])
            datapoints = 0
        batches[-1].append(query)
        datapoints += cost
    return batches


def _to_api(query: MetricQuery) -> dict:
    return {
        "Id": query.query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": query.namespace,
                "MetricName": query.metric_name,
                "Dimensions": [{"Name": name, "Value": value} for name, value in query.dimensions.items()],
            },
            "Period": query.period,
            "Stat": query.stat,
        },
        "ReturnData": True,
    }


@dataclass(frozen=True)
class TimedSeries:
    points: tuple[tuple[datetime, float], ...]
    """(timestamp, value), oldest first."""

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None


def get_timed_metric_data(queries: list[MetricQuery], start: datetime, end: datetime) -> dict[str, TimedSeries]:
    """Like get_metric_data, with each value's timestamp (for trends), in as few calls."""
    points: dict[str, list[tuple[datetime, float]]] = {query.query_id: [] for query in queries}
    for queries_of_call in _batches(queries, start, end):
        batch = [_to_api(query) for query in queries_of_call]
        paginator = client("cloudwatch").get_paginator("get_metric_data")
        with aws_errors("cloudwatch.GetMetricData"):
            for page in paginator.paginate(
                MetricDataQueries=batch, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
            ):
                for result in page.get("MetricDataResults", []):
                    stamps, values = result.get("Timestamps", []), result.get("Values", [])
                    points[result["Id"]].extend(zip(stamps, values, strict=True))
    return {query_id: TimedSeries(tuple(sorted(series))) for query_id, series in points.items()}


def get_widget_image(widget: dict) -> bytes:
    """CloudWatch renders a metric widget (the dashboard widget JSON) as a PNG: GetMetricWidgetImage."""
    with aws_errors("cloudwatch.GetMetricWidgetImage"):
        response = client("cloudwatch").get_metric_widget_image(MetricWidget=json.dumps(widget), OutputFormat="png")
    return response["MetricWidgetImage"]
