"""IAM adapter for the access review: roles, their policies, and IAM's last-accessed information. Read only
(`GenerateServiceLastAccessedDetails` only starts a report job; IAM lists it under the Read access level)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code

NAMESPACES_PER_CALL = 200
"""ListPoliciesGrantingServiceAccess takes at most 200 service namespaces a call."""
MAX_PAGES = 50


def _iso(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if isinstance(value, datetime) else None


def roles_containing(text: str) -> tuple[list[dict], int]:
    """Every role of the account (all pages) whose name contains `text` (case-sensitive, like the seed's JMESPath
    `contains(RoleName, 'acso')`), and how many roles the account has."""
    matching, listed = [], 0
    with aws_errors("iam.ListRoles"):
        for page in client("iam").get_paginator("list_roles").paginate():
            for role in page.get("Roles", []):
                listed += 1
                if text in role["RoleName"]:
                    matching.append(
                        {
                            "name": role["RoleName"],
                            "arn": role["Arn"],
                            "path": role.get("Path", "/"),
                            "createdAt": _iso(role.get("CreateDate")),
                        }
                    )
    return matching, listed


def role_last_used(name: str) -> tuple[str | None, str | None]:
    """(when, region) the role was last used to make a request (IAM tracks the trailing 400 days); None if never."""
    with aws_errors("iam.GetRole"):
        last = client("iam").get_role(RoleName=name)["Role"].get("RoleLastUsed") or {}
    return _iso(last.get("LastUsedDate")), last.get("Region")


def attached_policies(name: str) -> list[dict]:
    with aws_errors("iam.ListAttachedRolePolicies"):
        pages = client("iam").get_paginator("list_attached_role_policies").paginate(RoleName=name)
        return [{"name": p["PolicyName"], "arn": p["PolicyArn"]} for page in pages for p in page["AttachedPolicies"]]


def inline_policy_names(name: str) -> list[str]:
    with aws_errors("iam.ListRolePolicies"):
        pages = client("iam").get_paginator("list_role_policies").paginate(RoleName=name)
        return [policy for page in pages for policy in page["PolicyNames"]]


def start_last_accessed_job(arn: str) -> str:
    """Start IAM's service-level last-accessed report for one role; returns its job id."""
    with aws_errors("iam.GenerateServiceLastAccessedDetails"):
        return client("iam").generate_service_last_accessed_details(Arn=arn, Granularity="SERVICE_LEVEL")["JobId"]


@dataclass(frozen=True)
class LastAccessed:
    status: str
    """IN_PROGRESS, COMPLETED or FAILED (or MISSING: IAM no longer knows the job)."""
    services: list[dict] = field(default_factory=list)
    """[{namespace, name, lastAuthenticated (ISO or None), region}] for every service the role's policies grant."""
    error: str | None = None


def last_accessed(job_id: str) -> LastAccessed:
    """The job's status, and once COMPLETED every service it lists (all pages)."""
    iam, request, services = client("iam"), {"JobId": job_id, "MaxItems": 1000}, []
    with aws_errors("iam.GetServiceLastAccessedDetails"):
        for _ in range(MAX_PAGES):
            try:
                page = iam.get_service_last_accessed_details(**request)
            except ClientError as error:
                if error_code(error) in ("NoSuchEntity", "NoSuchEntityException"):
                    return LastAccessed("MISSING", error=f"job {job_id} not found")
                raise
            if page["JobStatus"] != "COMPLETED":
                failure = page.get("Error") or {}
                return LastAccessed(page["JobStatus"], error=failure.get("Message"))
            services += [
                {
                    "namespace": service["ServiceNamespace"],
                    "name": service.get("ServiceName", service["ServiceNamespace"]),
                    "lastAuthenticated": _iso(service.get("LastAuthenticated")),
                    "region": service.get("LastAuthenticatedRegion"),
                }
                for service in page.get("ServicesLastAccessed", [])
            ]
            if not page.get("IsTruncated"):
                break
            request["Marker"] = page["Marker"]
    return LastAccessed("COMPLETED", services)


def policies_granting(arn: str, namespaces: list[str]) -> dict[str, list[str]]:
    """Service namespace -> the role's policies granting it: a managed policy by ARN, an inline one as
    `inline:<name>` (domain/access_review.py `policy_key`)."""
    grants: dict[str, list[str]] = {}
    iam = client("iam")
    with aws_errors("iam.ListPoliciesGrantingServiceAccess"):
        for start in range(0, len(namespaces), NAMESPACES_PER_CALL):
            request: dict[str, Any] = {"Arn": arn, "ServiceNamespaces": namespaces[start : start + NAMESPACES_PER_CALL]}
            for _ in range(MAX_PAGES):
                page = iam.list_policies_granting_service_access(**request)
                for entry in page.get("PoliciesGrantingServiceAccess", []):
                    keys = grants.setdefault(entry["ServiceNamespace"], [])
                    for policy in entry.get("Policies", []):
                        if policy.get("PolicyType") == "INLINE" and policy.get("EntityType", "ROLE") != "ROLE":
                            continue  # a group's or user's inline policy cannot be the role's
                        key = policy.get("PolicyArn") or f"inline:{policy['PolicyName']}"
                        if key not in keys:
                            keys.append(key)
                if not page.get("IsTruncated"):
                    break
                request["Marker"] = page["Marker"]
    return grants
