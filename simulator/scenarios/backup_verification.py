"""Scenarios of the backup-verification runbook (the world runs a nightly backup at 02:00 UTC: AWS Backup jobs
of the database and the agents' table, and objects under the day's YYYY/MM/DD/ prefix of the backup bucket)."""

from __future__ import annotations

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels
from simulator.synthesized import REGION


def _backup_ok(h: Harness) -> None:
    h.fire_schedule("backup-verification")
    h.start_console("backup-verification", {"date": "2026-11-26"})  # yesterday's backup, checked by hand


def _expect_ok(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("both executions succeeded (schedule and console)", o.statuses == ["SUCCEEDED", "SUCCEEDED"]),
        ("one ListBackupJobs call each", o.api_calls.get("backup.ListBackupJobs") == 2),
        ("one ListObjectsV2 call each (Prefix + MaxKeys)", o.api_calls.get("s3.ListObjectsV2") == 2),
        ("nothing written (read only)", o.write_calls == 0 and not o.actions and "s3.PutObject" not in o.api_calls),
        ("audited: verified, twice", decisions(o) == ["verified", "verified"]),
        every_execution_audited(o),
        ("nobody paged for a good backup", o.notifications == []),
    ]


def _backup_missing(h: Harness) -> None:
    h.world.lose_backups(nights=1)  # tonight: both jobs FAILED, nothing under 2026/11/27/
    h.fire_schedule("backup-verification")


def _expect_missing(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    subject = o.notifications[0]["subject"] if o.notifications else ""
    return [
        ("execution succeeded (a missing backup is a finding, not a failure)", o.statuses == ["SUCCEEDED"]),
        ("audited: escalated", decisions(o) == ["escalated"]),
        every_execution_audited(o),
        ("exactly one L2 page", levels(o) == ["L2"]),
        ("the subject says what is missing", subject.endswith("NOT VERIFIED, jobs failed, no objects")),
        (
            "it names the failed jobs and their state",
            all(text in message for text in ("job 20261127-rds FAILED", "job 20261127-dynamodb FAILED")),
        ),
        ("it names the empty prefix it looked at", "s3://acso-production-backups/2026/11/27/ is empty" in message),
        (
            "it links the AWS Backup jobs, the failed job, the S3 prefix and the execution",
            f"{REGION}.console.aws.amazon.com/backup/home?region={REGION}#/jobs/backup" in message
            and "#/jobs/backup/details/20261127-rds" in message
            and "s3.console.aws.amazon.com/s3/buckets/acso-production-backups" in message
            and "prefix=2026/11/27/" in message
            and f"{REGION}.console.aws.amazon.com/states" in message,
        ),
        ("nothing written", o.write_calls == 0 and "s3.PutObject" not in o.api_calls),
    ]


def _backup_bad_inputs(h: Harness) -> None:
    for bad in (
        {},
        "",
        {"date": "yesterday"},
        {"date": "2026-11-28"},  # tomorrow
        {"date": "2026-09-01"},  # older than AWS Backup's 30 days of job history
        {"date": 20261127},
        {"date": "today", "vault": "other"},
    ):
        h.start_console("backup-verification", bad)


SCENARIOS = [
    Scenario(
        "backup-ok",
        "Last night's backup jobs completed and 2026/11/27/ holds the backup: audit only (also yesterday's, by hand).",
        {},
        _backup_ok,
        _expect_ok,
    ),
    Scenario(
        "backup-missing-escalates",
        "Tonight's backup jobs FAILED and nothing was written under 2026/11/27/: L2 names the failed jobs, the "
        "empty prefix and the consoles to open.",
        {},
        _backup_missing,
        _expect_missing,
    ),
    Scenario(
        "backup-verification-bad-input",
        "Console inputs that must be rejected before anything runs.",
        {},
        _backup_bad_inputs,
        expect_rejected,
    ),
]
