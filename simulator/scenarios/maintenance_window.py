"""Scenarios of the maintenance-window runbook (monthly schedule, or started by hand).

The alarms "during the window" fire from a hook on the run's health assessment: by then the backup is done and the
flags are suppressed (virtual time jumps through the Waits at once, so only a hook lands inside the window).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from simulator.harness import START, Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels
from simulator.world import ServiceProfile

RUNBOOK = "maintenance-window"
HOT = {"supervisor": ServiceProfile(desired=2, cpu_percent=92.0, slow_lines_per_hour=6)}
SUPERVISOR = "acso-production-supervisor"
ENABLED = {"enabled": True, "suppressedUntil": None, "reason": ""}
FIRST_SUNDAY_0200 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
WINDOW = {"durationMinutes": 120, "reason": "monthly patching, change CHG-42"}


def _flags(h: Harness) -> dict:
    parameter = h.aws.client("ssm").get_parameter(Name=h.settings["guard"]["flagsParameter"])["Parameter"]
    return json.loads(parameter["Value"])


def _observe_end(h: Harness) -> None:
    """What the expectations read once every execution ended: the flags, the on-demand backups, the reports."""
    h.settle()
    h.observed["flags after"] = _flags(h)
    h.observed["backup jobs"] = [(job["ResourceName"], job["State"]) for job in h.aws.on_demand_backup_jobs()]
    listed = h.aws.client("s3").list_objects_v2(Bucket=h.stack.reports_bucket, Prefix=f"{RUNBOOK}/")
    h.observed["reports"] = sorted(item["Key"].rsplit(".", 1)[-1] for item in listed.get("Contents", []))


def _during_window(h: Harness, action) -> None:
    """Run `action` once, inside the window: when the run first assesses the services' health."""

    def inside(_event: dict) -> None:
        h.observed["flags during"] = _flags(h)
        h.observed["during at"] = h.clock.now().isoformat()
        action()

    h.aws.before_invoke(h.function("maintenance_window.assess_health"), inside)


def _window_run(o: Outcome):
    return next((e for e in o.executions if f":acso-production-{RUNBOOK}:" in e.execution_arn), None)


def _window_record(o: Outcome) -> dict:
    run = _window_run(o)
    return next((r for r in o.audit_records if run and r["executionArn"] == run.execution_arn), {})


def _own_leases(o: Outcome) -> list[dict]:
    arns = {execution.execution_arn for execution in o.executions}
    return [lease for lease in o.leases if lease["owner"]["S"] in arns]


def _basics(o: Outcome) -> list[tuple[str, bool]]:
    return [every_execution_audited(o), ("no lease of these runs left", _own_leases(o) == [])]


# -- maintenance-window ------------------------------------------------------------------------------------------
def _window_with_alarms(h: Harness) -> None:
    def alarm_inside_the_window() -> None:
        [arn] = h.deliver(h.alarm_event("supervisor"))
        h.aws.wait_for(arn, timeout_s=120, poll_s=0.1)  # decided while the window is still on

    _during_window(h, alarm_inside_the_window)
    h.aws.wait_for(h.start_console(RUNBOOK, WINDOW), timeout_s=300, poll_s=0.2)
    h.later(60)
    h.deliver(h.alarm_event("supervisor"))  # the same kind of alarm, a new transition after the window
    _observe_end(h)


def _expect_window_with_alarms(o: Outcome) -> list[tuple[str, bool]]:
    run, record = _window_run(o), _window_record(o)
    states = run.state_transitions if run else []
    during, after = o.observed.get("flags during", {}), o.observed.get("flags after")
    alarms = [r for r in o.audit_records if r["runbook"] == "high-cpu"]
    return [
        ("every execution succeeded", o.statuses == ["SUCCEEDED"] * 3),
        (
            "checklist, backup, suppression, validation, monitoring, switch-back, report, in that order",
            list(dict.fromkeys(s for s in states if s in _SPINE)) == _SPINE,
        ),
        (
            "the backup was requested (one StartBackupJob per configured resource) and completed",
            o.api_calls.get("backup.StartBackupJob") == 2
            and sorted(o.observed.get("backup jobs", []))
            == [("acso-production-agents", "COMPLETED"), ("acso-production-db", "COMPLETED")],
        ),
        (
            "during the window the flags said suppressed until the window's end, other keys kept",
            during.get("enabled") is True
            and during.get("suppressedUntil") == (START + timedelta(minutes=120)).isoformat()
            and RUNBOOK in during.get("reason", ""),
        ),
        (
            "the alarm inside the window: suppressed and audited (maintenance-window), no UpdateService then",
            [r["decision"] for r in alarms[:1]] == ["suppressed"]
            and "maintenance-window: suppressed until" in alarms[0]["why"],
        ),
        (
            "after the window the same kind of alarm acts again: supervisor scaled out once",
            [r["decision"] for r in alarms[1:]] == ["acted"]
            and o.api_calls.get("ecs.UpdateService") == 1
            and o.actions == [{"service": SUPERVISOR, "action": "desiredCount", "before": 2, "after": 3}],
        ),
        (
            "the flags are back to their previous value (two writes: suppress, switch back)",
            after == ENABLED and o.api_calls.get("ssm.PutParameter") == 2,
        ),
        ("report written as Markdown and JSON", o.observed.get("reports") == ["json", "md"]),
        (
            "L1 told what was done, with the checks' results",
            record.get("notifiedLevel") == "L1"
            and any(
                "maintenance-window: completed" in n["subject"] and "Backup:" in n["message"] for n in o.notifications
            ),
        ),
        *_basics(o),
    ]


