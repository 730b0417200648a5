"""dr-test (seed: Disaster Recovery Test): restore the newest backup into the DR region, validate it, measure RTO
and RPO against their objectives, report, and remove the drill's copy.

Safety: the drill never writes to production. Its only writes are the copy into the DR region's restore bucket
(under its own per-run prefix `dr-test/<date>/<execution>/`), its report under `dr-test/` of the reports bucket,
and deleting that per-run copy once it is validated (a copy that failed validation is kept for investigation and
the page says how to remove it). The guard refuses a duplicate event and any run while automation is paused (kill
switch, unreadable flags, maintenance, open breaker): a refused drill is reported to L1, never skipped silently.
Right before each batch of copies the flags are read again. In dry run the copy is described, not made.

Large backups: the copy and the validation each run in batches (at most `batchSize` objects, and never into the
last `TIME_MARGIN_MS` of the function's time); the state machine loops over the batches with a cursor (the last
key done), so no single invocation nears its timeout and a retried batch repeats identical copies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime

from remediation.adapters import backups, reports, state_store
from remediation.clock import utc_now
from remediation.domain import dr_test
from remediation.domain.dr_test import LISTED_PROBLEMS, MAX_COPY_BYTES, Objectives, figure
from remediation.domain.requests.continuity import DrTestRequest
from remediation.logic.guard import automation_paused
from remediation.settings import Settings

RUNBOOK = "dr-test"
REPORT_PREFIX = "dr-test/"
TIME_MARGIN_MS = 240_000
"""A batch takes no new object once less than this is left of the function's time (a 5 GiB copy fits in it)."""
_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window


def run_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def target_prefix(request: DrTestRequest, execution_arn: str) -> str:
    return dr_test.restore_prefix(datetime.fromisoformat(request.started_at).date(), run_name(execution_arn))


# -- Guard ---------------------------------------------------------------------------------------------------------


def admit(request: DrTestRequest, execution_arn: str, settings: Settings) -> dict:
    """One drill per schedule event; none while automation is paused (told to L1: the quarterly drill must not be
    skipped unnoticed). No lease: each run restores under its own prefix, so two drills cannot collide."""
    now = utc_now()
    earlier = state_store.claim_event(
        settings.state_table, request.idempotency_key, execution_arn, now, _CLAIM_TTL_SECONDS
    )
    if earlier is not None:
        return _verdict(False, "duplicate-event", f"already handled by {earlier}")
    paused = automation_paused(RUNBOOK, now, settings)
    if paused is not None:
        return _verdict(False, paused.reason, f"{paused.detail}; start the drill by hand later", paused.notify or "L1")
    return _verdict(True, "clear", "duplicate event and automation flags checked")


def _verdict(proceed: bool, reason: str, detail: str, notify: str | None = None) -> dict:
    return {"proceed": proceed, "reason": reason, "detail": detail, "lease": None, "notify": notify}


# -- Investigate ---------------------------------------------------------------------------------------------------


def find_latest_backup(request: DrTestRequest, settings: Settings) -> dict:
    """The newest `YYYY/MM/DD/` prefix holding objects, its size, and the RPO measured at the drill's start."""
    bucket = settings.backups.bucket
    prefix = _newest_day(bucket)
    if prefix is None:
        return {"found": False, "bucket": bucket, "why": f"no YYYY/MM/DD/ prefix with objects in s3://{bucket}/"}
    objects = list(backups.iter_objects(bucket, prefix))
    newest = max(objects, key=lambda entry: entry["lastModified"])
    started = datetime.fromisoformat(request.started_at)
    return {
        "found": True,
        "bucket": bucket,
        "prefix": prefix,
        "objectCount": len(objects),
        "totalBytes": sum(entry["size"] for entry in objects),
        "newestKey": newest["key"],
        "newestObjectAt": newest["lastModified"],
        "rpoMinutes": dr_test.minutes_between(datetime.fromisoformat(newest["lastModified"]), started),
        "tooLarge": [entry["key"] for entry in objects if entry["size"] > MAX_COPY_BYTES][:LISTED_PROBLEMS],
    }


def _newest_day(bucket: str) -> str | None:
    """Walk years, months and days newest first; the first day prefix that holds an object."""
    for year in dr_test.newest_first(backups.child_prefixes(bucket, ""), "", 4):
        for month in dr_test.newest_first(backups.child_prefixes(bucket, year), year, 2):
            for day in dr_test.newest_first(backups.child_prefixes(bucket, month), month, 2):
                if dr_test.backup_day(day) and backups.first_objects(bucket, day, 1)[0]:
                    return day
    return None


# -- Act: restore --------------------------------------------------------------------------------------------------


