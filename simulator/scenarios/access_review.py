"""Scenarios of the access-review runbook (seed: Access Review). The world's IAM holds the platform's roles: the
agents' execution role and one task role per agent (all in use), and `platform-ci-deployer`, a role without `acso`
in its name that never ran. IAM's last-accessed information is the emulator's (PATCH 21): a report job completes
8 s of virtual time after it started. The report is read back and copied to simulation-output/access-review/."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels

RUNBOOK = "access-review"
PREFIX = f"{RUNBOOK}/"
OUTPUT = Path("simulation-output") / RUNBOOK
ACSO_ROLES = 6
"""The execution role and the five agents' task roles."""
THREAT_HUNTER_ROLE = "acso-production-threat-hunter-task-role"
UNUSED_POLICY = "acso-production-threat-intel-feeds"
LEGACY_ROLE = "acso-production-legacy-migration-role"
BREAK_GLASS_ROLE = "acso-production-break-glass"
IAM_READS = (
    "iam.ListRoles",
    "iam.GetRole",
    "iam.ListAttachedRolePolicies",
    "iam.ListRolePolicies",
    "iam.GenerateServiceLastAccessedDetails",
    "iam.GetServiceLastAccessedDetails",
    "iam.ListPoliciesGrantingServiceAccess",
)


def _read_back(h: Harness, folder: str) -> None:
    s3, bucket = h.aws.client("s3"), h.stack.reports_bucket
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])]
    objects = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
    h.observed["reports"] = objects
    for key, body in objects.items():
        path = OUTPUT / folder / key.rsplit("/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def _report(o: Outcome, suffix: str) -> str:
    found = [body for key, body in o.observed.get("reports", {}).items() if key.endswith(suffix)]
    return found[0].decode() if len(found) == 1 else ""


def _iam_calls(o: Outcome) -> dict[str, int]:
    return {name: count for name, count in o.api_calls.items() if name.startswith("iam.")}


def _read_only(o: Outcome, roles: int) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    calls = _iam_calls(o)
    return [
        ("zero IAM writes: every IAM call is a List, Get or the last-accessed report", set(calls) <= set(IAM_READS)),
        (
            f"one last-accessed job per ACSO role ({roles}), none for the others",
            calls.get("iam.GenerateServiceLastAccessedDetails") == roles and calls.get("iam.GetRole") == roles,
        ),
        (
            "waited for IAM's asynchronous jobs: checked twice (the first time still in progress)",
            states.count("WaitForLastAccessed") == 2 and states.count("CollectLastAccessed") == 2,
        ),
        (
            "nothing else written but the report and its JSON twin",
            o.write_calls == 0 and o.api_calls.get("s3.PutObject") == 2,
        ),
        every_execution_audited(o),
    ]


# -- access-review-unused ------------------------------------------------------------------------------------------
def _unused(h: Harness) -> None:
    now = h.clock.now()
    # threat-hunter's task role got a feed bucket policy a year ago; the agent never read the bucket.
    h.world.attach_policy(THREAT_HUNTER_ROLE, UNUSED_POLICY, ["s3:GetObject", "s3:ListBucket"])
    # The one-off migration role: last used 200 days ago.
    h.world.add_role(LEGACY_ROLE, {"dynamodb": now - timedelta(days=200)}, inline={"migrate": ["dynamodb:Scan"]})
    h.fire_schedule(RUNBOOK)
    h.settle()
    _read_back(h, "access-review-unused")


def _expect_unused(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    subject = o.notifications[0]["subject"] if o.notifications else ""
    markdown, twin = _report(o, ".md"), _report(o, ".json")
    review = json.loads(twin) if twin else {}
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        *_read_only(o, ACSO_ROLES + 1),
        ("audited: reported", decisions(o) == ["reported"]),
        ("one L1 summary, security not told (no admin-like grant)", levels(o) == ["L1"]),
        (
            "the subject counts what is unused",
            subject.endswith("access review 2026-Q4: 1 unused role, 1 unused policy"),
        ),
        (
            "it recommends removing the unused policy from its role",
            f"Remove the managed policy {UNUSED_POLICY} from role {THREAT_HUNTER_ROLE}" in message
            and "(s3) was used in the last 90 days" in message,
        ),
        ("it recommends deleting the unused role", f"Delete role {LEGACY_ROLE}: last used 2026-05-11" in message),
        (
            "the report gives the commands and keeps the roles in use as such",
            f"aws iam detach-role-policy --role-name {THREAT_HUNTER_ROLE} --policy-arn" in markdown
            and f"aws iam delete-role --role-name {LEGACY_ROLE}" in markdown
            and "[acso-production-supervisor-task-role](" in markdown
            and "| in use |" in markdown,
        ),
        (
            "roles without 'acso' in their name are ignored",
            "platform-ci-deployer" not in markdown
            and "platform-ci-deployer" not in message
            and review.get("rolesListed", 0) > len(review.get("roles", [])),
        ),
    ]


# -- access-review-admin-grant -------------------------------------------------------------------------------------
def _admin(h: Harness) -> None:
    now = h.clock.now()
    # A break-glass role with every permission, used last week for ECS and STS only.
    h.world.add_role(
        BREAK_GLASS_ROLE,
        {"ecs": now - timedelta(days=7), "sts": now - timedelta(days=7)},
        inline={"break-glass": ["*"]},
    )
    h.start_console(RUNBOOK, {"reason": "after the incident review", "unusedAfterDays": 30})
    h.settle()
    _read_back(h, "access-review-admin-grant")


def _expect_admin(o: Outcome) -> list[tuple[str, bool]]:
    security = [n for n in o.notifications if n["level"] == "SECURITY"]
    page = security[0]["message"] if security else ""
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        *_read_only(o, ACSO_ROLES + 1),
        ("audited: escalated", decisions(o) == ["escalated"]),
        ("security told once, and the L1 summary", sorted(levels(o)) == ["L1", "SECURITY"]),
        (
            "security hears which admin-like grant, on which role, and what the role really used",
            f"admin-like policy break-glass on {BREAK_GLASS_ROLE}, partly used" in page
            and "it used only ecs, sts" in page,
        ),
        ("the console's window was used", "not used in the last 30 days" in page),
        (
            "the subject names the admin-like grant alone (not also as a partly used policy)",
            bool(security) and security[0]["subject"].endswith("access review 2026-Q4: 1 unused admin-like grant"),
        ),
    ]


def _bad_inputs(h: Harness) -> None:
    for bad in (
        {},
        "",
        {"reason": "x"},
        {"reason": "quarterly", "unusedAfterDays": 0},
        {"reason": "quarterly", "unusedAfterDays": 401},
        {"reason": "quarterly", "roles": "all"},
    ):
        h.start_console(RUNBOOK, bad)


SCENARIOS = [
    Scenario(
        "access-review-unused",
        "Quarterly review: threat-hunter's task role holds an S3 policy it never used, a migration role was last "
        "used 200 days ago; the L1 summary recommends removing the policy and deleting the role; nothing changed.",
        {},
        _unused,
        _expect_unused,
    ),
    Scenario(
        "access-review-admin-grant",
        "Review by hand (30-day window): a break-glass role holds Action * and used only ECS and STS: security is "
        "told, L1 gets the summary.",
        {},
        _admin,
        _expect_admin,
    ),
    Scenario(
        "access-review-bad-input",
        "Console inputs that must be rejected before anything runs.",
        {},
        _bad_inputs,
        expect_rejected,
    ),
]
