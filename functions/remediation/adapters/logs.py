"""CloudWatch Logs adapter: count events matching a filter pattern and keep a few as evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from remediation.adapters.aws import aws_errors, client


@dataclass(frozen=True)
class LogMatches:
    pattern: str
    count: int
    samples: tuple[str, ...]
    truncated: bool


def search(log_group: str, pattern: str, start: datetime, end: datetime, max_pages: int = 10) -> LogMatches:
    paginator = client("logs").get_paginator("filter_log_events")
    count, samples, pages = 0, [], 0
    with aws_errors("logs.FilterLogEvents"):
        for page in paginator.paginate(
            logGroupName=log_group,
            filterPattern=pattern,
            startTime=int(start.timestamp() * 1000),
            endTime=int(end.timestamp() * 1000),
        ):
            events = page.get("events", [])
            count += len(events)
            samples.extend(event["message"] for event in events[: 5 - len(samples)])
            pages += 1
            if pages >= max_pages:
                return LogMatches(pattern, count, tuple(samples), truncated=True)
    return LogMatches(pattern, count, tuple(samples), truncated=False)
