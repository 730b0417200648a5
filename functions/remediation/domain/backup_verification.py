"""backup-verification (seed: Daily Backup Verification): what counts as a verified daily backup. Pure rules.

Two checks, both must pass:
- **backup jobs**: every AWS Backup job of the configured vault created in the window (the `maxAgeHours` before
  the check) ended COMPLETED, and at least one did. FAILED, ABORTED, EXPIRED and PARTIAL jobs fail the check and
  are listed; a job still running (CREATED, PENDING, RUNNING, ABORTING) is listed without failing it, as long as
  another job of the window completed.
- **backup objects**: the day's prefix `YYYY/MM/DD/` (UTC) of the backup bucket holds at least one non-empty
  object (a zero-byte folder marker does not count).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

COMPLETED = "COMPLETED"
FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED", "PARTIAL")
IN_PROGRESS_STATES = ("CREATED", "PENDING", "RUNNING", "ABORTING")
JOBS_CHECK = "backup-jobs-completed"
OBJECTS_CHECK = "todays-backup-objects"
SAMPLE_KEYS = 10
"""ListObjectsV2 MaxKeys: enough to tell a real backup from an empty prefix or a folder marker, and to show."""


@dataclass(frozen=True)
class BackupJob:
    job_id: str
    state: str
    resource: str
    """The resource's name or ARN."""
    resource_type: str
    created_at: str
    completed_at: str | None = None
    status_message: str = ""
    size_bytes: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    check: str
    passed: bool
    observed: str
    expected: str
    evidence: list[str] = field(default_factory=list)
    """What a person reads to act: the failed jobs, the keys found, the prefix looked at."""

    def to_dict(self) -> dict:
        return asdict(self)


def day_prefix(day: date) -> str:
    """The nightly backup's S3 prefix of a (UTC) day, as the seed lists it: `s3://<bucket>/$(date +%Y/%m/%d)/`."""
    return f"{day:%Y/%m/%d}/"


def end_of_check(day: date, now: datetime) -> datetime:
    """The instant a check of `day` looks back from: now for today, the end of the day for an earlier day."""
    return min(now, datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC))


def job_window(as_of: datetime, max_age_hours: int) -> tuple[datetime, datetime]:
    """Jobs created in these [start, end] are the ones checked."""
    return as_of - timedelta(hours=max_age_hours), as_of


def evaluate_jobs(jobs: list[BackupJob], vault: str, window: tuple[datetime, datetime]) -> Finding:
    expected = (
        f"every job of vault {vault} created {window[0]:%Y-%m-%d %H:%M} - {window[1]:%Y-%m-%d %H:%M} UTC COMPLETED "
        "(at least one)"
    )
    by_state: dict[str, int] = {}
    for job in jobs:
        by_state[job.state] = by_state.get(job.state, 0) + 1
    observed = (
        f"{len(jobs)} job(s): " + ", ".join(f"{count} {state}" for state, count in sorted(by_state.items()))
        if jobs
        else "no backup job in the window"
    )
    failed = [job for job in jobs if job.state in FAILED_STATES]
    running = [job for job in jobs if job.state in IN_PROGRESS_STATES]
    completed = [job for job in jobs if job.state == COMPLETED]
    evidence = [_job_line(job) for job in failed + running]
    if not completed and not failed:
        evidence.append("no job of the window COMPLETED: the nightly backup did not run, or has not finished")
    return Finding(JOBS_CHECK, not failed and bool(completed), observed, expected, evidence)


def evaluate_objects(bucket: str, prefix: str, objects: list[dict], truncated: bool) -> Finding:
    """`objects`: the first `SAMPLE_KEYS` objects under the prefix ({"key", "size", "lastModified"})."""
    expected = f"s3://{bucket}/{prefix} holds at least one non-empty object"
    backups = [entry for entry in objects if entry["size"] > 0 and entry["key"] != prefix]
    if not objects:
        return Finding(OBJECTS_CHECK, False, f"s3://{bucket}/{prefix} is empty or does not exist", expected)
    shown = [f"{entry['key']} ({entry['size']} bytes, {entry['lastModified']})" for entry in objects]
    count = f"{len(objects)}{'+' if truncated else ''} object(s)"
    if not backups:
        return Finding(OBJECTS_CHECK, False, f"{count}, all empty (folder markers or 0 bytes)", expected, shown)
    return Finding(OBJECTS_CHECK, True, f"{count}, {len(backups)} non-empty among the first shown", expected, shown)


def _job_line(job: BackupJob) -> str:
    line = f"job {job.job_id} {job.state}: {job.resource_type} {job.resource}, created {job.created_at}"
    return line + (f" - {job.status_message}" if job.status_message else "")