def restore_backup(
    request: DrTestRequest,
    backup: dict,
    progress: dict,
    execution_arn: str,
    settings: Settings,
    batch_size: int,
    time_left_ms: Callable[[], int],
) -> dict:
    """One batch of server-side copies into the DR restore bucket, after the cursor; `done` once every object of the
    backup prefix was taken. The first batch stamps `startedAt` (the RTO clock starts there)."""
    dr = settings.dr
    prefix = target_prefix(request, execution_arn)
    result = {
        "startedAt": progress.get("startedAt") or utc_now().isoformat(),
        "targetBucket": dr.restore_bucket,
        "targetPrefix": prefix,
        "region": dr.region,
        "copied": progress.get("copied", 0),
        "bytes": progress.get("bytes", 0),
        "skipped": list(progress.get("skipped") or []),
        "cursor": progress.get("cursor"),
        "call": {
            "operation": "s3.CopyObject",
            "parameters": {
                "from": f"s3://{backup['bucket']}/{backup['prefix']}",
                "to": f"s3://{dr.restore_bucket}/{prefix}",
                "region": dr.region,
                "objects": backup["objectCount"],
                "ChecksumAlgorithm": "SHA256",
            },
        },
    }
    if request.dry_run:
        return result | {"outcome": "dry-run", "done": True}
    paused = automation_paused(RUNBOOK, utc_now(), settings)  # re-read right before the writes
    if paused is not None:
        refusal = {"proceed": False, "reason": paused.reason, "detail": paused.detail, "notify": paused.notify or "L1"}
        return result | {"outcome": "refused", "done": True, "authorization": refusal, "call": None}
    taken = 0
    for entry in backups.iter_objects(backup["bucket"], backup["prefix"], start_after=result["cursor"]):
        if taken >= batch_size or (taken and time_left_ms() < TIME_MARGIN_MS):  # at least one per batch
            return result | {"outcome": "copied", "done": False}
        if entry["size"] > MAX_COPY_BYTES:
            result["skipped"] = (result["skipped"] + [f"{entry['key']}: {entry['size']} bytes, over 5 GiB"])[
                :LISTED_PROBLEMS
            ]
        else:
            key = dr_test.restored_key(prefix, entry["key"])
            backups.copy_object(backup["bucket"], entry["key"], dr.restore_bucket, key, dr.region)
            result["copied"] += 1
            result["bytes"] += entry["size"]
        result["cursor"], taken = entry["key"], taken + 1
    return result | {"outcome": "copied", "done": True}


# -- Verify: validate ----------------------------------------------------------------------------------------------


def validate_restore(
    backup: dict, action: dict, progress: dict, batch_size: int, time_left_ms: Callable[[], int]
) -> dict:
    """One batch: each backup object after the cursor against its restored copy (size and S3 checksum); once all
    are compared, count the restored objects (nothing more, nothing less) and stamp `finishedAt`."""
    region, target_bucket, prefix = action["region"], action["targetBucket"], action["targetPrefix"]
    result = {
        "checked": progress.get("checked", 0),
        "matched": progress.get("matched", 0),
        "problemCount": progress.get("problemCount", 0),
        "problems": list(progress.get("problems") or []),
        "methods": dict(progress.get("methods") or {}),
        "cursor": progress.get("cursor"),
    }
    taken = 0
    for entry in backups.iter_objects(backup["bucket"], backup["prefix"], start_after=result["cursor"]):
        if taken >= batch_size or (taken and time_left_ms() < TIME_MARGIN_MS):  # at least one per batch
            return result | {"done": False}
        source = backups.object_facts(backup["bucket"], entry["key"])
        restored = backups.object_facts(target_bucket, dr_test.restored_key(prefix, entry["key"]), region)
        outcome, how = dr_test.compare(source, restored) if source else ("missing", f"{entry['key']}: gone")
        result["checked"] += 1
        if outcome == "match":
            result["matched"] += 1
            result["methods"][how] = result["methods"].get(how, 0) + 1
        else:
            result["problemCount"] += 1
            result["problems"] = (result["problems"] + [f"{outcome}: {how}"])[:LISTED_PROBLEMS]
        result["cursor"], taken = entry["key"], taken + 1
    restored_count = sum(1 for _ in backups.iter_objects(target_bucket, prefix, region=region))
    validated = result["problemCount"] == 0 and restored_count == result["checked"] == result["matched"] > 0
    return result | {
        "done": True,
        "restoredCount": restored_count,
        "validated": validated,
        "finishedAt": utc_now().isoformat(),
    }


# -- Record: report and clean up -----------------------------------------------------------------------------------