_SPINE = [
    "PreChecklist",
    "StartBackup",
    "CheckBackup",
    "SuppressAutoRemediation",
    "AssessValidation",
    "AssessMonitoring",
    "SwitchBackAutoRemediation",
    "ReportMaintenance",
    "RecordDecision",
]


# -- maintenance-window-scheduled ----------------------------------------------------------------------------------
def _scheduled(h: Harness) -> None:
    _during_window(h, lambda: None)
    h.fire_schedule(RUNBOOK)
    h.fire_schedule(RUNBOOK)  # EventBridge delivers the same event again (at-least-once)
    _observe_end(h)


def _expect_scheduled(o: Outcome) -> list[tuple[str, bool]]:
    during = o.observed.get("flags during", {})
    return [
        ("both deliveries ended", o.statuses == ["SUCCEEDED", "SUCCEEDED"]),
        (
            "one window: the duplicate delivery is audited, not run",
            sorted(decisions(o)) == ["completed", "suppressed"]
            and o.api_calls.get("backup.StartBackupJob") == 2
            and any("duplicate-event" in r["why"] for r in o.audit_records),
        ),
        (
            "suppressed until 05:00 UTC, the end of the configured monthly window",
            during.get("suppressedUntil") == datetime(2026, 12, 6, 5, 0, tzinfo=UTC).isoformat(),
        ),
        ("the flags are back to their previous value", o.observed.get("flags after") == ENABLED),
        (
            "all checks passed, L1 told",
            levels(o) == ["L1"] and "completed, all checks passed" in o.notifications[0]["subject"],
        ),
        *_basics(o),
    ]


# -- maintenance-window-not-ready ----------------------------------------------------------------------------------
RESTART_RUN = "arn:aws:states:eu-west-1:123456789012:execution:acso-production-restart-agent:operator-1"


def _not_ready(h: Harness) -> None:
    h.hold_lease("threat-hunter", owner=RESTART_RUN, seconds=900)  # a restart-agent run is in progress
    h.start_console(RUNBOOK, WINDOW)
    _observe_end(h)


def _expect_not_ready(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("the run succeeded (not starting is a decision)", o.statuses == ["SUCCEEDED"]),
        (
            "nothing backed up, nothing suppressed",
            o.api_calls.get("backup.StartBackupJob", 0) == 0
            and o.api_calls.get("ssm.PutParameter", 0) == 0
            and o.observed.get("flags after") == ENABLED,
        ),
        (
            "L2 told the window did not start, naming the lease held",
            decisions(o) == ["escalated"]
            and levels(o) == ["L2"]
            and "NOT STARTED" in o.notifications[0]["subject"]
            and "operator-1" in o.notifications[0]["message"],
        ),
        ("no report for a window that never started", o.observed.get("reports") == []),
        *_basics(o),
    ]


# -- maintenance-window-backup-fails -------------------------------------------------------------------------------
def _backup_fails(h: Harness) -> None:
    h.world.fail_on_demand_backups("Insufficient privileges to perform this action.")
    h.start_console(RUNBOOK, WINDOW)
    _observe_end(h)


def _expect_backup_fails(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("the run succeeded (not starting is a decision)", o.statuses == ["SUCCEEDED"]),
        (
            "the backup was requested, then failed",
            o.api_calls.get("backup.StartBackupJob") == 2
            and {state for _, state in o.observed.get("backup jobs", [])} == {"FAILED"},
        ),
        ("auto-remediation never suppressed", o.api_calls.get("ssm.PutParameter", 0) == 0),
        (
            "L2 told: not started, backup failed, with AWS Backup's message",
            decisions(o) == ["escalated"]
            and levels(o) == ["L2"]
            and "backup failed" in o.notifications[0]["subject"]
            and "Insufficient privileges" in o.notifications[0]["message"],
        ),
        *_basics(o),
    ]


# -- maintenance-window-fails-restores -----------------------------------------------------------------------------
def _fails_mid_window(h: Harness) -> None:
    h.aws.hang_function(h.function("maintenance_window.assess_health"))  # the validation step times out
    h.start_console(RUNBOOK, WINDOW)
    _observe_end(h)


