"""backup-verification: the rules of a verified backup (pure), the input, the two reads against moto (AWS Backup
answered by botocore's Stubber: moto has no backup jobs) and what the on-call people read."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from botocore.stub import Stubber

from remediation.adapters.aws import client
from remediation.domain.backup_verification import (
    JOBS_CHECK,
    OBJECTS_CHECK,
    BackupJob,
    day_prefix,
    end_of_check,
    evaluate_jobs,
    evaluate_objects,
    job_window,
)
from remediation.domain.requests.continuity import BackupVerificationRequest, normalize_backup_verification
from remediation.errors import InvalidInput
from remediation.handlers import backup_verification as steps
from remediation.handlers import record
from stacks.config import ConfigError, load_environments
from tests.unit.conftest import ACCOUNT_ID, BACKUP_BUCKET, BACKUP_VAULT, REGION, boto

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
WINDOW = job_window(NOW, 24)
RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-backup-verification:run-1"


def _job(job_id: str, state: str, message: str = "") -> BackupJob:
    return BackupJob(job_id, state, "acso-production-db", "RDS", "2026-11-27T02:00:00+00:00", None, message)


def _schedule_event(at: str = "2026-11-27T07:00:00Z") -> dict:
    return {
        "version": "0",
        "id": "sched-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/backup-verification"],
        "detail": {},
    }


# -- What counts as a verified backup (pure) -----------------------------------------------------------------------


def test_given_every_job_of_the_window_completed_then_the_jobs_check_passes() -> None:
    finding = evaluate_jobs([_job("a", "COMPLETED"), _job("b", "COMPLETED")], BACKUP_VAULT, WINDOW)

    assert finding.passed
    assert finding.observed == "2 job(s): 2 COMPLETED"
    assert finding.evidence == []


@pytest.mark.parametrize("state", ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"])
def test_given_one_job_not_completed_then_the_jobs_check_fails_naming_it(state: str) -> None:
    finding = evaluate_jobs([_job("a", "COMPLETED"), _job("b", state, "Insufficient privileges")], BACKUP_VAULT, WINDOW)

    assert not finding.passed
    assert finding.evidence == [
        f"job b {state}: RDS acso-production-db, created 2026-11-27T02:00:00+00:00 - Insufficient privileges"
    ]


def test_given_no_job_in_the_window_then_the_jobs_check_fails_because_no_backup_ran() -> None:
    finding = evaluate_jobs([], BACKUP_VAULT, WINDOW)

    assert not finding.passed
    assert finding.observed == "no backup job in the window"
    assert "did not run" in finding.evidence[0]
    assert "2026-11-26 07:00 - 2026-11-27 07:00 UTC" in finding.expected


def test_given_a_job_still_running_beside_a_completed_one_then_it_is_listed_without_failing_the_check() -> None:
    finding = evaluate_jobs([_job("a", "COMPLETED"), _job("b", "RUNNING")], BACKUP_VAULT, WINDOW)

    assert finding.passed
    assert finding.evidence[0].startswith("job b RUNNING")


def test_given_only_running_jobs_then_the_jobs_check_fails() -> None:
    assert not evaluate_jobs([_job("a", "RUNNING")], BACKUP_VAULT, WINDOW).passed


def test_given_the_days_prefix_empty_or_only_a_folder_marker_then_the_objects_check_fails() -> None:
    marker = {"key": "2026/11/27/", "size": 0, "lastModified": "2026-11-27T02:00:00+00:00"}

    empty = evaluate_objects(BACKUP_BUCKET, "2026/11/27/", [], False)
    markers_only = evaluate_objects(BACKUP_BUCKET, "2026/11/27/", [marker], False)

    assert not empty.passed and empty.observed == f"s3://{BACKUP_BUCKET}/2026/11/27/ is empty or does not exist"
    assert not markers_only.passed and "all empty" in markers_only.observed


def test_given_a_non_empty_object_under_the_prefix_then_the_objects_check_passes_and_shows_it() -> None:
    dump = {"key": "2026/11/27/db.dump", "size": 4096, "lastModified": "2026-11-27T02:10:00+00:00"}

    finding = evaluate_objects(BACKUP_BUCKET, "2026/11/27/", [dump], True)

    assert finding.passed
    assert finding.observed.startswith("1+ object(s)")
    assert finding.evidence == ["2026/11/27/db.dump (4096 bytes, 2026-11-27T02:10:00+00:00)"]


def test_the_day_prefix_and_the_instant_a_check_looks_back_from() -> None:
    assert day_prefix(date(2026, 1, 5)) == "2026/01/05/"
    assert end_of_check(date(2026, 11, 27), NOW) == NOW  # today: now
    assert end_of_check(date(2026, 11, 25), NOW) == datetime(2026, 11, 26, tzinfo=UTC)  # an earlier day: its end
    assert job_window(NOW, 24) == (NOW - timedelta(hours=24), NOW)


# -- The input -----------------------------------------------------------------------------------------------------


def test_given_the_daily_schedule_event_then_it_verifies_the_day_it_fired_looking_back_from_its_time(
    settings_only,
) -> None:
    request = normalize_backup_verification(_schedule_event(), settings_only(), "exec-1", NOW + timedelta(hours=3))

    assert (request.trigger, request.day, request.as_of) == ("schedule", "2026-11-27", NOW.isoformat())
    assert request.idempotency_key == "schedule:sched-1#backup-verification"


@pytest.mark.parametrize(
    ("date_given", "day", "as_of"),
    [
        ("today", "2026-11-27", NOW),
        ("2026-11-27", "2026-11-27", NOW),
        ("2026-11-20", "2026-11-20", datetime(2026, 11, 21, tzinfo=UTC)),
    ],
)
def test_given_a_console_date_then_that_day_is_verified(settings_only, date_given, day, as_of) -> None:
    request = normalize_backup_verification({"date": date_given}, settings_only(), "exec-1", NOW)

    assert (request.trigger, request.day, request.as_of) == ("console", day, as_of.isoformat())


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({}, "Start this runbook with"),
        ("", "Start this runbook with"),
        ({"date": "yesterday"}, "is not a day"),
        ({"date": "2026-11-28"}, "in the future"),
        ({"date": "2026-10-01"}, "30 days"),
        ({"date": 20261127}, "Expected"),
        ({"date": "today", "vault": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_given_a_bad_console_input_then_it_is_rejected_saying_what_to_fix(settings_only, raw, hint) -> None:
    with pytest.raises(InvalidInput, match=hint) as rejected:
        normalize_backup_verification(raw, settings_only(), "exec-1", NOW)
    assert '{"date": "2026-11-27"}' in str(rejected.value) or "Start this runbook with" in str(rejected.value)


# -- The reads (moto) ----------------------------------------------------------------------------------------------


def _request(day: str = "2026-11-27") -> dict:
    return BackupVerificationRequest(
        runbook="backup-verification",
        trigger="console",
        dry_run=False,
        idempotency_key="console:run-1#backup-verification",
        reason="test",
        day=day,
        as_of=NOW.isoformat(),
    ).model_dump()


def test_given_the_days_prefix_holds_objects_then_one_list_call_returns_the_first_of_them(aws, lambda_context) -> None:
    s3 = boto("s3")
    s3.create_bucket(Bucket=BACKUP_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for index in range(12):
        s3.put_object(Bucket=BACKUP_BUCKET, Key=f"2026/11/27/part-{index:02d}", Body=b"x" * 10)
    s3.put_object(Bucket=BACKUP_BUCKET, Key="2026/11/26/old", Body=b"x")

    found = steps.list_backup_objects({"request": _request()}, lambda_context)
    nothing = steps.list_backup_objects({"request": _request("2026-11-25")}, lambda_context)

    assert found["prefix"] == "2026/11/27/" and found["truncated"] is True
    assert [entry["key"] for entry in found["objects"]] == [f"2026/11/27/part-{index:02d}" for index in range(10)]
    assert nothing["objects"] == [] and nothing["truncated"] is False


def test_backup_jobs_are_listed_for_the_vault_and_window_across_pages(aws, lambda_context) -> None:
    created = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    expected = {
        "ByBackupVaultName": BACKUP_VAULT,
        "ByCreatedAfter": NOW - timedelta(hours=24),
        "ByCreatedBefore": NOW,
    }
    job = {"BackupJobId": "j1", "State": "COMPLETED", "ResourceArn": "arn:db", "ResourceType": "RDS"}
    with Stubber(client("backup")) as stub:
        stub.add_response(
            "list_backup_jobs", {"BackupJobs": [job | {"CreationDate": created}], "NextToken": "t"}, expected
        )
        stub.add_response(
            "list_backup_jobs",
            {"BackupJobs": [job | {"BackupJobId": "j2", "State": "FAILED", "CreationDate": created}]},
            expected | {"NextToken": "t"},
        )
        result = steps.list_backup_jobs({"request": _request()}, lambda_context)
        stub.assert_no_pending_responses()

    assert result["vault"] == BACKUP_VAULT
    assert [(job["job_id"], job["state"]) for job in result["jobs"]] == [("j1", "COMPLETED"), ("j2", "FAILED")]
    assert result["window"] == {"start": (NOW - timedelta(hours=24)).isoformat(), "end": NOW.isoformat()}


# -- The decision and the page -------------------------------------------------------------------------------------


def _evidence(jobs: list[BackupJob], objects: list[dict]) -> dict:
    return {
        "jobs": {
            "vault": BACKUP_VAULT,
            "window": {"start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat()},
            "jobs": [job.to_dict() for job in jobs],
        },
        "objects": {"bucket": BACKUP_BUCKET, "prefix": "2026/11/27/", "objects": objects, "truncated": False},
    }


def _record(evidence: dict, lambda_context) -> dict:
    assessment = steps.assess({"evidence": evidence}, lambda_context)
    state = {"request": _request(), "evidence": evidence, "assessment": assessment}
    return record.record_decision(
        {"runbook": "backup-verification", "state": state, "executionArn": RUN}, lambda_context
    )


def test_given_a_verified_backup_then_it_is_audited_and_nobody_is_paged(aws, lambda_context) -> None:
    dump = {"key": "2026/11/27/db.dump", "size": 4096, "lastModified": "2026-11-27T02:10:00+00:00"}

    result = _record(_evidence([_job("j1", "COMPLETED")], [dump]), lambda_context)

    assert (result["decision"], result["notified"]) == ("verified", None)
    assert [item["decision"]["S"] for item in aws.items("AUDIT#")] == ["verified"]
    assert all(aws.notifications(level) == [] for level in ("L1", "L2", "L3", "L4"))


def test_given_a_failed_job_and_an_empty_prefix_then_l2_gets_what_is_missing_the_evidence_and_the_links(
    aws, lambda_context
) -> None:
    result = _record(_evidence([_job("j1", "COMPLETED"), _job("j2", "FAILED", "Access denied")], []), lambda_context)

    (page,) = aws.notifications("L2")
    assert (result["decision"], result["notified"]) == ("escalated", "L2")
    assert page["Subject"] == (
        "[ACSO production] backup-verification 2026-11-27: NOT VERIFIED, jobs failed, no objects"
    )
    message = page["Message"]
    assert f"FAILED {JOBS_CHECK}: 2 job(s): 1 COMPLETED, 1 FAILED" in message
    assert "job j2 FAILED: RDS acso-production-db" in message and "Access denied" in message
    assert f"FAILED {OBJECTS_CHECK}: s3://{BACKUP_BUCKET}/2026/11/27/ is empty or does not exist" in message
    assert f"https://{REGION}.console.aws.amazon.com/backup/home?region={REGION}#/jobs/backup/details/j2" in message
    assert f"https://s3.console.aws.amazon.com/s3/buckets/{BACKUP_BUCKET}?region={REGION}&prefix=2026/11/27/" in message


# -- Configuration (cdk.json) ----------------------------------------------------------------------------------------

CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _production(**overrides) -> dict:
    context = copy.deepcopy(CONTEXT)
    context["acso:environments"]["production"] = overrides
    return context


def test_the_checked_in_config_names_the_backups_and_the_daily_schedule() -> None:
    production = next(config for config in load_environments(CONTEXT) if config.name == "production")

    assert (production.backups.bucket, production.backups.vault) == ("acso-production-backups", "acso-production-vault")
    assert production.backups.max_age_hours == 24
    assert production.schedules.backup_verification == "cron(0 7 * * ? *)"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"backups": {"bucket": "Not_A_Bucket"}}, "acso:environments.production.backups.bucket"),
        ({"backups": {"vault": "a vault"}}, "acso:environments.production.backups.vault"),
        ({"backups": {"maxAgeHours": 0}}, "acso:environments.production.backups.maxAgeHours"),
        (
            {"schedules": {"backupVerification": "every day"}},
            "acso:environments.production.schedules.backupVerification",
        ),
    ],
)
def test_given_a_wrong_backup_setting_then_the_config_fails_naming_the_key(overrides, key) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_environments(_production(**overrides))
