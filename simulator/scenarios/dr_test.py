"""Scenarios of the dr-test runbook: the newest nightly backup (4 objects under 2026/11/27/, the newest written at
02:25 UTC) restored into the DR region's restore bucket, validated, RTO and RPO measured and reported."""

from __future__ import annotations

import json

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels

COPY_SECONDS = 95
"""Virtual time the restore takes (the emulator's copies are instant): it passes before each validation batch, i.e.
between the restore's start and its validation, which is what RTO measures."""
REPORTS = "dr-test/2026-11-27/"


def _observe(h: Harness) -> None:
    h.settle()
    s3 = h.aws.client("s3")
    listed = s3.list_objects_v2(Bucket=h.settings["reportsBucket"], Prefix=REPORTS).get("Contents", [])
    h.observed["reports"] = sorted(item["Key"] for item in listed)
    documents = [key for key in h.observed["reports"] if key.endswith(".json")]
    h.observed["report"] = (
        json.loads(s3.get_object(Bucket=h.settings["reportsBucket"], Key=documents[0])["Body"].read())
        if documents
        else {}
    )
    region, bucket = h.world.dr_restore
    h.observed["restoreBucketLeft"] = h.aws.client("s3", region).list_objects_v2(Bucket=bucket).get("KeyCount", 0)


def _copies_take_time(h: Harness) -> None:
    h.aws.before_invoke(h.function("dr_test.validate_restore"), lambda _: h.clock.advance(COPY_SECONDS), times=None)


def _drill(h: Harness) -> None:
    _copies_take_time(h)
    h.fire_schedule("dr-test")
    _observe(h)


def _expect_passed(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    subject = o.notifications[0]["subject"] if o.notifications else ""
    report = o.observed["report"]
    objectives = report.get("objectives", {})
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("every object of the newest backup copied once into the DR region", o.api_calls.get("s3.CopyObject") == 4),
        (
            "restore validated: 4 of 4 objects equal (3 by SHA-256, the manifest by its MD5 ETag), 4 restored",
            report.get("validation", {}).get("validated") is True
            and report["validation"]["methods"] == {"SHA-256": 3, "MD5 ETag": 1}
            and report["validation"]["restoredCount"] == 4,
        ),
        (
            "RTO measured from the restore's start to validated: 95 s = 1.6 min, within 240 min",
            objectives.get("rtoMinutes") == 1.6 and objectives.get("rtoMet") is True,
        ),
        (
            "RPO = age of the newest backup object (02:25) at the drill's start (09:00): 395 min, within 1440",
            objectives.get("rpoMinutes") == 395.0 and objectives.get("rpoMet") is True,
        ),
        (
            "report as Markdown and JSON under dr-test/2026-11-27/ of the reports bucket",
            len(o.observed["reports"]) == 2
            and {key.rsplit(".", 1)[1] for key in o.observed["reports"]} == {"md", "json"},
        ),
        ("one L1 summary", levels(o) == ["L1"]),
        (
            "it gives RTO and RPO against their objectives",
            "RTO 1.6 min (objective 4 h): met" in message
            and "RPO 6 h 35 min (objective 24 h): met" in message
            and "PASSED" in subject,
        ),
        ("the drill's copy was deleted after validation", o.observed["restoreBucketLeft"] == 0),
        ("audited: passed", decisions(o) == ["passed"]),
        every_execution_audited(o),
        ("no write to production", o.write_calls == 0 and not o.actions),
    ]


def _stale_backups(h: Harness) -> None:
    h.world.lose_backups(nights=2)  # neither last night's nor the night before's backup ran
    _copies_take_time(h)
    h.start_console("dr-test", {"reason": "quarterly DR drill"})
    _observe(h)


def _expect_rpo_missed(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    subject = o.notifications[0]["subject"] if o.notifications else ""
    objectives = o.observed["report"].get("objectives", {})
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "the newest backup left (2026/11/25/) restored and validated",
            o.api_calls.get("s3.CopyObject") == 4
            and o.observed["report"].get("backup", {}).get("prefix") == "2026/11/25/"
            and o.observed["report"]["validation"]["validated"] is True,
        ),
        (
            "RPO 2 days 6 h 35 min: objective missed",
            objectives.get("rpoMinutes") == 3275.0
            and objectives.get("rpoMet") is False
            and objectives.get("rtoMet") is True,
        ),
        ("one L2 page saying the RPO objective was missed", levels(o) == ["L2"] and "RPO objective MISSED" in subject),
        ("it gives both figures", "RPO 54 h 35 min (objective 24 h): MISSED" in message and "RTO 1.6 min" in message),
        ("audited: escalated", decisions(o) == ["escalated"]),
        every_execution_audited(o),
    ]


def _dry_run(h: Harness) -> None:
    h.start_console("dr-test", {"reason": "rehearse the drill", "dryRun": True})
    _observe(h)


def _expect_dry_run(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        ("nothing copied, nothing reported", "s3.CopyObject" not in o.api_calls and o.observed["reports"] == []),
        (
            "L1 says what would be copied where",
            levels(o) == ["L1"]
            and "s3://acso-production-backups/2026/11/27/" in message
            and "s3://acso-production-dr-restore/dr-test/2026-11-27/" in message,
        ),
        ("audited: dry-run", decisions(o) == ["dry-run"]),
        every_execution_audited(o),
    ]


def _bad_inputs(h: Harness) -> None:
    for bad in (
        {},
        "",
        {"reason": "x"},
        {"reason": "drill", "dryRun": "yes"},
        {"reason": "drill", "region": "us-east-1"},
    ):
        h.start_console("dr-test", bad)


SCENARIOS = [
    Scenario(
        "dr-test",
        "Quarterly drill: last night's backup restored into us-west-2 in 95 s, validated by checksums, RTO and RPO "
        "within their objectives: report in S3, L1 summary, the copy removed.",
        {},
        _drill,
        _expect_passed,
    ),
    Scenario(
        "dr-test-rpo-missed",
        "The last two nightly backups did not run: the newest left is 2 days old, the drill restores and validates "
        "it but the RPO objective (24 h) is missed: L2.",
        {},
        _stale_backups,
        _expect_rpo_missed,
    ),
    Scenario(
        "dr-test-dry-run",
        "Started by hand in dry run: the copy it would make is described (L1), nothing is copied.",
        {},
        _dry_run,
        _expect_dry_run,
    ),
    Scenario(
        "dr-test-bad-input",
        "Console inputs that must be rejected before anything runs.",
        {},
        _bad_inputs,
        expect_rejected,
    ),
]
