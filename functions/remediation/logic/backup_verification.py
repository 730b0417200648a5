"""backup-verification (seed: Daily Backup Verification): read the AWS Backup jobs of the window and the day's
prefix of the backup bucket, then judge them (domain/backup_verification.py). Read only: nothing is written
but the audit record and, on a failure, the page."""

from __future__ import annotations

from datetime import date, datetime

from remediation.adapters import backups
from remediation.domain.backup_verification import (
    SAMPLE_KEYS,
    BackupJob,
    day_prefix,
    evaluate_jobs,
    evaluate_objects,
    job_window,
)
from remediation.domain.requests.continuity import BackupVerificationRequest
from remediation.settings import Settings


def list_jobs(request: BackupVerificationRequest, settings: Settings) -> dict:
    """Every job of the configured vault created in the `maxAgeHours` before the check (all pages)."""
    start, end = job_window(datetime.fromisoformat(request.as_of), settings.backups.max_age_hours)
    jobs = backups.list_backup_jobs(settings.backups.vault, start, end)
    return {
        "vault": settings.backups.vault,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "jobs": [job.to_dict() for job in jobs],
    }


def list_objects(request: BackupVerificationRequest, settings: Settings) -> dict:
    """The first objects of the day's prefix: one ListObjectsV2 call with Prefix and MaxKeys."""
    prefix = day_prefix(date.fromisoformat(request.day))
    objects, truncated = backups.first_objects(settings.backups.bucket, prefix, SAMPLE_KEYS)
    return {"bucket": settings.backups.bucket, "prefix": prefix, "objects": objects, "truncated": truncated}


def assess(evidence: dict) -> dict:
    jobs, objects = evidence["jobs"], evidence["objects"]
    window = (datetime.fromisoformat(jobs["window"]["start"]), datetime.fromisoformat(jobs["window"]["end"]))
    findings = [
        evaluate_jobs([BackupJob(**job) for job in jobs["jobs"]], jobs["vault"], window),
        evaluate_objects(objects["bucket"], objects["prefix"], objects["objects"], objects["truncated"]),
    ]
    return {"verified": all(finding.passed for finding in findings), "findings": [f.to_dict() for f in findings]}
