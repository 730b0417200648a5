"""access-review (seed: Access Review): the ACSO roles and their policies, IAM's last-accessed information per role
(an asynchronous job the state machine polls with a Wait loop), then the report (Markdown + a JSON twin in the
reports bucket) and a short summary for the record step. Read only towards IAM: it changes no role or policy."""

from __future__ import annotations

import json
from datetime import datetime

from remediation.adapters import iam, reports
from remediation.domain import access_review as rules
from remediation.domain import links
from remediation.domain.requests.scheduled_reviews import AccessReviewRequest
from remediation.settings import Settings

RUNBOOK = "access-review"
SUMMARY_RECOMMENDATIONS = 6


def list_roles(settings: Settings) -> dict:
    """The roles whose name contains `accessReview.roleNameContains` (every page), each with its last use and its
    attached and inline policies."""
    roles, listed = iam.roles_containing(settings.access_review.role_name_contains)
    for role in roles:
        role["lastUsedAt"], role["lastUsedRegion"] = iam.role_last_used(role["name"])
        role["attached"] = iam.attached_policies(role["name"])
        role["inline"] = iam.inline_policy_names(role["name"])
    return {"roles": roles, "listed": listed}


def start_last_accessed(roles: list[dict], settings: Settings) -> dict:
    """One service-level last-accessed job per role; the state machine waits, then `collect_last_accessed`."""
    policy = settings.access_review
    return {
        "jobs": {role["name"]: iam.start_last_accessed_job(role["arn"]) for role in roles},
        "pending": [role["name"] for role in roles],
        "assessed": [],
        "checks": 0,
        "maxChecks": policy.last_accessed_checks,
        "waitSeconds": policy.last_accessed_poll_seconds,
        "complete": False,
    }


def collect_last_accessed(request: AccessReviewRequest, roles: list[dict], state: dict) -> dict:
    """Check the jobs still pending; assess each role whose job has finished (its services, and which policy grants
    each). Complete when none is pending, or after `maxChecks` checks (the rest is reported as not assessed)."""
    now, by_name = datetime.fromisoformat(request.as_of), {role["name"]: role for role in roles}
    checks, assessed, pending = state["checks"] + 1, list(state["assessed"]), []
    for name in state["pending"]:
        role, found = by_name[name], iam.last_accessed(state["jobs"][name])
        if found.status == "IN_PROGRESS" and checks < state["maxChecks"]:
            pending.append(name)
            continue
        access: dict = {"status": found.status, "error": found.error, "services": found.services, "grants": {}}
        if found.status == "COMPLETED" and found.services:
            access["grants"] = iam.policies_granting(role["arn"], [s["namespace"] for s in found.services])
        assessed.append(rules.assess_role(role, access, now, request.unused_after_days))
    order = {role["name"]: index for index, role in enumerate(roles)}
    return state | {
        "checks": checks,
        "pending": pending,
        "assessed": sorted(assessed, key=lambda role: order[role["name"]]),
        "complete": not pending,
    }


def publish_report(request: AccessReviewRequest, assessed: list[dict], listed: int, settings: Settings) -> dict:
    """Judge the fleet (domain), write report.md and its JSON twin under access-review/, and return what the
    notification needs."""
    now = datetime.fromisoformat(request.as_of)
    result = rules.review(assessed, listed, now, request.unused_after_days, settings.access_review.role_name_contains)
    key = f"{RUNBOOK}/{now:%Y/%m/%d}/{now:%H%M%S}"
    body = rules.markdown(
        result,
        settings.environment,
        f"{request.trigger}: {request.reason}",
        {role["name"]: links.iam_role(role["name"]) for role in assessed},
    )
    reports.put_report(settings.reports_bucket, f"{key}.md", body, "text/markdown; charset=utf-8")
    twin = {"schema": 1, "environment": settings.environment, "request": request.model_dump()} | result
    reports.put_report(settings.reports_bucket, f"{key}.json", json.dumps(twin, indent=2), "application/json")
    return {
        "verdict": rules.verdict(result),
        "quarter": result["quarter"],
        "unusedAfterDays": result["unusedAfterDays"],
        "roles": len(assessed),
        "listed": listed,
        "roleNameContains": result["roleNameContains"],
        "unusedRoles": result["unusedRoles"],
        "unusedPolicies": result["unusedPolicies"][:10],
        "unusedPolicyCount": len(result["unusedPolicies"]),
        "partlyUsed": len(result["partlyUsed"]),
        "security": result["security"],
        "notAssessed": result["notAssessed"],
        "recommendations": [
            {"priority": r["priority"], "text": r["text"]} for r in result["recommendations"][:SUMMARY_RECOMMENDATIONS]
        ],
        "recommendationCount": len(result["recommendations"]),
        "report": {"bucket": settings.reports_bucket, "key": f"{key}.md", "json": f"{key}.json"},
    }
