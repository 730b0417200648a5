"""backup-verification and dr-test as synthesized: their schedules, and least privilege on the platform's backup
bucket (read only), the DR restore bucket (writes under dr-test/ only) and AWS Backup (list jobs only)."""

from __future__ import annotations

from tests.infrastructure.support import SynthesizedStack, policy_statements

BACKUP_VERIFICATION_HANDLERS = "remediation.handlers.backup_verification."
DR_TEST_HANDLERS = "remediation.handlers.dr_test."


def _schedule(synthesized: SynthesizedStack, runbook: str) -> dict:
    machine = synthesized.state_machine_named(runbook)
    rules = [
        rule
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == {"Ref": machine} for target in rule["Targets"])
    ]
    assert len(rules) == 1, f"expected one rule starting {runbook}"
    return rules[0]


def test_backup_verification_runs_daily_and_dr_test_quarterly_on_the_configured_schedules(synthesized) -> None:
    schedules = synthesized.config.schedules

    daily, quarterly = _schedule(synthesized, "backup-verification"), _schedule(synthesized, "dr-test")

    assert daily["ScheduleExpression"] == schedules.backup_verification == "cron(0 7 * * ? *)"
    assert quarterly["ScheduleExpression"] == schedules.dr_test == "cron(0 10 ? 1,4,7,10 TUE#1 *)"
    assert "EventPattern" not in daily and "EventPattern" not in quarterly


def _grants(synthesized: SynthesizedStack, bucket: str) -> set[tuple[str, str, str | None, str]]:
    """(action, resource, handler of the role, condition) of every Allow on the bucket or its objects (CDK merges
    statements, so each resource of a statement is taken on its own)."""
    resolver, found = synthesized.resolver(), set()
    for statement in policy_statements(synthesized):
        if statement.effect != "Allow":
            continue
        for resource in resolver.resolve(list(statement.resources)):
            if str(resource) in (f"arn:aws:s3:::{bucket}",) or str(resource).startswith(f"arn:aws:s3:::{bucket}/"):
                for role in statement.roles or (None,):
                    handler = synthesized.function_of_role(role) if role else None
                    found |= {
                        (action, str(resource), handler, repr(statement.condition)) for action in statement.actions
                    }
    return found


def test_the_backup_bucket_is_only_listed_and_read_by_the_two_runbooks(synthesized) -> None:
    bucket = synthesized.config.backups.bucket
    grants = _grants(synthesized, bucket)

    assert grants
    for action, resource, handler, _ in grants:
        assert action in {"s3:ListBucket", "s3:GetObject"}, (action, handler)
        assert handler and handler.startswith((BACKUP_VERIFICATION_HANDLERS, DR_TEST_HANDLERS)), handler
        assert (
            resource == {"s3:ListBucket": f"arn:aws:s3:::{bucket}", "s3:GetObject": f"arn:aws:s3:::{bucket}/*"}[action]
        )
    readers = {handler for action, _, handler, _ in grants if action == "s3:GetObject"}
    assert readers == {f"{DR_TEST_HANDLERS}restore_backup", f"{DR_TEST_HANDLERS}validate_restore"}


def test_the_restore_bucket_is_written_and_cleaned_only_under_dr_test_by_the_restore_and_clean_up_steps(
    synthesized,
) -> None:
    bucket = synthesized.config.dr.restore_bucket
    grants = _grants(synthesized, bucket)
    prefix = repr({"StringLike": {"s3:prefix": ["dr-test/*"]}})

    assert {(action, handler) for action, _, handler, _ in grants if action in ("s3:PutObject", "s3:DeleteObject")} == {
        ("s3:PutObject", f"{DR_TEST_HANDLERS}restore_backup"),
        ("s3:DeleteObject", f"{DR_TEST_HANDLERS}clean_up"),
    }
    for action, resource, handler, condition in grants:
        assert handler and handler.startswith(DR_TEST_HANDLERS)
        if action == "s3:ListBucket":
            assert (resource, condition) == (f"arn:aws:s3:::{bucket}", prefix)
        else:
            assert action in {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
            assert resource == f"arn:aws:s3:::{bucket}/dr-test/*", (action, handler)


def test_only_the_jobs_step_may_list_backup_jobs_and_nothing_else_of_aws_backup(synthesized) -> None:
    """Besides, maintenance-window starts its own on-demand backup and polls those jobs
    (tests/infrastructure/test_maintenance_window.py checks the vault and the role it passes)."""
    grants = {
        (action, synthesized.function_of_role(role))
        for s in policy_statements(synthesized)
        if s.effect == "Allow"
        for action in s.actions
        if action.lower().startswith("backup:")
        for role in s.roles
    }

    assert grants == {
        ("backup:ListBackupJobs", f"{BACKUP_VERIFICATION_HANDLERS}list_backup_jobs"),
        ("backup:StartBackupJob", "remediation.handlers.maintenance_window.start_backup"),
        ("backup:DescribeBackupJob", "remediation.handlers.maintenance_window.check_backup"),
    }