def _expect_fails_mid_window(o: Outcome) -> list[tuple[str, bool]]:
    run, record = _window_run(o), _window_record(o)
    return [
        ("the run failed with the Lambda timeout", run is not None and run.error == "Sandbox.Timedout"),
        ("through the one failure path", run is not None and "RecordFailure" in run.state_transitions),
        (
            "the failure path put the flags back before recording (suppress, then restore)",
            o.observed.get("flags after") == ENABLED
            and o.api_calls.get("ssm.PutParameter") == 2
            and json.loads(record.get("restore") or "{}").get("outcome") == "restored",
        ),
        (
            "audited as failed, L2 told auto-remediation is back on",
            decisions(o) == ["failed"] and levels(o) == ["L2"] and "switched back on" in o.notifications[0]["message"],
        ),
        *_basics(o),
    ]


# -- maintenance-window-operator-kill-switch -----------------------------------------------------------------------
def _operator_kill_switch(h: Harness) -> None:
    _during_window(h, lambda: h.set_flags(enabled=False, reason="incident 4711: hands off"))
    h.start_console(RUNBOOK, WINDOW)
    _observe_end(h)


def _expect_operator_kill_switch(o: Outcome) -> list[tuple[str, bool]]:
    after = o.observed.get("flags after", {})
    record = _window_record(o)
    return [
        ("the run succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "the operator's kill switch is kept, not clobbered by the switch-back",
            after.get("enabled") is False and after.get("reason") == "incident 4711: hands off",
        ),
        (
            "the switch-back says it left the flags as the operator set them",
            json.loads(record.get("restore") or "{}").get("outcome") == "left-as-is"
            and levels(o) == ["L1"]
            and "left as they are" in o.notifications[0]["message"],
        ),
        *_basics(o),
    ]


# -- maintenance-window-dry-run ------------------------------------------------------------------------------------
def _dry_run(h: Harness) -> None:
    h.start_console(RUNBOOK, WINDOW | {"dryRun": True})
    _observe_end(h)


def _expect_dry_run(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("the run succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "no backup, no flag written",
            o.api_calls.get("backup.StartBackupJob", 0) == 0
            and o.api_calls.get("ssm.PutParameter", 0) == 0
            and o.observed.get("flags after") == ENABLED,
        ),
        (
            "L1 told the exact calls it would make",
            decisions(o) == ["dry-run"]
            and levels(o) == ["L1"]
            and "backup.StartBackupJob" in o.notifications[0]["message"]
            and "ssm.PutParameter" in o.notifications[0]["message"],
        ),
        *_basics(o),
    ]


# -- maintenance-window-bad-input ----------------------------------------------------------------------------------
BAD_INPUTS = [
    {},
    {"durationMinutes": 20, "reason": "too short for the monitoring"},
    {"durationMinutes": 999, "reason": "far too long"},
    {"durationMinutes": 120},
    {"durationMinutes": "120", "reason": "a string"},
    {"durationMinutes": 120, "reason": "extra key", "services": "all"},
]


def _bad_inputs(h: Harness) -> None:
    for index, raw in enumerate(BAD_INPUTS):
        h.start_console(RUNBOOK, raw, name=f"bad-input-{index}")


SCENARIOS = [
    Scenario(
        "maintenance-window",
        "A 2-hour window: backup, auto-remediation suppressed (an alarm inside is audited, not acted on), checks, "
        "switched back; the next alarm acts.",
        HOT,
        _window_with_alarms,
        _expect_window_with_alarms,
    ),
    Scenario(
        "maintenance-window-scheduled",
        "The monthly schedule fires (twice): one window, suppressed until 05:00 UTC, switched back.",
        {},
        _scheduled,
        _expect_scheduled,
        start=FIRST_SUNDAY_0200,
    ),
    Scenario(
        "maintenance-window-not-ready",
        "A restart-agent run holds threat-hunter: the window does not start, L2 told why.",
        {},
        _not_ready,
        _expect_not_ready,
    ),
    Scenario(
        "maintenance-window-backup-fails",
        "The on-demand backup fails: the window does not start, auto-remediation stays on, L2.",
        {},
        _backup_fails,
        _expect_backup_fails,
    ),
    Scenario(
        "maintenance-window-fails-restores",
        "The validation step times out mid-window: the failure path switches auto-remediation back on.",
        {},
        _fails_mid_window,
        _expect_fails_mid_window,
    ),
    Scenario(
        "maintenance-window-operator-kill-switch",
        "An operator switches automation off during the window: the switch-back keeps it off.",
        {},
        _operator_kill_switch,
        _expect_operator_kill_switch,
    ),
    Scenario(
        "maintenance-window-dry-run",
        "A dry run: checks run, the backup and the flag writes are only described.",
        {},
        _dry_run,
        _expect_dry_run,
    ),
    Scenario(
        "maintenance-window-bad-input",
        "Bad console inputs fail at the first state with what to send; nothing backed up or suppressed.",
        {},
        _bad_inputs,
        expect_rejected,
    ),
]