def report(
    request: DrTestRequest, backup: dict, action: dict, validation: dict, execution_arn: str, settings: Settings
) -> dict:
    """RTO (restore started -> validated; none without a validated restore) and RPO vs their objectives; the report
    as Markdown and JSON under dr-test/<date>/ of the reports bucket."""
    started, finished = datetime.fromisoformat(action["startedAt"]), datetime.fromisoformat(validation["finishedAt"])
    elapsed = dr_test.minutes_between(started, finished)
    objectives = Objectives(
        rto_minutes=elapsed if validation["validated"] else None,
        rpo_minutes=backup["rpoMinutes"],
        rto_objective_minutes=settings.dr.rto_minutes,
        rpo_objective_minutes=settings.dr.rpo_minutes,
    )
    day: date = datetime.fromisoformat(request.started_at).date()
    key = f"{REPORT_PREFIX}{day:%Y-%m-%d}/{run_name(execution_arn)}"
    document = {
        "runbook": RUNBOOK,
        "environment": settings.environment,
        "executionArn": execution_arn,
        "trigger": request.trigger,
        "reason": request.reason,
        "startedAt": request.started_at,
        "backup": backup,
        "restore": {k: action[k] for k in ("targetBucket", "targetPrefix", "region", "copied", "bytes", "skipped")}
        | {"startedAt": action["startedAt"], "finishedAt": validation["finishedAt"], "elapsedMinutes": elapsed},
        "validation": {k: v for k, v in validation.items() if k != "cursor"},
        "objectives": objectives.to_dict(),
    }
    bucket = settings.reports_bucket
    reports.put_report(bucket, f"{key}.md", _markdown(document, objectives), "text/markdown")
    reports.put_report(bucket, f"{key}.json", json.dumps(document, indent=2), "application/json")
    return {
        "validated": validation["validated"],
        "restoreMinutes": elapsed,
        "objectives": objectives.to_dict(),
        "report": {"bucket": bucket, "key": f"{key}.md", "jsonKey": f"{key}.json"},
    }


def clean_up(action: dict, validated: bool) -> dict:
    """Delete the drill's validated copy (its own prefix only); keep a copy that failed validation."""
    where = {"bucket": action["targetBucket"], "prefix": action["targetPrefix"], "region": action["region"]}
    if not validated:
        return where | {"outcome": "kept", "deleted": 0}
    deleted = backups.delete_prefix(action["targetBucket"], action["targetPrefix"], action["region"])
    return where | {"outcome": "deleted", "deleted": deleted}


def _markdown(document: dict, objectives: Objectives) -> str:
    backup, restore, validation = document["backup"], document["restore"], document["validation"]
    verdict = "PASSED" if validation["validated"] and objectives.rto_met and objectives.rpo_met else "FAILED"
    rows = [
        f"| RTO (restore started -> validated) | {figure(objectives.rto_minutes)} | "
        f"{figure(objectives.rto_objective_minutes)} | {'met' if objectives.rto_met else '**MISSED**'} |",
        f"| RPO (age of the newest backup object) | {figure(objectives.rpo_minutes)} | "
        f"{figure(objectives.rpo_objective_minutes)} | {'met' if objectives.rpo_met else '**MISSED**'} |",
    ]
    problems = [f"- {problem}" for problem in validation["problems"] + restore["skipped"]] or ["- none"]
    methods = ", ".join(f"{count} by {method}" for method, count in validation["methods"].items()) or "none"
    return "\n".join(
        [
            f"# ACSO {document['environment']} disaster recovery test: {verdict}",
            "",
            f"Started {document['startedAt']} ({document['trigger']}: {document['reason']}).",
            "",
            "| Measure | Measured | Objective | Result |",
            "|---|---|---|---|",
            *rows,
            "",
            "## Backup restored",
            f"- Source: s3://{backup['bucket']}/{backup['prefix']} ({backup['objectCount']} objects, "
            f"{backup['totalBytes']} bytes; newest {backup['newestKey']} at {backup['newestObjectAt']})",
            f"- Target: s3://{restore['targetBucket']}/{restore['targetPrefix']} in {restore['region']}",
            f"- Copied {restore['copied']} objects ({restore['bytes']} bytes); restore started {restore['startedAt']}, "
            f"validated {restore['finishedAt']} ({figure(restore['elapsedMinutes'])})",
            "",
            "## Validation",
            f"- {'VALIDATED' if validation['validated'] else 'NOT VALIDATED'}: {validation['matched']} of "
            f"{validation['checked']} backup objects equal in the restore ({methods}); "
            f"{validation['restoredCount']} objects under the restore prefix",
            "",
            "## Issues encountered",
            *problems,
            "",
            "## Improvement recommendations",
            *_recommendations(validation, objectives),
            "",
        ]
    )


def _recommendations(validation: dict, objectives: Objectives) -> list[str]:
    found = []
    if not validation["validated"]:
        found.append("- Find why objects are missing or differ before relying on this backup for a recovery.")
    if objectives.rpo_minutes is not None and not objectives.rpo_met:
        found.append("- The newest backup is older than the RPO objective: check the nightly backup schedule.")
    if objectives.rto_minutes is not None and not objectives.rto_met:
        found.append("- The restore took longer than the RTO objective: parallelize it or pre-stage data in DR.")
    return found or ["- none: restore validated within both objectives"]
