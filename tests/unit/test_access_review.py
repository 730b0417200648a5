"""access-review: which roles, what IAM says they used, what is unused, what to recommend and who is told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from remediation import clock
from remediation.domain import access_review as rules
from remediation.domain.requests.scheduled_reviews import AccessReviewRequest, normalize_access_review
from remediation.domain.summaries import RunContext, access_review
from remediation.errors import InvalidInput
from remediation.logic import access_review as logic
from remediation.settings import load_settings
from simulator.emulator import EmbeddedAws, VirtualClock
from tests.unit.conftest import ACCOUNT_ID, REGION, REPORTS_BUCKET, boto, settings_document

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-access-review:quarterly"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/"
FEEDS = f"arn:aws:iam::{ACCOUNT_ID}:policy/threat-intel-feeds"


def _iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _role(name: str, last_used_days: float | None = 0.1, created_days: float = 400, **policies) -> dict:
    return {
        "name": name,
        "arn": ROLE_ARN + name,
        "path": "/",
        "createdAt": _iso(created_days),
        "lastUsedAt": None if last_used_days is None else _iso(last_used_days),
        "lastUsedRegion": REGION,
        "attached": policies.get("attached", []),
        "inline": policies.get("inline", []),
    }


def _access(used: dict[str, float | None], grants: dict[str, list[str]], status: str = "COMPLETED") -> dict:
    services = [
        {"namespace": ns, "name": ns, "lastAuthenticated": None if days is None else _iso(days)}
        for ns, days in used.items()
    ]
    return {"status": status, "error": None, "services": services, "grants": grants}


TASK_ROLE = _role(
    "acso-production-threat-hunter-task-role",
    attached=[{"name": "threat-intel-feeds", "arn": FEEDS}],
    inline=["agent-runtime"],
)
TASK_ACCESS = _access(
    {"logs": 0.01, "ssm": 1, "s3": None},
    {"logs": ["inline:agent-runtime"], "ssm": ["inline:agent-runtime"], "s3": [FEEDS]},
)


# -- one role ----------------------------------------------------------------------------------------------------
def test_a_policy_whose_services_were_never_used_is_unused_and_the_role_needs_review():
    role = rules.assess_role(TASK_ROLE, TASK_ACCESS, NOW, 90)

    verdicts = {p["name"]: p["verdict"] for p in role["policies"]}
    assert role["verdict"] == "review"
    assert verdicts == {"threat-intel-feeds": "unused", "agent-runtime": "used"}
    assert role["neverUsed"] == {"names": ["s3"], "count": 1}


def test_a_policy_used_for_some_of_its_services_only_is_partly_used():
    access = _access({"logs": 1, "sqs": 200}, {"logs": ["inline:runtime"], "sqs": ["inline:runtime"]})

    role = rules.assess_role(_role("acso-x", inline=["runtime"]), access, NOW, 90)

    assert role["policies"][0]["verdict"] == "partly-used"
    assert role["policies"][0]["unusedServices"] == {"names": ["sqs"], "count": 1}
    assert role["usedBefore"] == [{"namespace": "sqs", "at": _iso(200)}]


def test_a_role_not_used_within_the_window_is_unused_and_a_new_role_is_too_new_to_judge():
    old = rules.assess_role(
        _role("acso-old", last_used_days=200, inline=["p"]), _access({"s3": 200}, {"s3": ["inline:p"]}), NOW, 90
    )
    new = rules.assess_role(
        _role("acso-new", last_used_days=None, created_days=10, inline=["p"]),
        _access({"s3": None}, {"s3": ["inline:p"]}),
        NOW,
        90,
    )

    assert old["verdict"] == "unused-role"
    assert (new["verdict"], new["policies"][0]["verdict"]) == ("too-new", "too-new")


def test_without_last_accessed_data_the_permissions_are_not_assessed_but_an_unused_role_still_is():
    pending = _access({}, {}, status="IN_PROGRESS")

    assert rules.assess_role(_role("acso-busy", inline=["p"]), pending, NOW, 90)["verdict"] == "not-assessed"
    assert rules.assess_role(_role("acso-idle", last_used_days=None), pending, NOW, 90)["verdict"] == "unused-role"


# -- the fleet ---------------------------------------------------------------------------------------------------
def test_the_review_recommends_removing_an_unused_policy_and_deleting_an_unused_role_with_the_commands():
    roles = [
        rules.assess_role(TASK_ROLE, TASK_ACCESS, NOW, 90),
        rules.assess_role(
            _role("acso-old", last_used_days=200, inline=["p"]), _access({"s3": 200}, {"s3": ["inline:p"]}), NOW, 90
        ),
    ]

    result = rules.review(roles, listed=9, now=NOW, unused_after_days=90, contains="acso")

    assert [r["action"] for r in result["recommendations"]] == ["delete-role", "remove-policy"]
    assert result["recommendations"][1]["command"] == (
        f"aws iam detach-role-policy --role-name acso-production-threat-hunter-task-role --policy-arn {FEEDS}"
    )
    assert result["unusedRoles"] == ["acso-old"]
    assert [p["policy"] for p in result["unusedPolicies"]] == ["threat-intel-feeds"]
    assert result["security"] == []
    assert rules.verdict(result) == "1 unused role, 1 unused policy"
    assert [role["name"] for role in result["roles"]] == ["acso-old", TASK_ROLE["name"]], "the roles to act on first"


def test_an_admin_like_grant_the_role_does_not_fully_use_is_a_security_finding_not_a_narrowing():
    namespaces = [f"svc{index}" for index in range(60)] + ["ecs"]
    access = _access(
        {ns: (1 if ns == "ecs" else None) for ns in namespaces}, {ns: ["inline:break-glass"] for ns in namespaces}
    )
    role = rules.assess_role(_role("acso-break-glass", inline=["break-glass"]), access, NOW, 90)

    result = rules.review([role], listed=1, now=NOW, unused_after_days=90, contains="acso")

    assert role["policies"][0]["adminLike"]
    assert result["security"] == [
        {"role": "acso-break-glass", "policy": "break-glass", "verdict": "partly-used", "roleVerdict": "review"}
    ]
    assert [r["priority"] for r in result["recommendations"]] == [1]
    assert result["partlyUsed"] == []
    assert rules.verdict(result) == "1 unused admin-like grant"


def test_the_markdown_report_lists_each_role_its_policies_and_the_commands():
    roles = [rules.assess_role(TASK_ROLE, TASK_ACCESS, NOW, 90)]
    result = rules.review(roles, listed=3, now=NOW, unused_after_days=90, contains="acso")

    text = rules.markdown(result, "production", "schedule", {TASK_ROLE["name"]: "https://console/iam"})

    assert text.startswith("# ACSO production access review, 2026-Q4")
    assert "1 of the 3 IAM roles of the account have `acso` in their name" in text
    assert (
        f"| [{TASK_ROLE['name']}](https://console/iam) | 2026-11-27 | 2 | logs, ssm | 1 | **unused permissions** |"
        in text
    )
    assert "| threat-intel-feeds | managed | s3 | none | unused |" in text
    assert f"   `aws iam detach-role-policy --role-name {TASK_ROLE['name']} --policy-arn {FEEDS}`" in text


# -- against IAM (the emulator: moto + IAM last-accessed, PATCH 21) ------------------------------------------------
@pytest.fixture
def iam_world() -> Iterator[EmbeddedAws]:
    virtual = VirtualClock(NOW)
    with EmbeddedAws(virtual, region=REGION) as embedded:
        clock.use_source(virtual.now)
        embedded.set_environment(
            {"ACSO_SETTINGS": json.dumps(settings_document({level: "arn" for level in ("L1", "L2", "L3", "L4")}))}
        )
        load_settings.cache_clear()
        iam = embedded.client("iam")
        document = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents", "s3:GetObject"], "Resource": "*"}],
            }
        )
        for name in ("acso-production-agent-role", "ACSO-legacy", "platform-ci"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
            iam.put_role_policy(RoleName=name, PolicyName="runtime", PolicyDocument=document)
        embedded.set_role_activity("acso-production-agent-role", created=NOW - timedelta(days=400), last_used=NOW)
        embedded.record_service_access("acso-production-agent-role", "logs", NOW - timedelta(hours=1))
        try:
            yield embedded
        finally:
            clock.use_source(None)
            load_settings.cache_clear()


def _request(days: int = 90) -> AccessReviewRequest:
    return AccessReviewRequest(
        runbook="access-review",
        trigger="console",
        dry_run=False,
        idempotency_key="console:x#access-review",
        reason="test",
        unused_after_days=days,
        as_of=NOW.isoformat(),
    )


def test_only_roles_whose_name_contains_acso_are_listed_with_their_policies_and_last_use(iam_world):
    listed = logic.list_roles(load_settings())

    assert [role["name"] for role in listed["roles"]] == ["acso-production-agent-role"], "case-sensitive, like the seed"
    assert listed["listed"] >= 3
    role = listed["roles"][0]
    assert (role["inline"], role["attached"], role["lastUsedAt"]) == (["runtime"], [], NOW.isoformat())


def test_given_a_last_accessed_job_in_progress_when_checked_then_it_waits_and_assesses_the_role_once_done(iam_world):
    roles = logic.list_roles(load_settings())["roles"]
    state = logic.start_last_accessed(roles, load_settings())

    first = logic.collect_last_accessed(_request(), roles, state)
    iam_world.clock.advance(EmbeddedAws.LAST_ACCESSED_JOB_SECONDS)
    second = logic.collect_last_accessed(_request(), roles, first)

    assert (first["complete"], first["pending"], first["checks"]) == (False, ["acso-production-agent-role"], 1)
    assert second["complete"] and second["pending"] == []
    (assessed,) = second["assessed"]
    assert assessed["policies"][0]["verdict"] == "partly-used"
    assert assessed["neverUsed"] == {"names": ["s3"], "count": 1}


def test_given_the_checks_are_exhausted_then_a_role_still_pending_is_reported_not_assessed(iam_world):
    roles = logic.list_roles(load_settings())["roles"]
    state = logic.start_last_accessed(roles, load_settings()) | {"maxChecks": 1}

    done = logic.collect_last_accessed(_request(), roles, state)

    assert done["complete"]
    assert done["assessed"][0]["verdict"] == "not-assessed"


def test_publishing_writes_the_report_and_its_json_twin_under_the_runbooks_folder(aws):
    summary = logic.publish_report(_request(), [rules.assess_role(TASK_ROLE, TASK_ACCESS, NOW, 90)], 9, load_settings())

    keys = sorted(o["Key"] for o in boto("s3").list_objects_v2(Bucket=REPORTS_BUCKET)["Contents"])
    assert keys == ["access-review/2026/11/27/090000.json", "access-review/2026/11/27/090000.md"]
    assert summary["unusedPolicies"][0]["policy"] == "threat-intel-feeds"
    assert summary["verdict"] == "1 unused policy"


# -- who is told ------------------------------------------------------------------------------------------------
def _summary(security: list[dict]) -> dict:
    return {
        "verdict": "1 unused admin-like grant" if security else "1 unused policy",
        "quarter": "2026-Q4",
        "unusedAfterDays": 90,
        "roles": 6,
        "listed": 9,
        "roleNameContains": "acso",
        "unusedRoles": [],
        "unusedPolicies": [] if security else [{"role": "acso-r", "policy": "p", "type": "inline", "arn": None}],
        "unusedPolicyCount": 0 if security else 1,
        "partlyUsed": 0,
        "security": security,
        "notAssessed": [],
        "recommendations": [{"priority": 2, "text": "Remove the inline policy p from role acso-r: ..."}],
        "recommendationCount": 1,
        "report": {"bucket": REPORTS_BUCKET, "key": "access-review/x.md", "json": "access-review/x.json"},
    }


def test_unused_permissions_are_an_l1_summary_and_an_unused_admin_like_grant_also_tells_security():
    context = RunContext("production", REGION, EXECUTION, "/logs")
    request = {"trigger": "schedule", "reason": "quarterly schedule"}
    admin = [{"role": "acso-bg", "policy": "AdministratorAccess", "verdict": "unused", "roleVerdict": "review"}]

    plain = access_review({"request": request, "review": _summary([])}, context)
    flagged = access_review({"request": request, "review": _summary(admin)}, context)

    assert (plain.decision, plain.level, plain.audiences) == ("reported", "L1", ())
    assert "Unused policy: p on acso-r" in plain.lines
    assert (flagged.decision, flagged.level, flagged.audiences) == ("escalated", "L1", ("security",))
    assert "SECURITY: admin-like policy AdministratorAccess on acso-bg, unused" in flagged.lines


# -- what starts it --------------------------------------------------------------------------------------------
def test_the_quarterly_schedule_judges_from_its_time_and_a_console_run_may_shorten_the_window(settings_only):
    settings = settings_only()
    scheduled = normalize_access_review(
        {"detail-type": "Scheduled Event", "source": "aws.events", "id": "evt-9", "time": "2027-01-01T08:00:00Z"},
        settings,
        "exec-1",
        NOW,
    )
    by_hand = normalize_access_review({"reason": "after the incident", "unusedAfterDays": 30}, settings, "x", NOW)

    assert (scheduled.trigger, scheduled.as_of, scheduled.unused_after_days) == (
        "schedule",
        "2027-01-01T08:00:00+00:00",
        90,
    )
    assert (by_hand.trigger, by_hand.as_of, by_hand.unused_after_days) == ("console", NOW.isoformat(), 30)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"reason": "x"},
        {"reason": "quarterly", "unusedAfterDays": 0},
        {"reason": "q4 review", "unusedAfterDays": 401},
        {"reason": "q4", "roles": "*"},
    ],
)
def test_a_bad_console_input_is_rejected_with_an_example(settings_only, bad):
    with pytest.raises(InvalidInput, match=r"Expected|Start this runbook"):
        normalize_access_review(bad, settings_only(), "x", NOW)
