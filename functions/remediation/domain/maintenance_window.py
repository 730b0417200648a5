"""maintenance-window's pure rules: the pre-checklist, the window's times, the automation flags it writes and
recognises as its own, and the state of its backup jobs.

The window (seed: Scheduled Maintenance Window, Sunday 02:00-05:00 UTC) starts when the run starts and lasts
`durationMinutes`; its last `monitorMinutes` are the post-maintenance monitoring. Auto-remediation is suppressed
for exactly that window by writing `suppressedUntil` into the automation flags, so the guard refuses every
alarm-driven remediation until then even if this run never comes back to switch it on again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

MIN_WORK_MINUTES = 15
"""A window lasts at least its monitoring plus this long (stacks/config.py checks the configured window alike)."""
MAX_DURATION_MINUTES = 360
RUN_LIMIT_SECONDS = 8 * 3600
"""The state machine's TimeoutSeconds (state_machines/maintenance_window.asl.json): the longest window, the
backup's wait and the checks fit in it; the run's fleet lease lasts as long."""
REASON_MAX_CHARS = 300

BACKUP_DONE = "COMPLETED"
BACKUP_FAILED = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
"""AWS Backup job states that will never become COMPLETED."""


@dataclass(frozen=True)
class Check:
    """One item of the pre-maintenance checklist."""

    check: str
    passed: bool
    observed: str
    expected: str

    def to_dict(self) -> dict:
        return asdict(self)


def checklist(
    services: dict[str, dict | None],
    leases: dict[str, str | None],
    flags: dict | None,
    flags_problem: str | None,
    now: datetime,
) -> list[Check]:
    """Every service stable, no runbook holding a lease, automation enabled and not already suppressed.

    `services`: agent -> its ECS state (`ServiceState.to_dict()`), None when missing; `leases`: resource -> the
    execution holding a live lease on it, None when free; `flags`: the automation flags document, None when it
    could not be read (`flags_problem` says why)."""
    unstable = []
    for agent, state in services.items():
        if state is None:
            unstable.append(f"{agent} missing or inactive")
        elif not state["steady"] or state["rollout_state"] != "COMPLETED":
            unstable.append(
                f"{agent} {state['running_count']}/{state['desired_count']} running, {state['deployments']} "
                f"deployment(s), rollout {state['rollout_state']}"
            )
    held = [f"{resource} held by {owner.rsplit(':', 1)[-1]}" for resource, owner in leases.items() if owner]
    return [
        Check(
            "services-stable",
            not unstable,
            "; ".join(unstable) or f"all {len(services)} services steady",
            "running = desired, one completed deployment, for every service",
        ),
        Check(
            "no-runbook-lease",
            not held,
            "; ".join(held) or "no runbook holds a service",
            "no runbook execution in progress on any service",
        ),
        _automation_check(flags, flags_problem, now),
    ]


def _automation_check(flags: dict | None, problem: str | None, now: datetime) -> Check:
    expected = "automation enabled and not suppressed"
    if flags is None:
        return Check("automation-enabled", False, f"flags unreadable: {problem}", expected)
    if not flags.get("enabled"):
        return Check("automation-enabled", False, f"kill switch on: {flags.get('reason') or 'no reason'}", expected)
    try:
        until = suppressed_until(flags)
    except ValueError:
        return Check(
            "automation-enabled", False, f"flags unreadable: suppressedUntil {flags['suppressedUntil']!r}", expected
        )
    if until and until > now:
        # Another window (or an operator) suppresses it already: two suppressions would restore each other.
        return Check(
            "automation-enabled",
            False,
            f"already suppressed until {flags['suppressedUntil']}: {flags.get('reason') or 'no reason'}",
            expected,
        )
    return Check("automation-enabled", True, "enabled, not suppressed", expected)


def window_end(now: datetime, started_at: datetime, duration_minutes: int, monitor_minutes: int) -> datetime:
    """The window runs from the run's start for `duration_minutes`; when the backup took so long that less than the
    monitoring is left, it ends `monitor_minutes` from now instead (the monitoring is never cut short)."""
    return max(started_at + timedelta(minutes=duration_minutes), now + timedelta(minutes=monitor_minutes))


def waits(now: datetime, until: datetime, monitor_minutes: int) -> tuple[int, int]:
    """(seconds until the monitoring starts: the maintenance itself, seconds of monitoring) from now."""
    monitoring_from = until - timedelta(minutes=monitor_minutes)
    work = max(0.0, (monitoring_from - now).total_seconds())
    monitoring = max(0.0, (until - max(now, monitoring_from)).total_seconds())
    return int(work), int(monitoring)


def suppression_reason(execution_name: str, reason: str) -> str:
    return f"maintenance-window {execution_name}: {reason}"[:REASON_MAX_CHARS]


def suppressed_flags(previous: dict, until: datetime, reason: str) -> dict:
    """The flags during the window: the previous document with `suppressedUntil` and `reason` set, every other key
    (the kill switch `enabled` among them) kept as it was."""
    return previous | {"suppressedUntil": until.isoformat(), "reason": reason}


def flags_value(document: dict) -> str:
    """The exact parameter value written for a flags document."""
    return json.dumps(document)


def suppressed_until(flags: dict) -> datetime | None:
    """The flags' `suppressedUntil` as a time (UTC when it names no zone), None when absent; ValueError when it is
    not an ISO time."""
    value = flags.get("suppressedUntil")
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_flags(value: str) -> dict | None:
    """The flags document of a parameter value, None when it is not a JSON object with a boolean `enabled`."""
    try:
        document = json.loads(value)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("enabled"), bool):
        return None
    return document


def still_ours(current_value: str, written_value: str) -> bool:
    """Restore only the flags this run wrote: anything else is somebody's decision (an operator's kill switch, a
    later suppression) and is left alone."""
    current = parse_flags(current_value)
    return current is not None and current == parse_flags(written_value)


def backup_state(jobs: list[dict]) -> str:
    """completed (every job), failed (one will never complete), or running."""
    states = [job["state"] for job in jobs]
    if any(state in BACKUP_FAILED for state in states):
        return "failed"
    if states and all(state == BACKUP_DONE for state in states):
        return "completed"
    return "running"


def duration_problem(duration_minutes: int, monitor_minutes: int) -> str | None:
    """Why a requested window length is refused, None when it is within bounds."""
    shortest = monitor_minutes + MIN_WORK_MINUTES
    if not shortest <= duration_minutes <= MAX_DURATION_MINUTES:
        return (
            f"durationMinutes {duration_minutes} is out of bounds: between {shortest} (the {monitor_minutes} minutes "
            f"of monitoring plus {MIN_WORK_MINUTES}) and {MAX_DURATION_MINUTES}"
        )
    return None
