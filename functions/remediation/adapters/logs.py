"""CloudWatch Logs adapter: count events matching a filter pattern and keep a few as evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code


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


def read_events(
    log_group: str, pattern: str, start: datetime, end: datetime, max_events: int
) -> tuple[list[dict], bool]:
    """Every event matching the pattern in [start, end), oldest first, as CloudWatch Logs returns it (timestamp,
    stream, message, event id), up to max_events; the flag says the window held more."""
    paginator = client("logs").get_paginator("filter_log_events")
    events: list[dict] = []
    with aws_errors("logs.FilterLogEvents"):
        for page in paginator.paginate(
            logGroupName=log_group,
            filterPattern=pattern,
            startTime=int(start.timestamp() * 1000),
            endTime=int(end.timestamp() * 1000),
        ):
            for event in page.get("events", []):
                if len(events) == max_events:
                    return events, True
                events.append(
                    {
                        "timestamp": event["timestamp"],
                        "logStreamName": event.get("logStreamName"),
                        "eventId": event.get("eventId"),
                        "message": event["message"],
                    }
                )
    return events, False


def read_messages_if_group_exists(
    log_group: str, pattern: str, start: datetime, end: datetime, max_events: int
) -> tuple[list[tuple[int, str]], bool] | None:
    """(timestamp ms, message) of every event matching the pattern in [start, end), oldest first, up to max_events,
    and whether the window held more; None when the log group does not exist (e.g. a log not exported)."""
    paginator = client("logs").get_paginator("filter_log_events")
    events: list[tuple[int, str]] = []
    with aws_errors("logs.FilterLogEvents"):
        try:
            for page in paginator.paginate(
                logGroupName=log_group,
                filterPattern=pattern,
                startTime=int(start.timestamp() * 1000),
                endTime=int(end.timestamp() * 1000),
            ):
                for event in page.get("events", []):
                    if len(events) == max_events:
                        return events, True
                    events.append((event["timestamp"], event["message"]))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
    return events, False
