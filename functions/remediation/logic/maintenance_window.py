"""maintenance-window (seed: Scheduled Maintenance Window): the pre-maintenance checklist, an on-demand backup,
auto-remediation suppressed for the window, the validation checks, 30 minutes of monitoring, auto-remediation
switched back on, a report.

Safety:
- One window at a time: the guard takes a fleet lease (`<cluster>/maintenance-window`) for the whole run, and one
  run per schedule event.
- Nothing starts unless the checklist passes (every service steady, no runbook holding a service, automation on and
  not suppressed already) and the backup COMPLETED; otherwise L2 is told and nothing was changed.
- The automation flags are written with `suppressedUntil` = the window's end, every other key kept: the guard
  refuses alarm-driven remediation until then and never longer, even if this run dies.
- The previous flags are noted on the run's lease before the write (logic/maintenance_hold.py): the switch-back
  step, the failure path (the run's record step) and the abandoned-run rule put them back, only while they still
  hold what this run wrote.
- Dry run: the checklist and the checks run; the backup and both flag writes are recorded, not made; no waiting.
"""

from __future__ import annotations

import json
from datetime import datetime

from remediation.adapters import backups, ecs, reports, ssm, state_store
from remediation.clock import utc_now
from remediation.domain import maintenance_window as rules
from remediation.domain.leases import failover_lease, maintenance_lease
from remediation.domain.requests.continuity import MaintenanceWindowRequest
from remediation.errors import AwsAccessDenied, AwsCallFailed, FlagStoreUnavailable, ParameterNotFound
from remediation.logic import maintenance_hold
from remediation.settings import Settings

RUNBOOK = "maintenance-window"
REPORT_PREFIX = "maintenance-window/"
_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window


def run_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


# -- Guard ---------------------------------------------------------------------------------------------------------


def admit(request: MaintenanceWindowRequest, execution_arn: str, settings: Settings) -> dict:
    """One window per schedule event, one window at a time. Automation paused is the checklist's finding (L2)."""
    table, now = settings.state_table, utc_now()
    earlier = state_store.claim_event(table, request.idempotency_key, execution_arn, now, _CLAIM_TTL_SECONDS)
    if earlier is not None:
        return _verdict(False, "duplicate-event", f"already handled by {earlier}")
    resource = maintenance_lease(settings)
    holder = state_store.acquire_lease(table, resource, execution_arn, now, rules.RUN_LIMIT_SECONDS)
    if holder is not None:
        return _verdict(False, "locked", f"{resource} is held by {holder}: a maintenance window is in progress")
    return {
        **_verdict(True, "clear", "duplicate event and the maintenance lease checked"),
        "lease": {"resource": resource},
    }


def _verdict(proceed: bool, reason: str, detail: str) -> dict:
    return {"proceed": proceed, "reason": reason, "detail": detail, "lease": None, "notify": None}


# -- Pre-maintenance checklist -------------------------------------------------------------------------------------


def pre_checklist(request: MaintenanceWindowRequest, settings: Settings) -> dict:
    """Read only: every service, the runbooks' leases on them (and on the DR failover), the automation flags."""
    now = utc_now()
    found = ecs.describe_fleet(request.cluster_name, list(settings.services.values()))
    services = {
        agent: (found[name].to_dict() if found[name] is not None else None) for agent, name in settings.services.items()
    }
    resources = [f"{request.cluster_name}/{name}" for name in settings.services.values()]
    resources.append(failover_lease(settings))
    leases = {resource: state_store.live_lease_holder(settings.state_table, resource, now) for resource in resources}
    flags, problem = _read_flags(settings.guard.flags_parameter)
    checks = rules.checklist(services, leases, flags, problem, now)
    return {
        "ready": all(check.passed for check in checks),
        "checks": [check.to_dict() for check in checks],
        "flags": flags,
        "checkedAt": now.isoformat(),
    }


def _read_flags(parameter: str) -> tuple[dict | None, str | None]:
    try:
        value = ssm.get_parameter(parameter).value
    except (ParameterNotFound, AwsAccessDenied, AwsCallFailed) as error:  # throttling raises: the state machine retries
        return None, str(error)
    flags = rules.parse_flags(value)
    return (flags, None) if flags is not None else (None, f"{parameter} is not a JSON object with a boolean 'enabled'")


# -- Backup --------------------------------------------------------------------------------------------------------


