"""maintenance-window: its rules (pure), its input, and its steps against moto: the guard, the checklist, the
backup (AWS Backup stubbed at the adapter: moto has no backup jobs), the suppression of auto-remediation and every
way it is switched back (the run's step, its failure path, an abandoned run), and what the on-call people read."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediation.adapters import backups, state_store
from remediation.domain import maintenance_window as rules
from remediation.domain.leases import maintenance_lease
from remediation.domain.requests.continuity import MaintenanceWindowRequest, normalize_maintenance_window
from remediation.errors import InvalidInput, LeaseLost
from remediation.logic import abandoned, maintenance_hold
from remediation.logic import maintenance_window as logic
from remediation.settings import load_settings
from stacks.config import ConfigError, load_environments
from tests.unit.conftest import (
    ACCOUNT_ID,
    AGENTS,
    AUTOMATION_ENABLED,
    CLUSTER,
    FLAGS_PARAMETER,
    MAINTENANCE_BACKUP_RESOURCES,
    REGION,
    REPORTS_BUCKET,
    SERVICES,
    STATE_TABLE,
    boto,
)

RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-maintenance-window:run-1"
OTHER_RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-maintenance-window:run-2"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WINDOW = {"durationMinutes": 120, "reason": "monthly patching, CHG-42"}
STEADY = {"steady": True, "rollout_state": "COMPLETED", "running_count": 2, "desired_count": 2, "deployments": 1}


def _flags() -> dict:
    return json.loads(boto("ssm").get_parameter(Name=FLAGS_PARAMETER)["Parameter"]["Value"])


def _set_flags(document: dict) -> None:
    boto("ssm").put_parameter(Name=FLAGS_PARAMETER, Value=json.dumps(document), Overwrite=True)


def _request(settings, raw: dict | None = None, now: datetime | None = None, name: str = "run-1"):
    return normalize_maintenance_window(WINDOW if raw is None else raw, settings, name, now or NOW)


# -- Rules (pure) --------------------------------------------------------------------------------------------------


def test_given_steady_services_no_lease_and_automation_on_when_checked_then_every_item_passes() -> None:
    checks = rules.checklist({"supervisor": STEADY}, {"c/s": None}, AUTOMATION_ENABLED, None, NOW)

    assert [(check.check, check.passed) for check in checks] == [
        ("services-stable", True),
        ("no-runbook-lease", True),
        ("automation-enabled", True),
    ]


@pytest.mark.parametrize(
    ("services", "leases", "flags", "failed", "observed"),
    [
        (
            {"supervisor": STEADY | {"steady": False, "running_count": 1}},
            {},
            AUTOMATION_ENABLED,
            "services-stable",
            "1/2",
        ),
        (
            {"supervisor": STEADY | {"rollout_state": "IN_PROGRESS"}},
            {},
            AUTOMATION_ENABLED,
            "services-stable",
            "IN_PROGRESS",
        ),
        ({"supervisor": None}, {}, AUTOMATION_ENABLED, "services-stable", "supervisor missing"),
        ({"supervisor": STEADY}, {"c/s": "arn:x:execution:sm:run-9"}, AUTOMATION_ENABLED, "no-runbook-lease", "run-9"),
        (
            {"supervisor": STEADY},
            {},
            AUTOMATION_ENABLED | {"enabled": False, "reason": "4711"},
            "automation-enabled",
            "4711",
        ),
        (
            {"supervisor": STEADY},
            {},
            AUTOMATION_ENABLED | {"suppressedUntil": (NOW + timedelta(hours=1)).isoformat(), "reason": "other window"},
            "automation-enabled",
            "already suppressed",
        ),
        ({"supervisor": STEADY}, {}, AUTOMATION_ENABLED | {"suppressedUntil": "soon"}, "automation-enabled", "soon"),
        ({"supervisor": STEADY}, {}, None, "automation-enabled", "unreadable"),
    ],
)
def test_given_one_item_not_ready_when_checked_then_it_fails_saying_what_it_saw(
    services, leases, flags, failed, observed
) -> None:
    checks = rules.checklist(services, leases, flags, "unreadable" if flags is None else None, NOW)

    assert [check.check for check in checks if not check.passed] == [failed]
    assert observed in next(check.observed for check in checks if not check.passed)


def test_given_a_suppression_that_already_ended_when_checked_then_automation_counts_as_on() -> None:
    past = AUTOMATION_ENABLED | {"suppressedUntil": (NOW - timedelta(minutes=1)).isoformat(), "reason": "old"}

    assert all(check.passed for check in rules.checklist({}, {}, past, None, NOW))


def test_the_window_ends_duration_after_the_start_and_never_leaves_less_than_the_monitoring() -> None:
    on_time = rules.window_end(NOW + timedelta(minutes=10), NOW, 120, 30)
    late = rules.window_end(NOW + timedelta(minutes=100), NOW, 120, 30)  # the backup took 100 minutes

    assert on_time == NOW + timedelta(minutes=120)
    assert rules.waits(NOW + timedelta(minutes=10), on_time, 30) == (80 * 60, 30 * 60)
    assert late == NOW + timedelta(minutes=130)
    assert rules.waits(NOW + timedelta(minutes=100), late, 30) == (0, 30 * 60)


def test_the_suppressed_flags_keep_every_other_key_and_only_the_exact_value_written_is_ours() -> None:
    previous = {"enabled": True, "suppressedUntil": None, "reason": "", "owner": "platform"}
    written = rules.flags_value(rules.suppressed_flags(previous, NOW, "maintenance-window run-1: patching"))

    assert json.loads(written) == {
        "enabled": True,
        "suppressedUntil": NOW.isoformat(),
        "reason": "maintenance-window run-1: patching",
        "owner": "platform",
    }
    assert rules.still_ours(json.dumps(json.loads(written), indent=2), written)  # formatting does not matter
    assert not rules.still_ours(json.dumps(json.loads(written) | {"enabled": False}), written)
    assert not rules.still_ours("not json", written)


def test_backup_jobs_are_completed_only_when_all_are_and_failed_when_one_cannot_complete() -> None:
    assert rules.backup_state([{"state": "COMPLETED"}, {"state": "COMPLETED"}]) == "completed"
    assert rules.backup_state([{"state": "COMPLETED"}, {"state": "RUNNING"}]) == "running"
    assert rules.backup_state([{"state": "RUNNING"}, {"state": "EXPIRED"}]) == "failed"
    assert rules.backup_state([]) == "running"


# -- Input ---------------------------------------------------------------------------------------------------------


def test_given_the_monthly_schedule_event_then_the_configured_window_is_used_once_per_event(settings_only) -> None:
    settings = settings_only()
    event = {"id": "evt-1", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-12-06T02:00:00Z"}

    request = normalize_maintenance_window(event, settings, "exec-1", NOW)

    assert (request.trigger, request.duration_minutes, request.monitor_minutes) == ("schedule", 180, 30)
    assert request.idempotency_key == "schedule:evt-1#maintenance-window"
    assert request.agents == AGENTS and request.dry_run is False


def test_given_a_console_window_then_its_length_reason_and_dry_run_are_kept(settings_only) -> None:
    request = _request(settings_only(), WINDOW | {"dryRun": True})

    assert (request.trigger, request.duration_minutes, request.reason, request.dry_run) == (
        "console",
        120,
        "monthly patching, CHG-42",
        True,
    )
    assert request.started_at == NOW.isoformat()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({}, "Start this runbook with"),
        ({"durationMinutes": 44, "reason": "too short"}, "between 45"),
        ({"durationMinutes": 361, "reason": "too long"}, "and 360"),
        ({"durationMinutes": 120}, "reason"),
        ({"durationMinutes": 120.0, "reason": "a float"}, "durationMinutes"),
        ({"durationMinutes": 120, "reason": "ok", "services": "all"}, "services"),
        ("maintenance please", "not a JSON object"),
    ],
)
def test_given_bad_console_input_then_it_is_rejected_with_what_to_send(settings_only, raw, says) -> None:
    with pytest.raises(InvalidInput, match="durationMinutes") as raised:
        _request(settings_only(), raw)

    assert says in str(raised.value)


def test_config_refuses_a_window_without_backup_or_shorter_than_its_monitoring() -> None:
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]  # the real config
    window = context["acso:defaults"]["maintenanceWindow"]

    for override, key in (
        ({"backupResources": []}, "backupResources"),
        ({"backupResources": ["not-an-arn"]}, "backupResources[0]"),
        ({"durationMinutes": 40}, "durationMinutes"),
        ({"backupChecks": 60, "backupPollSeconds": 900}, "backupChecks"),
    ):
        broken = json.loads(json.dumps(context))
        broken["acso:defaults"]["maintenanceWindow"] = window | override
        with pytest.raises(ConfigError, match=re.escape(f"maintenanceWindow.{key}:")):
            load_environments(broken)


# -- Steps against moto --------------------------------------------------------------------------------------------


@pytest.fixture
def window(aws, virtual_clock) -> MaintenanceWindowRequest:
    """A 2-hour console window started now, its guard passed (it holds the maintenance lease)."""
    for agent in AGENTS:
        aws.create_service(agent, 2)
    request = _request(load_settings(), now=virtual_clock.now)
    assert logic.admit(request, RUN, load_settings())["proceed"]
    return request


def test_given_a_window_in_progress_when_another_run_starts_then_it_is_refused_and_a_duplicate_event_too(
    aws, virtual_clock, window
) -> None:
    settings = load_settings()
    other = _request(settings, now=virtual_clock.now, name="run-2")

    assert logic.admit(other, OTHER_RUN, settings)["reason"] == "locked"
    assert logic.admit(window, OTHER_RUN, settings)["reason"] == "duplicate-event"
    assert logic.admit(window, RUN, settings)["proceed"]  # a retried guard step of the same run


def test_given_every_service_steady_when_the_checklist_runs_then_the_window_may_start(aws, window) -> None:
    result = logic.pre_checklist(window, load_settings())

    assert result["ready"] is True and result["flags"] == AUTOMATION_ENABLED


def test_given_a_runbook_holding_a_service_when_the_checklist_runs_then_the_window_does_not_start(
    aws, virtual_clock, window
) -> None:
    state_store.acquire_lease(
        STATE_TABLE, f"{CLUSTER}/{SERVICES['supervisor']}", "arn:x:execution:r:op-7", virtual_clock.now, 600
    )

    result = logic.pre_checklist(window, load_settings())

    assert result["ready"] is False
    assert [c["check"] for c in result["checks"] if not c["passed"]] == ["no-runbook-lease"]


def test_given_backup_resources_when_the_backup_starts_then_one_idempotent_job_per_resource(
    aws, window, monkeypatch
) -> None:
    started = []

    def start(vault, resource, role, token):
        started.append((vault, resource, token))
        return {"jobId": f"job-{len(started)}", "resource": resource, "recoveryPointArn": None, "createdAt": None}

    monkeypatch.setattr(backups, "start_backup_job", start)
    result = logic.start_backup(window, RUN, load_settings())

    assert result["outcome"] == "started" and [job["jobId"] for job in result["jobs"]] == ["job-1", "job-2"]
    assert started == [
        ("acso-production-vault", MAINTENANCE_BACKUP_RESOURCES[0], "run-1-0"),
        ("acso-production-vault", MAINTENANCE_BACKUP_RESOURCES[1], "run-1-1"),
    ]


def test_given_a_dry_run_when_the_backup_step_runs_then_the_calls_are_recorded_not_made(
    aws, window, monkeypatch
) -> None:
    monkeypatch.setattr(backups, "start_backup_job", lambda *_: pytest.fail("no backup in a dry run"))

    result = logic.start_backup(window.model_copy(update={"dry_run": True}), RUN, load_settings())

    assert result["outcome"] == "dry-run" and len(result["calls"]) == 2


def test_each_backup_poll_reads_every_job_and_counts_down(aws, monkeypatch) -> None:
    states = {"job-1": "COMPLETED", "job-2": "RUNNING"}
    monkeypatch.setattr(backups, "describe_backup_job", lambda job_id: {"jobId": job_id, "state": states[job_id]})
    backup = {"jobs": [{"jobId": "job-1"}, {"jobId": "job-2"}], "checksLeft": 3}

    assert logic.check_backup(backup)["state"] == "running"
    states["job-2"] = "COMPLETED"
    assert logic.check_backup(backup) | {"jobs": None} == {"jobs": None, "state": "completed", "checksLeft": 2}


def test_when_suppressed_then_the_flags_say_until_the_windows_end_and_the_previous_value_is_on_the_lease(
    aws, virtual_clock, window
) -> None:
    _set_flags(AUTOMATION_ENABLED | {"note": "kept"})
    virtual_clock.advance(600)  # the backup took 10 minutes

    result = logic.suppress(window, RUN, load_settings())

    until = datetime.fromisoformat(window.started_at) + timedelta(minutes=120)
    assert _flags() == {
        "enabled": True,
        "suppressedUntil": until.isoformat(),
        "reason": result["written"]["reason"],
        "note": "kept",
    }
    assert "run-1" in result["written"]["reason"] and "CHG-42" in result["written"]["reason"]
    assert (result["workSeconds"], result["monitorSeconds"]) == (80 * 60, 30 * 60)
    held = maintenance_hold.held(maintenance_lease(load_settings()), RUN, load_settings())
    assert json.loads(held["previous"]) == AUTOMATION_ENABLED | {"note": "kept"}


def test_given_a_retried_suppress_step_then_it_keeps_its_first_window_and_previous_value(
    aws, virtual_clock, window
) -> None:
    first = logic.suppress(window, RUN, load_settings())
    virtual_clock.advance(120)

    again = logic.suppress(window, RUN, load_settings())

    assert again["written"] == first["written"] and again["previous"] == AUTOMATION_ENABLED


def test_given_an_operator_change_between_two_attempts_when_the_step_is_retried_then_it_is_not_overwritten(
    aws, window
) -> None:
    logic.suppress(window, RUN, load_settings())
    operator = {"enabled": False, "suppressedUntil": None, "reason": "incident 4711"}
    _set_flags(operator)

    logic.suppress(window, RUN, load_settings())

    assert _flags() == operator


def test_given_the_lease_was_lost_when_suppressing_then_nothing_is_written(aws, virtual_clock, window) -> None:
    state_store.release_lease(STATE_TABLE, maintenance_lease(load_settings()), RUN)

    with pytest.raises(LeaseLost):
        logic.suppress(window, RUN, load_settings())
    assert _flags() == AUTOMATION_ENABLED


def test_given_a_dry_run_when_suppressing_then_the_write_is_described_and_nothing_waits(aws, window) -> None:
    result = logic.suppress(window.model_copy(update={"dry_run": True}), RUN, load_settings())

    assert result["outcome"] == "dry-run" and (result["workSeconds"], result["monitorSeconds"]) == (0, 0)
    assert result["call"]["operation"] == "ssm.PutParameter" and _flags() == AUTOMATION_ENABLED


def test_when_switched_back_then_the_previous_flags_return(aws, window) -> None:
    logic.suppress(window, RUN, load_settings())

    result = logic.switch_back(window, RUN, load_settings())

    assert result["outcome"] == "restored" and _flags() == AUTOMATION_ENABLED


def test_given_an_operator_kill_switch_during_the_window_when_switched_back_then_it_is_kept(aws, window) -> None:
    logic.suppress(window, RUN, load_settings())
    operator = {"enabled": False, "suppressedUntil": None, "reason": "incident 4711"}
    _set_flags(operator)

    result = logic.switch_back(window, RUN, load_settings())

    assert result["outcome"] == "left-as-is" and _flags() == operator


def test_given_a_failure_mid_window_when_recorded_then_the_flags_return_first_and_l2_is_told(aws, window) -> None:
    suppression = logic.suppress(window, RUN, load_settings())
    error = {"Error": "Sandbox.Timedout", "Cause": json.dumps({"errorMessage": "Task timed out after 30.00 seconds"})}
    state = {
        "request": window.model_dump(),
        "guard": {"proceed": True, "lease": {"resource": maintenance_lease(load_settings())}},
        "suppression": suppression,
        "error": error,
    }

    result = logic.record(state, RUN, load_settings())

    assert _flags() == AUTOMATION_ENABLED
    assert result["decision"] == "failed" and result["notified"] == "L2"
    (audit,) = aws.items("AUDIT#maintenance-window")
    assert json.loads(audit["restore"]["S"])["outcome"] == "restored"
    (page,) = aws.notifications("L2")
    assert "switched back on" in page["Message"] and aws.items("LEASE#") == []


def test_given_a_rejected_input_when_recorded_then_nothing_is_restored_and_nobody_paged(aws) -> None:
    error = {"Error": "InvalidInput", "Cause": json.dumps({"errorMessage": "Invalid input"})}

    result = logic.record({"error": error}, RUN, load_settings())

    assert result["decision"] == "rejected" and result["notified"] is None


def test_given_a_run_stopped_mid_window_when_its_lease_is_released_then_the_flags_return(aws, window) -> None:
    logic.suppress(window, RUN, load_settings())
    state_machine = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:acso-production-maintenance-window"

    result = abandoned.release_abandoned(RUN, "ABORTED", state_machine, load_settings())

    assert result["released"] == [maintenance_lease(load_settings())]
    assert _flags() == AUTOMATION_ENABLED


def test_the_report_and_the_l1_summary_say_what_was_done_and_the_checks_results(aws, window) -> None:
    suppression = logic.suppress(window, RUN, load_settings())
    restore = logic.switch_back(window, RUN, load_settings())
    criteria = [
        {
            "criterion": "cpu-below-threshold",
            "scope": "supervisor",
            "passed": False,
            "observed": "CPU max 92.0 %",
            "expected": "< 70 %",
            "handled_by": "high-cpu",
        },
        {
            "criterion": "memory-below-threshold",
            "scope": "supervisor",
            "passed": True,
            "observed": "memory max 40.0 %",
            "expected": "< 80 %",
        },
    ]
    state = {
        "request": window.model_dump(),
        "guard": {"proceed": True, "lease": {"resource": maintenance_lease(load_settings())}},
        "checklist": {"ready": True, "checks": []},
        "backup": {
            "outcome": "started",
            "state": "completed",
            "vault": "acso-production-vault",
            "calls": [],
            "jobs": [{"jobId": "job-1", "resource": MAINTENANCE_BACKUP_RESOURCES[0], "state": "COMPLETED"}],
        },
        "suppression": suppression,
        "validation": {"phase": "validation", "healthy": False, "criteria": criteria, "checkedAt": NOW.isoformat()},
        "monitoring": {"phase": "monitoring", "healthy": True, "criteria": criteria[1:], "checkedAt": NOW.isoformat()},
        "restore": restore,
    }

    report = logic.report(state, RUN, load_settings())
    result = logic.record(state | {"report": report}, RUN, load_settings())

    markdown = boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=report["keys"]["markdown"])["Body"].read().decode()
    assert report["keys"]["markdown"].startswith("maintenance-window/") and "job-1" in markdown
    assert "**FAIL** | supervisor | cpu-below-threshold" in markdown
    assert json.loads(boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=report["keys"]["json"])["Body"].read())
    assert result["decision"] == "degraded" and result["notified"] == "L1"
    (message,) = aws.notifications("L1")
    assert "checks FAILED (validation 1)" in message["Subject"]
    assert "Backup: job-1 COMPLETED" in message["Message"] and "switched back on" in message["Message"]
