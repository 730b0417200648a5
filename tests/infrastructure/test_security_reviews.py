"""security-patch-review and access-review as deployed: their schedules, and read-only least privilege (ECR scan
findings of the agents' repositories; IAM List/Get/Read actions on the roles named like 'acso' only; each writes
only its own folder of the reports bucket; the record step may tell security)."""

from __future__ import annotations

import pytest

from tests.infrastructure.support import ACCOUNT, REGION, SynthesizedStack, actions_cover, policy_statements
from tests.infrastructure.test_triggers import _only, _rules_targeting

PATCH = "remediation.handlers.security_patch_review."
ACCESS = "remediation.handlers.access_review."
# Every IAM action the access review may use: List, Get and the read-only last-accessed report job.
IAM_READ_ONLY = {
    "iam:ListRoles",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails",
    "iam:ListPoliciesGrantingServiceAccess",
}


def _statements(synthesized: SynthesizedStack, prefix: str):
    return [
        (synthesized.function_of_role(role), statement)
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        for role in statement.roles
        if (synthesized.function_of_role(role) or "").startswith(prefix)
    ]


@pytest.mark.parametrize(
    ("runbook", "attribute", "expression"),
    [
        ("security-patch-review", "security_patch_review", "cron(0 8 1 * ? *)"),
        ("access-review", "access_review", "cron(0 8 1 1,4,7,10 ? *)"),
    ],
)
def test_each_review_is_started_by_its_configured_schedule(synthesized, runbook, attribute, expression):
    _, rule = _only(_rules_targeting(synthesized, runbook), f"rule starting {runbook}")

    assert rule["ScheduleExpression"] == getattr(synthesized.config.schedules, attribute) == expression
    assert "EventPattern" not in rule
    assert rule["Targets"][0]["DeadLetterConfig"], "an undeliverable schedule event goes to the dead-letter queue"


def test_the_patch_review_reads_scan_findings_of_the_agents_repositories_only(synthesized):
    resolver = synthesized.resolver()
    ecr = [(h, s) for h, s in _statements(synthesized, PATCH) if any(a.startswith("ecr:") for a in s.actions)]

    assert [(h, s.actions) for h, s in ecr] == [(PATCH + "scan_images", ("ecr:DescribeImageScanFindings",))]
    assert resolver.resolve(list(ecr[0][1].resources)) == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/acso/*"]


def test_the_access_review_may_only_read_iam_and_only_the_acso_roles_where_iam_allows_a_resource(synthesized):
    resolver = synthesized.resolver()
    granted = [(h, s) for h, s in _statements(synthesized, ACCESS) if any(a.startswith("iam:") for a in s.actions)]
    unscoped = {"iam:ListRoles", "iam:GetServiceLastAccessedDetails"}  # no resource-level permissions in IAM

    assert {action for _, s in granted for action in s.actions if action.startswith("iam:")} == IAM_READ_ONLY
    for action in IAM_READ_ONLY:
        resources = {
            resource
            for _, statement in granted
            if action in statement.actions
            for resource in resolver.resolve(list(statement.resources))
        }
        expected = {"*"} if action in unscoped else {f"arn:aws:iam::{ACCOUNT}:role/*acso*"}
        assert resources == expected, action


def test_no_other_step_may_read_iam_or_ecr_findings(synthesized):
    readers = {
        synthesized.function_of_role(role)
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and any(a in IAM_READ_ONLY or a == "ecr:DescribeImageScanFindings" for a in statement.actions)
        for role in statement.roles
    }
    assert readers == {
        PATCH + "scan_images",
        ACCESS + "list_roles",
        ACCESS + "start_last_accessed",
        ACCESS + "collect_last_accessed",
    }


@pytest.mark.parametrize(("prefix", "folder"), [(PATCH, "security-patch-review"), (ACCESS, "access-review")])
def test_each_review_writes_only_its_own_folder_and_changes_nothing_else(synthesized, prefix, folder):
    resolver = synthesized.resolver()
    statements = _statements(synthesized, prefix)
    writes = [(h, s) for h, s in statements if actions_cover(s.actions, "s3:PutObject")]

    assert [h for h, _ in writes] == [prefix + "publish_report"]
    (resource,) = writes[0][1].resources
    assert resolver.resolve(resource).endswith(f"/{folder}/*")
    for handler, statement in statements:
        for write in ("ecs:UpdateService", "iam:DeleteRole", "iam:DetachRolePolicy", "iam:PutRolePolicy"):
            assert not actions_cover(statement.actions, write), f"{handler} may {write}"


def test_the_record_step_may_tell_the_security_audience(synthesized):
    resolver = synthesized.resolver()
    topics = {
        resolver.resolve(resource)
        for handler, statement in _statements(synthesized, "remediation.handlers.record.")
        if actions_cover(statement.actions, "sns:Publish")
        for resource in statement.resources
    }
    assert any(str(topic).endswith(f":acso-{synthesized.environment}-security") for topic in topics), topics
