"""dr-test: the drill's rules (pure), the input, the guard, the restore and its validation in batches against moto
(the backup bucket in eu-west-1, the restore bucket in us-west-2), the report and what the on-call people read."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from remediation.domain import dr_test
from remediation.domain.dr_test import ObjectFacts, Objectives, compare, figure
from remediation.domain.requests.continuity import DrTestRequest, normalize_dr_test
from remediation.errors import InvalidInput
from remediation.handlers import dr_test as steps
from remediation.handlers import record
from remediation.logic import dr_test as logic
from remediation.settings import load_settings
from stacks.config import ConfigError, load_environments
from tests.unit.conftest import (
    ACCOUNT_ID,
    BACKUP_BUCKET,
    DR_REGION,
    DR_RESTORE_BUCKET,
    FLAGS_PARAMETER,
    REGION,
    REPORTS_BUCKET,
    boto,
)

RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-dr-test:run-1"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FILES = {"db.dump": b"d" * 5000, "table.json": b"t" * 700, "config.tgz": b"c" * 300}
PLAIN = "MANIFEST.json"  # written without a SHA-256 checksum: compared by its MD5 ETag


def _always_time() -> int:
    return 900_000


# -- The drill's rules (pure) --------------------------------------------------------------------------------------


def test_the_newest_backup_day_is_the_greatest_dated_prefix() -> None:
    assert dr_test.newest_first(["2025/", "2026/", "latest/", "20261/"], "", 4) == ["2026/", "2025/"]
    assert dr_test.newest_first(["2026/11/", "2026/09/", "2026/x/"], "2026/", 2) == ["2026/11/", "2026/09/"]
    assert dr_test.backup_day("2026/11/27/") == date(2026, 11, 27)
    assert dr_test.backup_day("2026/02/31/") is None


def test_each_drill_restores_under_its_own_prefix_keeping_the_source_key() -> None:
    prefix = dr_test.restore_prefix(date(2026, 11, 27), "run:1/x")

    assert prefix == "dr-test/2026-11-27/run-1-x/"
    assert dr_test.restored_key(prefix, "2026/11/27/db.dump") == "dr-test/2026-11-27/run-1-x/2026/11/27/db.dump"


@pytest.mark.parametrize(
    ("restored", "outcome", "how"),
    [
        (ObjectFacts("k", 10, '"aa"', "sha="), "match", "SHA-256"),
        (ObjectFacts("k", 10, '"aa"', "other="), "mismatch", "k: SHA-256 differs"),
        (ObjectFacts("k", 11, '"aa"', "sha="), "mismatch", "k: 10 bytes in the backup, 11 restored"),
        (None, "missing", "k: not in the restore bucket"),
    ],
)
def test_a_restored_object_is_compared_by_size_then_sha256(restored, outcome, how) -> None:
    assert compare(ObjectFacts("k", 10, '"aa"', "sha="), restored) == (outcome, how)


def test_without_sha256_a_single_part_object_is_compared_by_its_md5_etag_and_a_multipart_one_cannot_be() -> None:
    md5 = '"0cc175b9c0f1b6a831c399e269772661"'
    other = '"92eb5ffee6ae2fec3ad71c777531578f"'

    assert compare(ObjectFacts("k", 1, md5, None), ObjectFacts("k", 1, md5, "new=")) == ("match", "MD5 ETag")
    assert compare(ObjectFacts("k", 1, md5, None), ObjectFacts("k", 1, other, "new="))[0] == "mismatch"
    assert compare(ObjectFacts("k", 1, '"abc-3"', "x-3"), ObjectFacts("k", 1, md5, "y="))[0] == "unverifiable"


def test_objectives_are_met_only_with_a_measured_figure_within_them() -> None:
    within = Objectives(rto_minutes=30.0, rpo_minutes=600.0, rto_objective_minutes=240, rpo_objective_minutes=1440)
    missed = Objectives(rto_minutes=None, rpo_minutes=2000.0, rto_objective_minutes=240, rpo_objective_minutes=1440)

    assert (within.rto_met, within.rpo_met) == (True, True)
    assert (missed.rto_met, missed.rpo_met) == (False, False)
    assert (figure(1.6), figure(395.0), figure(240), figure(None)) == ("1.6 min", "6 h 35 min", "4 h", "not measured")


# -- The input -----------------------------------------------------------------------------------------------------


def test_given_the_quarterly_schedule_event_then_one_drill_per_event(settings_only) -> None:
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "id": "evt-9", "time": "2026-11-27T10:00:00Z"}

    request = normalize_dr_test(event, settings_only(), "exec-1", NOW)

    assert (request.trigger, request.idempotency_key, request.started_at) == (
        "schedule",
        "schedule:evt-9#dr-test",
        NOW.isoformat(),
    )
    assert request.dry_run is False
    assert normalize_dr_test(event, settings_only(dryRun=True), "exec-1", NOW).dry_run is True


def test_given_a_console_input_then_reason_is_required_and_dry_run_optional(settings_only) -> None:
    request = normalize_dr_test({"reason": "quarterly drill", "dryRun": True}, settings_only(), "exec-1", NOW)

    assert (request.trigger, request.reason, request.dry_run) == ("console", "quarterly drill", True)


@pytest.mark.parametrize(
    "raw", [{}, "", None, {"reason": "x"}, {"reason": "drill", "dryRun": "yes"}, {"reason": "drill", "bucket": "b"}]
)
def test_given_a_bad_console_input_then_it_is_rejected_with_an_example(settings_only, raw) -> None:
    with pytest.raises(InvalidInput, match='"reason": "quarterly DR drill"'):
        normalize_dr_test(raw, settings_only(), "exec-1", NOW)


# -- Against moto --------------------------------------------------------------------------------------------------


def _request(dry_run: bool = False, started_at: datetime | None = None) -> DrTestRequest:
    return DrTestRequest(
        runbook="dr-test",
        trigger="console",
        dry_run=dry_run,
        idempotency_key="console:run-1#dr-test",
        reason="quarterly drill",
        started_at=(started_at or datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    )


@pytest.fixture
def backups(aws):
    """The backup bucket with two nights (2026/11/26/ and 2026/11/27/) and an empty restore bucket in DR."""
    s3 = boto("s3")
    s3.create_bucket(Bucket=BACKUP_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for day in ("2026/11/26/", "2026/11/27/"):
        for name, body in FILES.items():
            s3.put_object(Bucket=BACKUP_BUCKET, Key=f"{day}{name}", Body=body, ChecksumAlgorithm="SHA256")
        s3.put_object(Bucket=BACKUP_BUCKET, Key=f"{day}{PLAIN}", Body=b"{}")
    s3.put_object(Bucket=BACKUP_BUCKET, Key="2026/12/README", Body=b"not a day")  # no day prefix under it
    dr = _dr_s3()
    dr.create_bucket(Bucket=DR_RESTORE_BUCKET, CreateBucketConfiguration={"LocationConstraint": DR_REGION})
    return aws


def _dr_s3():
    return boto3.client("s3", region_name=DR_REGION)


def _restore_all(request: DrTestRequest, batch_size: int = 2) -> tuple[dict, dict, int]:
    settings = load_settings()
    backup = logic.find_latest_backup(request, settings)
    progress, batches = {"copied": 0, "bytes": 0, "cursor": None, "startedAt": None, "skipped": []}, 0
    while True:
        progress = logic.restore_backup(request, backup, progress, RUN, settings, batch_size, _always_time)
        batches += 1
        if progress["done"]:
            return backup, progress, batches


def _validate_all(backup: dict, action: dict, batch_size: int = 3) -> dict:
    progress: dict = {"checked": 0, "matched": 0, "problemCount": 0, "problems": [], "methods": {}, "cursor": None}
    while not progress.get("done"):
        progress = logic.validate_restore(backup, action, progress, batch_size, _always_time)
    return progress


def test_the_newest_day_with_objects_is_found_with_its_size_and_rpo(backups) -> None:
    request = _request()

    backup = logic.find_latest_backup(request, load_settings())

    assert (backup["found"], backup["prefix"], backup["objectCount"]) == (True, "2026/11/27/", 4)
    assert backup["totalBytes"] == sum(len(body) for body in FILES.values()) + 2
    assert backup["rpoMinutes"] == dr_test.minutes_between(
        datetime.fromisoformat(backup["newestObjectAt"]), datetime.fromisoformat(request.started_at)
    )


def test_given_an_empty_backup_bucket_then_there_is_nothing_to_restore(aws) -> None:
    boto("s3").create_bucket(Bucket=BACKUP_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    backup = logic.find_latest_backup(_request(), load_settings())

    assert backup["found"] is False and BACKUP_BUCKET in backup["why"]


def test_the_restore_copies_in_batches_into_the_dr_region_under_the_runs_prefix_then_validates(backups) -> None:
    backup, action, batches = _restore_all(_request(), batch_size=2)

    restored = _dr_s3().list_objects_v2(Bucket=DR_RESTORE_BUCKET)["Contents"]
    validation = _validate_all(backup, action)

    assert (batches, action["copied"], action["outcome"]) == (2, 4, "copied")
    assert sorted(item["Key"] for item in restored) == sorted(
        f"dr-test/{action['startedAt'][:10]}/run-1/2026/11/27/{name}" for name in [*FILES, PLAIN]
    )
    assert validation["validated"] is True
    assert validation["methods"] == {"SHA-256": 3, "MD5 ETag": 1}
    assert (validation["checked"], validation["restoredCount"], validation["problems"]) == (4, 4, [])


def test_given_a_restored_object_that_differs_then_the_restore_is_not_validated_and_the_copy_is_kept(backups) -> None:
    backup, action, _ = _restore_all(_request(), batch_size=10)
    tampered = f"{action['targetPrefix']}2026/11/27/db.dump"
    _dr_s3().put_object(Bucket=DR_RESTORE_BUCKET, Key=tampered, Body=b"x" * 5000, ChecksumAlgorithm="SHA256")

    validation = _validate_all(backup, action)
    kept = logic.clean_up(action, validation["validated"])

    assert validation["validated"] is False
    assert validation["problems"] == ["mismatch: 2026/11/27/db.dump: SHA-256 differs"]
    assert kept["outcome"] == "kept"
    assert _dr_s3().list_objects_v2(Bucket=DR_RESTORE_BUCKET)["KeyCount"] == 4


def test_a_validated_copy_is_deleted_and_only_the_runs_own_prefix(backups) -> None:
    _dr_s3().put_object(Bucket=DR_RESTORE_BUCKET, Key="dr-test/2026-01-01/other-run/x", Body=b"x")
    backup, action, _ = _restore_all(_request(), batch_size=10)

    cleaned = logic.clean_up(action, _validate_all(backup, action)["validated"])

    assert (cleaned["outcome"], cleaned["deleted"]) == ("deleted", 4)
    assert [item["Key"] for item in _dr_s3().list_objects_v2(Bucket=DR_RESTORE_BUCKET)["Contents"]] == [
        "dr-test/2026-01-01/other-run/x"
    ]


def test_in_dry_run_the_copy_is_described_and_not_made(backups) -> None:
    _, action, _ = _restore_all(_request(dry_run=True))

    assert action["outcome"] == "dry-run" and action["copied"] == 0
    assert action["call"]["parameters"]["from"] == f"s3://{BACKUP_BUCKET}/2026/11/27/"
    assert _dr_s3().list_objects_v2(Bucket=DR_RESTORE_BUCKET)["KeyCount"] == 0


def test_given_the_kill_switch_flipped_before_the_copy_then_nothing_is_copied(backups) -> None:
    boto("ssm").put_parameter(
        Name=FLAGS_PARAMETER, Type="String", Overwrite=True, Value=json.dumps({"enabled": False, "reason": "incident"})
    )

    _, action, _ = _restore_all(_request())

    assert action["outcome"] == "refused" and action["authorization"]["reason"] == "kill-switch"
    assert _dr_s3().list_objects_v2(Bucket=DR_RESTORE_BUCKET)["KeyCount"] == 0


def test_the_guard_refuses_a_second_delivery_of_the_same_schedule_event_and_a_paused_automation(
    aws, lambda_context
) -> None:
    request = _request().model_dump()
    event = {"request": request, "executionArn": RUN}

    first = steps.acquire_guard(event, lambda_context)
    again = steps.acquire_guard({"request": request, "executionArn": RUN + "-2"}, lambda_context)
    boto("ssm").put_parameter(
        Name=FLAGS_PARAMETER, Type="String", Overwrite=True, Value=json.dumps({"enabled": False, "reason": "incident"})
    )
    paused = steps.acquire_guard(
        {"request": request | {"idempotency_key": "console:run-3#dr-test"}, "executionArn": RUN}, lambda_context
    )

    assert first["proceed"] is True
    assert (again["proceed"], again["reason"]) == (False, "duplicate-event")
    assert (paused["proceed"], paused["reason"], paused["notify"]) == (False, "kill-switch", "L1")


def _full_run(lambda_context, request: DrTestRequest) -> dict:
    backup, action, _ = _restore_all(request, batch_size=10)
    validation = _validate_all(backup, action)
    report = steps.report(
        {
            "request": request.model_dump(),
            "backup": backup,
            "action": action,
            "validation": validation,
            "executionArn": RUN,
        },
        lambda_context,
    )
    cleanup = steps.clean_up({"action": action, "validated": report["validated"]}, lambda_context)
    return {
        "request": request.model_dump(),
        "guard": {"proceed": True, "reason": "clear", "detail": "", "lease": None, "notify": None},
        "backup": backup,
        "action": action,
        "validation": validation,
        "report": report,
        "cleanup": cleanup,
    }


def test_the_report_gives_rto_and_rpo_against_their_objectives_in_markdown_and_json(backups, lambda_context) -> None:
    state = _full_run(lambda_context, _request())

    report = state["report"]
    document = json.loads(boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=report["report"]["jsonKey"])["Body"].read())
    markdown = boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=report["report"]["key"])["Body"].read().decode()

    assert report["report"]["key"].startswith(f"dr-test/{state['request']['started_at'][:10]}/run-1")
    assert document["objectives"] == report["objectives"]
    assert report["objectives"]["rtoMet"] is True and report["objectives"]["rtoObjectiveMinutes"] == 240
    assert report["objectives"]["rpoObjectiveMinutes"] == 1440
    assert "| RTO (restore started -> validated) |" in markdown and "## Improvement recommendations" in markdown


def test_a_passed_drill_tells_l1_the_figures_and_a_missed_objective_pages_l2(backups, lambda_context, aws) -> None:
    passed = _full_run(lambda_context, _request())
    record.record_decision({"runbook": "dr-test", "state": passed, "executionArn": RUN}, lambda_context)
    stale = _full_run(lambda_context, _request(started_at=datetime.now(UTC) + timedelta(days=3)))
    record.record_decision({"runbook": "dr-test", "state": stale, "executionArn": RUN + "-stale"}, lambda_context)

    (summary,), (page,) = aws.notifications("L1"), aws.notifications("L2")
    assert summary["Subject"].startswith("[ACSO production] dr-test: PASSED, RTO ")
    assert "(objective 4 h): met" in summary["Message"] and "(objective 24 h): met" in summary["Message"]
    assert "Copy: deleted (4 objects deleted)" in summary["Message"]
    assert page["Subject"].startswith("[ACSO production] dr-test: RPO objective MISSED, RTO ")
    assert "(objective 24 h): MISSED" in page["Message"]
    assert sorted(item["decision"]["S"] for item in aws.items("AUDIT#")) == ["escalated", "passed"]


# -- Configuration (cdk.json) ----------------------------------------------------------------------------------------

CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def test_the_checked_in_config_reuses_the_dr_block_with_the_restore_bucket_and_the_objectives() -> None:
    production = next(config for config in load_environments(CONTEXT) if config.name == "production")

    assert (production.dr.region, production.dr.restore_bucket) == ("us-west-2", "acso-production-dr-restore")
    assert (production.dr.rto_minutes, production.dr.rpo_minutes) == (240, 1440)
    assert production.schedules.dr_test == "cron(0 10 ? 1,4,7,10 TUE#1 *)"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"dr": {"restoreBucket": "x"}}, "acso:environments.production.dr.restoreBucket"),
        ({"dr": {"rtoMinutes": 0}}, "acso:environments.production.dr.rtoMinutes"),
        ({"dr": {"rpoMinutes": "a day"}}, "acso:environments.production.dr.rpoMinutes"),
        ({"schedules": {"drTest": "quarterly"}}, "acso:environments.production.schedules.drTest"),
    ],
)
def test_given_a_wrong_dr_test_setting_then_the_config_fails_naming_the_key(overrides, key) -> None:
    context = copy.deepcopy(CONTEXT)
    context["acso:environments"]["production"] = overrides
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_environments(context)


def test_a_batch_near_the_functions_timeout_stops_after_one_object_and_the_next_batch_goes_on(backups) -> None:
    request, settings = _request(), load_settings()
    backup = logic.find_latest_backup(request, settings)
    progress = {"copied": 0, "bytes": 0, "cursor": None, "startedAt": None, "skipped": []}

    first = logic.restore_backup(request, backup, progress, RUN, settings, 200, lambda: logic.TIME_MARGIN_MS - 1)
    second = logic.restore_backup(request, backup, first, RUN, settings, 200, _always_time)

    assert (first["done"], first["copied"], first["cursor"]) == (False, 1, "2026/11/27/MANIFEST.json")
    assert (second["done"], second["copied"], second["startedAt"]) == (True, 4, first["startedAt"])
