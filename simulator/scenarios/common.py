"""What every scenario is made of, and the expectations they share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from simulator.harness import Harness, Outcome
from simulator.world import ServiceProfile


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    profiles: dict[str, ServiceProfile]
    act: Callable[[Harness], None]
    expect: Callable[[Outcome], list[tuple[str, bool]]]
    start: datetime | None = None
    """Virtual start time (default: a Friday morning outside every maintenance window)."""
    history_days: int = 1
    """Days of metric and log history seeded before the start; more than 1 also seeds hourly CPU and the agents'
    latency metric (the weekly review reads a week). Each day costs seeding and query time: keep 1 when not needed."""


def decisions(outcome: Outcome) -> list[str]:
    return [record["decision"] for record in outcome.audit_records]


def levels(outcome: Outcome) -> list[str]:
    return [notification["level"] for notification in outcome.notifications]


def failed_at_first_state_with_invalid_input(outcome: Outcome) -> bool:
    return all(
        execution.status == "FAILED"
        and execution.error == "InvalidInput"
        and execution.state_transitions[:1] == ["NormalizeRequest"]
        and "AcquireGuard" not in execution.state_transitions
        for execution in outcome.executions
    )


def tells_what_to_fix(cause: str | None) -> bool:
    message = json.loads(cause or "{}").get("errorMessage", "")
    return any(hint in message for hint in ("Start this runbook with", "Expected", "Configured agents", "acts only on"))


def every_execution_audited(outcome: Outcome) -> tuple[str, bool]:
    """Events in = audit records out: every execution an event started left exactly one decision."""
    arns = sorted(execution.execution_arn for execution in outcome.executions)
    audited = sorted(record["executionArn"] for record in outcome.audit_records)
    return (f"events in = audit records out ({len(arns)} executions, {len(audited)} records)", arns == audited)


def expect_rejected(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "every execution failed at the first state with InvalidInput",
            bool(o.executions) and failed_at_first_state_with_invalid_input(o),
        ),
        ("the console shows what to fix", all(tells_what_to_fix(execution.cause) for execution in o.executions)),
        ("no write to production", o.write_calls == 0 and not o.actions),
        ("each rejection is audited", decisions(o) == ["rejected"] * len(o.executions)),
        every_execution_audited(o),
        ("no page for a rejected input", o.notifications == []),
    ]
