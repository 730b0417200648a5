"""maintenance-window as synthesized: its monthly schedule, and least privilege on its three kinds of write: the
automation flags parameter, AWS Backup jobs of the configured resources, its report."""

from __future__ import annotations

import json

from remediation.settings import Settings
from tests.infrastructure.support import ACCOUNT, REGION, SynthesizedStack, actions_cover, policy_statements

HANDLERS = "remediation.handlers.maintenance_window."
FLAG_WRITERS = {
    f"{HANDLERS}suppress_auto_remediation",
    f"{HANDLERS}switch_back",
    f"{HANDLERS}record_decision",  # the failure path switches auto-remediation back on before recording
    "remediation.handlers.abandoned.release_leases",  # ... and so does releasing the lease of a stopped run
}


def _handlers(synthesized: SynthesizedStack, roles: tuple[str, ...]) -> set[str | None]:
    return {synthesized.function_of_role(role) for role in roles}


def test_the_window_starts_monthly_on_the_first_sunday_at_two_utc(synthesized) -> None:
    machine = synthesized.state_machine_named("maintenance-window")
    (rule,) = [
        rule
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == {"Ref": machine} for target in rule["Targets"])
    ]

    assert rule["ScheduleExpression"] == synthesized.config.schedules.maintenance_window == "cron(0 2 ? * SUN#1 *)"
    assert "EventPattern" not in rule


def test_only_the_suppress_and_switch_back_paths_may_write_the_automation_flags_and_nothing_else(synthesized) -> None:
    flags = synthesized.config.guard.flags_parameter
    ((logical_id, _),) = [
        (logical_id, props)
        for logical_id, props in synthesized.of_type("AWS::SSM::Parameter").items()
        if props["Name"] == flags
    ]
    writers = [
        statement
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and actions_cover(statement.actions, "ssm:PutParameter")
        and logical_id in json.dumps(statement.resources)
    ]

    assert writers
    assert set().union(*(_handlers(synthesized, statement.roles) for statement in writers)) == FLAG_WRITERS
    for statement in writers:
        assert len(statement.resources) == 1, "the flags parameter and nothing else"
        assert "remediation.handlers.record.record_decision" not in _handlers(synthesized, statement.roles)


def test_backups_are_started_only_in_the_configured_vault_passing_only_the_backup_role_to_aws_backup(
    synthesized,
) -> None:
    config, resolver = synthesized.config, synthesized.resolver()
    vault = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{config.backups.vault}"
    role = f"arn:aws:iam::{ACCOUNT}:role/{config.maintenance_window.backup_role_name}"
    starts = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow" and actions_cover(s.actions, "backup:StartBackupJob")
    ]
    passes = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow"
        and actions_cover(s.actions, "iam:PassRole")
        and role in resolver.resolve(list(s.resources))
    ]

    assert [resolver.resolve(list(s.resources)) for s in starts] == [[vault]]
    assert _handlers(synthesized, starts[0].roles) == {f"{HANDLERS}start_backup"}
    assert len(passes) == 1 and _handlers(synthesized, passes[0].roles) == {f"{HANDLERS}start_backup"}
    assert resolver.resolve(list(passes[0].resources)) == [role]
    assert passes[0].condition == {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}


def test_the_backed_up_resources_reach_the_handlers_with_the_stacks_region_and_account(production) -> None:
    settings = Settings.model_validate_json(production.settings_json())

    assert settings.maintenance_window.backup_resources == (
        f"arn:aws:rds:{REGION}:{ACCOUNT}:db:acso-production-db",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/acso-production-agents",
    )
    assert settings.maintenance_window.backup_role_arn == (
        f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
    )
    assert (settings.maintenance_window.duration_minutes, settings.maintenance_window.monitor_minutes) == (180, 30)