def start_backup(request: MaintenanceWindowRequest, execution_arn: str, settings: Settings) -> dict:
    """An on-demand AWS Backup job per configured resource into the backup vault; a retried step gets the same jobs
    back (idempotency token per run and resource)."""
    policy, vault = settings.maintenance_window, settings.backups.vault
    calls = [
        {
            "operation": "backup.StartBackupJob",
            "parameters": {
                "BackupVaultName": vault,
                "ResourceArn": resource,
                "IamRoleArn": policy.backup_role_arn,
                "IdempotencyToken": f"{run_name(execution_arn)}-{index}",
            },
        }
        for index, resource in enumerate(policy.backup_resources)
    ]
    result = {
        "vault": vault,
        "calls": calls,
        "pollSeconds": policy.backup_poll_seconds,
        "checksLeft": policy.backup_checks,
    }
    if request.dry_run:
        return result | {"outcome": "dry-run", "state": "not-started", "jobs": []}
    jobs = [
        backups.start_backup_job(
            vault, call["parameters"]["ResourceArn"], policy.backup_role_arn, call["parameters"]["IdempotencyToken"]
        )
        for call in calls
    ]
    return result | {"outcome": "started", "state": "running", "jobs": jobs, "startedAt": utc_now().isoformat()}


def check_backup(backup: dict) -> dict:
    """One bounded poll of the jobs (the state machine loops with a Wait)."""
    jobs = [backups.describe_backup_job(job["jobId"]) for job in backup["jobs"]]
    return backup | {"jobs": jobs, "state": rules.backup_state(jobs), "checksLeft": backup["checksLeft"] - 1}


# -- Suppress and switch back ----------------------------------------------------------------------------------------


def suppress(request: MaintenanceWindowRequest, execution_arn: str, settings: Settings) -> dict:
    """Write `suppressedUntil` (the window's end) and the reason into the automation flags, every other key kept;
    the previous value is noted on the run's lease first. Returns what the parameter holds now and how long the
    state machine waits."""
    parameter, resource, now = settings.guard.flags_parameter, maintenance_lease(settings), utc_now()
    note = maintenance_hold.held(resource, execution_arn, settings)  # a retried step keeps its first window
    current = ssm.get_parameter(parameter)
    if note is None:
        previous = rules.parse_flags(current.value)
        if previous is None:
            raise FlagStoreUnavailable(f"{parameter} is not a JSON object with a boolean 'enabled': not suppressed")
        until = rules.window_end(
            now, datetime.fromisoformat(request.started_at), request.duration_minutes, request.monitor_minutes
        )
        reason = rules.suppression_reason(run_name(execution_arn), request.reason)
        written = rules.flags_value(rules.suppressed_flags(previous, until, reason))
        note = {"parameter": parameter, "previous": current.value, "written": written}
        if not request.dry_run:
            note = maintenance_hold.hold(resource, execution_arn, parameter, current.value, written, settings)
    until = datetime.fromisoformat(json.loads(note["written"])["suppressedUntil"])
    work_seconds, monitor_seconds = rules.waits(now, until, request.monitor_minutes)
    result = {
        "parameter": parameter,
        "previous": json.loads(note["previous"]),
        "written": json.loads(note["written"]),
        "suppressedFrom": now.isoformat(),
        "suppressedUntil": until.isoformat(),
        "call": {"operation": "ssm.PutParameter", "parameters": {"Name": parameter, "Value": note["written"]}},
    }
    if request.dry_run:
        return result | {"outcome": "dry-run", "workSeconds": 0, "monitorSeconds": 0}
    # A retried step writes only over the value it noted: never over a change an operator made in between.
    if rules.still_ours(current.value, note["previous"]):
        ssm.put_parameter(parameter, note["written"])
    after = ssm.get_parameter(parameter)
    return result | {
        "outcome": "suppressed",
        "observed": rules.parse_flags(after.value) or after.value,
        "version": after.version,
        "workSeconds": work_seconds,
        "monitorSeconds": monitor_seconds,
    }


def switch_back(request: MaintenanceWindowRequest, execution_arn: str, settings: Settings) -> dict:
    """Put the previous flags back, only while they still hold this run's suppression."""
    if request.dry_run:
        return {"outcome": "dry-run", "at": utc_now().isoformat()}
    note = maintenance_hold.held(maintenance_lease(settings), execution_arn, settings)
    if note is None:
        return {"outcome": "nothing-to-restore", "at": utc_now().isoformat()}
    return maintenance_hold.restore(note) | {"at": utc_now().isoformat()}


def restore_after_failure(state: dict, execution_arn: str, settings: Settings) -> dict:
    """The failure path: whatever failed, the flags this run suppressed go back before the failure is recorded."""
    if not (state.get("guard") or {}).get("lease"):
        return {"outcome": "nothing-to-restore", "why": "this run never held the maintenance lease"}
    note = maintenance_hold.held(maintenance_lease(settings), execution_arn, settings)
    if note is None:
        return {"outcome": "nothing-to-restore", "why": "this run had not suppressed auto-remediation"}
    try:
        return maintenance_hold.restore(note) | {"at": utc_now().isoformat()}
    except ParameterNotFound as error:
        return {"outcome": "failed", "why": str(error)}


# -- Validation and monitoring -------------------------------------------------------------------------------------


def assess_health(phase: str, agents: list[str], evidence: dict, settings: Settings) -> dict:
    """The daily health check's criteria for every service (logic/health_check.py), without its report."""
    from remediation.logic.health_check import evaluate_evidence  # noqa: PLC0415 - this step's alone

    _, criteria = evaluate_evidence(agents, evidence, settings)
    return {
        "phase": phase,
        "healthy": all(criterion.passed for criterion in criteria),
        "criteria": [criterion.to_dict() for criterion in criteria],
        "checkedAt": utc_now().isoformat(),
    }


# -- Report and record ---------------------------------------------------------------------------------------------


def report(state: dict, execution_arn: str, settings: Settings) -> dict:
    """Markdown and JSON under maintenance-window/<date>/ of the reports bucket."""
    request = state["request"]
    started = datetime.fromisoformat(request["started_at"])
    key = f"{REPORT_PREFIX}{started:%Y/%m/%d}/{run_name(execution_arn)}"
    document = {
        "environment": settings.environment,
        "execution": execution_arn,
        "request": request,
        "checklist": state.get("checklist"),
        "backup": state.get("backup"),
        "suppression": state.get("suppression"),
        "validation": state.get("validation"),
        "monitoring": state.get("monitoring"),
        "restore": state.get("restore"),
        "writtenAt": utc_now().isoformat(),
    }
    reports.put_report(settings.reports_bucket, f"{key}.md", _markdown(document), "text/markdown")
    reports.put_report(
        settings.reports_bucket, f"{key}.json", json.dumps(document, indent=2, default=str), "application/json"
    )
    return {"bucket": settings.reports_bucket, "keys": {"markdown": f"{key}.md", "json": f"{key}.json"}}


def record(state: dict, execution_arn: str, settings: Settings) -> dict:
    """The run's record step (success and failure paths): a failure first restores the flags, then the shared
    record (audit, lease release, notification)."""
    if "error" in state and "request" in state and state.get("restore") is None:
        state = state | {"restore": restore_after_failure(state, execution_arn, settings)}
    # The shared record (every runbook's summaries) is this step's alone: the other steps' cold starts skip it.
    from remediation.logic.record import record_decision  # noqa: PLC0415

    return record_decision(RUNBOOK, state, execution_arn, settings)


def _markdown(document: dict) -> str:
    request, backup = document["request"], document.get("backup") or {}
    suppression, restore = document.get("suppression") or {}, document.get("restore") or {}
    lines = [
        f"# ACSO {document['environment']} maintenance window {request['started_at'][:16]} UTC",
        "",
        f"Why: {request['trigger']} ({request['reason']})" + (", dry run" if request.get("dry_run") else ""),
        f"Window: {request['duration_minutes']} min from {request['started_at']}, the last "
        f"{request['monitor_minutes']} min monitored.",
        "",
        "## Pre-maintenance checklist",
        "",
        "| Result | Check | Observed | Expected |",
        "|---|---|---|---|",
        *[
            f"| {'pass' if c['passed'] else '**FAIL**'} | {c['check']} | {c['observed']} | {c['expected']} |"
            for c in (document.get("checklist") or {}).get("checks", [])
        ],
        "",
        "## Backup",
        "",
        f"Vault {backup.get('vault')}: {backup.get('state', 'not started')}.",
        "",
        "| Job | Resource | State | Recovery point |",
        "|---|---|---|---|",
        *[
            f"| {job['jobId']} | {job['resource']} | {job.get('state', '')} | {job.get('recoveryPointArn') or ''} |"
            for job in backup.get("jobs", [])
        ],
        "",
        "## Auto-remediation",
        "",
        f"Suppression: {suppression.get('outcome', 'none')}, from {suppression.get('suppressedFrom')} until "
        f"{suppression.get('suppressedUntil')} in `{suppression.get('parameter')}`; previous value "
        f"`{json.dumps(suppression.get('previous'))}`.",
        f"Switched back: {restore.get('outcome', 'not yet')}"
        + (f" ({restore['why']})" if restore.get("why") else "")
        + f"; the parameter now holds `{json.dumps(restore.get('current'))}`.",
    ]
    for phase in ("validation", "monitoring"):
        result = document.get(phase)
        if not result:
            continue
        failed = [c for c in result["criteria"] if not c["passed"]]
        lines += [
            "",
            f"## {phase.title()} ({result['checkedAt'][:16]} UTC): "
            + ("all checks passed" if not failed else f"{len(failed)} of {len(result['criteria'])} checks FAILED"),
            "",
            "| Result | Scope | Criterion | Observed | Expected |",
            "|---|---|---|---|---|",
            *[
                f"| {'pass' if c['passed'] else '**FAIL**'} | {c['scope']} | {c['criterion']} | {c['observed']} | "
                f"{c['expected']} |"
                for c in result["criteria"]
            ],
        ]
    return "\n".join([*lines, ""])
