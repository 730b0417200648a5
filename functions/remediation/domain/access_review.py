"""access-review (seed: Security Operations, Access Review): the ACSO roles, their attached and inline policies,
and what IAM's last-accessed information says they used, judged against a window (`unusedAfterDays`): unused roles,
policies that grant nothing used in the window, policies only partly used, admin-like grants. Recommendations only:
the review changes nothing.

Pure: no AWS calls. Timestamps are ISO 8601 strings (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

ADMIN_POLICY_NAMES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
ADMIN_SERVICE_COUNT = 50
"""A policy granting this many services or more is admin-like (`"Action": "*"` grants every service)."""
LISTED = 25
"""Service names listed per role or policy in the state and the report; the counts cover the rest."""
PRIORITY = {1: "Security", 2: "Remove", 3: "Narrow"}
SERVICE_LINKED_PATH = "/aws-service-role/"


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _day(value: str | None) -> str:
    return value[:10] if value else "never"


def _listed(names: Sequence[str]) -> dict:
    return {"names": list(names[:LISTED]), "count": len(names)}


def _names(listed: Mapping) -> str:
    more = listed["count"] - len(listed["names"])
    return ", ".join(listed["names"]) + (f" and {more} more" if more > 0 else "") if listed["count"] else "none"


def policy_key(policy: Mapping) -> str:
    """How ListPoliciesGrantingServiceAccess and the role's listings name the same policy."""
    return policy.get("arn") or f"inline:{policy['name']}"


def assess_role(role: Mapping, access: Mapping, now: datetime, unused_after_days: int) -> dict:
    """One role: its last use, each service its policies grant (used in the window, used before, never) and each
    policy's verdict (used, partly-used, unused, no-tracked-service), with what to recommend.

    `role`: name, arn, path, createdAt, lastUsedAt, lastUsedRegion, attached [{name, arn}], inline [name].
    `access`: status (COMPLETED, FAILED, IN_PROGRESS), error, services [{namespace, name, lastAuthenticated}],
    grants {namespace: [policy key]}."""
    cutoff = now - timedelta(days=unused_after_days)
    created, last_used = _at(role.get("createdAt")), _at(role.get("lastUsedAt"))
    too_new = created is not None and created > cutoff
    policies = [{"name": p["name"], "arn": p["arn"], "type": "managed"} for p in role.get("attached", [])]
    policies += [{"name": name, "arn": None, "type": "inline"} for name in role.get("inline", [])]
    result = {
        "name": role["name"],
        "arn": role["arn"],
        "path": role.get("path", "/"),
        "createdAt": role.get("createdAt"),
        "lastUsedAt": role.get("lastUsedAt"),
        "lastUsedRegion": role.get("lastUsedRegion"),
        "tooNew": too_new,
        "serviceLinked": role.get("path", "/").startswith(SERVICE_LINKED_PATH),
        "lastAccessed": access.get("status", "MISSING"),
        "lastAccessedError": access.get("error"),
    }
    role_unused = not too_new and (last_used is None or last_used < cutoff)
    if access.get("status") != "COMPLETED":
        verdict = "unused-role" if role_unused else "not-assessed"
        return result | {
            "verdict": verdict,
            "policies": [
                p | {"verdict": "not-assessed", "adminLike": p["name"] in ADMIN_POLICY_NAMES} for p in policies
            ],
            "used": [],
            "usedBefore": [],
            "neverUsed": _listed([]),
        }
    services = access.get("services", [])
    used = sorted(
        (s for s in services if (_at(s.get("lastAuthenticated")) or cutoff) > cutoff),
        key=lambda s: s["lastAuthenticated"],
        reverse=True,
    )
    used_before = [s for s in services if s.get("lastAuthenticated") and s not in used]
    never = sorted(s["namespace"] for s in services if not s.get("lastAuthenticated"))
    used_namespaces = {s["namespace"] for s in used}
    grants = access.get("grants", {})
    judged = []
    for policy in policies:
        granted = sorted(ns for ns, keys in grants.items() if policy_key(policy) in keys)
        in_use = [ns for ns in granted if ns in used_namespaces]
        unused = [ns for ns in granted if ns not in used_namespaces]
        if not granted:
            policy_verdict = "no-tracked-service"
        elif too_new:
            policy_verdict = "too-new"
        elif not in_use:
            policy_verdict = "unused"
        elif unused:
            policy_verdict = "partly-used"
        else:
            policy_verdict = "used"
        judged.append(
            policy
            | {
                "verdict": policy_verdict,
                "adminLike": policy["name"] in ADMIN_POLICY_NAMES or len(granted) >= ADMIN_SERVICE_COUNT,
                "granted": _listed(granted),
                "usedServices": _listed(in_use),
                "unusedServices": _listed(unused),
            }
        )
    if role_unused and not used:
        verdict = "unused-role"
    elif too_new:
        verdict = "too-new"
    elif any(p["verdict"] in ("unused", "partly-used") for p in judged):
        verdict = "review"
    else:
        verdict = "ok"
    return result | {
        "verdict": verdict,
        "policies": judged,
        "used": [{"namespace": s["namespace"], "at": s["lastAuthenticated"]} for s in used[:LISTED]],
        "usedCount": len(used),
        "usedBefore": [{"namespace": s["namespace"], "at": s["lastAuthenticated"]} for s in used_before[:LISTED]],
        "neverUsed": _listed(never),
    }


_ORDER = {"unused-role": 0, "review": 1, "not-assessed": 2, "too-new": 3, "ok": 4}
"""The report lists the roles that need a person first."""


def review(roles: Sequence[Mapping], listed: int, now: datetime, unused_after_days: int, contains: str) -> dict:
    """The fleet of ACSO roles: what is unused, what to remove or narrow, and what security must hear about."""
    cutoff = now - timedelta(days=unused_after_days)
    recommendations: list[dict] = []
    security: list[dict] = []
    unused_policies, partly_used = [], []
    roles = sorted(roles, key=lambda role: (_ORDER.get(role["verdict"], 9), role["name"]))
    for role in roles:
        name = role["name"]
        if role["verdict"] == "unused-role":
            recommendations.append(_delete_role(role, cutoff))
        for policy in role["policies"]:
            if policy["adminLike"] and (
                role["verdict"] == "unused-role" or policy["verdict"] in ("unused", "partly-used")
            ):
                finding = {
                    "role": name,
                    "policy": policy["name"],
                    "verdict": policy["verdict"],
                    "roleVerdict": role["verdict"],
                }
                security.append(finding)
                recommendations.append(_admin(role, policy))
            if role["verdict"] == "unused-role" or policy["adminLike"]:
                continue  # deleting the role removes its policies; an admin-like grant is security's (above)
            if policy["verdict"] == "unused":
                unused_policies.append(
                    {"role": name, "policy": policy["name"], "type": policy["type"], "arn": policy["arn"]}
                )
                recommendations.append(_remove_policy(role, policy, unused_after_days))
            elif policy["verdict"] == "partly-used":
                partly_used.append({"role": name, "policy": policy["name"], "type": policy["type"]})
                recommendations.append(_narrow(role, policy, unused_after_days))
    unused_roles = [role["name"] for role in roles if role["verdict"] == "unused-role"]
    not_assessed = [
        role["name"] for role in roles if role["verdict"] == "not-assessed" or role["lastAccessed"] != "COMPLETED"
    ]
    return {
        "reviewedAt": now.isoformat(timespec="seconds"),
        "quarter": f"{now.year}-Q{(now.month - 1) // 3 + 1}",
        "unusedAfterDays": unused_after_days,
        "cutoff": cutoff.isoformat(timespec="seconds"),
        "roleNameContains": contains,
        "rolesListed": listed,
        "roles": roles,
        "unusedRoles": unused_roles,
        "unusedPolicies": unused_policies,
        "partlyUsed": partly_used,
        "security": security,
        "notAssessed": not_assessed,
        "recommendations": sorted(recommendations, key=lambda r: r["priority"]),
    }


def _delete_role(role: Mapping, cutoff: datetime) -> dict:
    name, last = role["name"], role.get("lastUsedAt")
    when = f"last used {_day(last)}" if last else "never used"
    if role["serviceLinked"]:
        text = f"Delete the service-linked role {name} ({when}) through the service that created it."
        command = f"aws iam delete-service-linked-role --role-name {name}"
    else:
        policies = len(role["policies"])
        text = (
            f"Delete role {name}: {when} (nothing since {cutoff:%Y-%m-%d}), created {_day(role.get('createdAt'))}"
            + (f"; detach or delete its {policies} polic{'y' if policies == 1 else 'ies'} first" if policies else "")
            + "."
        )
        command = f"aws iam delete-role --role-name {name}"
    return {"priority": 2, "role": name, "policy": None, "action": "delete-role", "text": text, "command": command}


def _remove_command(role: Mapping, policy: Mapping) -> str:
    if policy["type"] == "managed":
        return f"aws iam detach-role-policy --role-name {role['name']} --policy-arn {policy['arn']}"
    return f"aws iam delete-role-policy --role-name {role['name']} --policy-name {policy['name']}"


def _remove_policy(role: Mapping, policy: Mapping, days: int) -> dict:
    text = (
        f"Remove the {policy['type']} policy {policy['name']} from role {role['name']}: none of the services it grants "
        f"({_names(policy['granted'])}) was used in the last {days} days."
    )
    return {
        "priority": 2,
        "role": role["name"],
        "policy": policy["name"],
        "action": "remove-policy",
        "text": text,
        "command": _remove_command(role, policy),
    }


def _narrow(role: Mapping, policy: Mapping, days: int) -> dict:
    text = (
        f"Narrow the {policy['type']} policy {policy['name']} of role {role['name']} to what it used "
        f"({_names(policy['usedServices'])}): {policy['unusedServices']['count']} of its "
        f"{policy['granted']['count']} services were not used in the last {days} days "
        f"({_names(policy['unusedServices'])})."
    )
    return {"priority": 3, "role": role["name"], "policy": policy["name"], "action": "narrow-policy", "text": text}


def _admin(role: Mapping, policy: Mapping) -> dict:
    if role["verdict"] == "unused-role":
        why = "the role itself is unused"
    elif policy["verdict"] == "unused":
        why = "it used none of it"
    else:
        why = f"it used only {_names(policy['usedServices'])}"
    granted = policy.get("granted", {}).get("count", "all")
    text = (
        f"Role {role['name']} holds the admin-like policy {policy['name']} ({granted} services) and {why}: replace "
        "it with a policy for what the role uses, or remove it."
    )
    return {
        "priority": 1,
        "role": role["name"],
        "policy": policy["name"],
        "action": "remove-admin",
        "text": text,
        "command": _remove_command(role, policy),
    }


def verdict(result: Mapping) -> str:
    parts = []
    for key, singular, plural in (
        ("security", "unused admin-like grant", "unused admin-like grants"),
        ("unusedRoles", "unused role", "unused roles"),
        ("unusedPolicies", "unused policy", "unused policies"),
        ("partlyUsed", "partly used policy", "partly used policies"),
    ):
        count = len(result[key])
        if count:
            parts.append(f"{count} {singular if count == 1 else plural}")
    if result["notAssessed"]:
        parts.append(f"{len(result['notAssessed'])} role{'s' if len(result['notAssessed']) != 1 else ''} NOT assessed")
    return ", ".join(parts) if parts else "no unused permission"


# -- Markdown ------------------------------------------------------------------------------------------------
_VERDICT_TEXT = {
    "ok": "in use",
    "review": "**unused permissions**",
    "unused-role": "**UNUSED ROLE**",
    "too-new": "too new to judge",
    "not-assessed": "**not assessed**",
}


def markdown(result: Mapping, environment: str, trigger: str, role_links: Mapping[str, str]) -> str:
    reviewed_at = datetime.fromisoformat(result["reviewedAt"])
    days, headline = result["unusedAfterDays"], verdict(result)
    lines = [
        f"# ACSO {environment} access review, {result['quarter']}",
        "",
        f"**{headline[0].upper() + headline[1:]}.** {len(result['roles'])} of the {result['rolesListed']} IAM roles "
        f"of the account have `{result['roleNameContains']}` in their name. A permission or role counts as unused "
        f"when it was not used in the last {days} days (since {result['cutoff'][:10]}). Reviewed "
        f"{reviewed_at:%a %d %b %Y %H:%M} UTC; nothing was changed.",
        "",
        "## Roles",
        "",
        "| Role | Last used | Policies | Services used | Unused services | Verdict |",
        "|---|---|--:|---|---|---|",
    ]
    for role in result["roles"]:
        link = role_links.get(role["name"])
        name = f"[{role['name']}]({link})" if link else role["name"]
        used = ", ".join(s["namespace"] for s in role.get("used", [])[:8]) or "none"
        if role.get("usedCount", 0) > 8:
            used += f" (+{role['usedCount'] - 8})"
        unused = len(role.get("usedBefore", [])) + role.get("neverUsed", {}).get("count", 0)
        lines.append(
            f"| {name} | {_day(role.get('lastUsedAt'))} | {len(role['policies'])} | {used} | {unused} | "
            f"{_VERDICT_TEXT.get(role['verdict'], role['verdict'])} |"
        )
    lines += ["", "## Recommendations", ""]
    if result["recommendations"]:
        for index, recommendation in enumerate(result["recommendations"], 1):
            lines.append(f"{index}. **{PRIORITY[recommendation['priority']]}**: {recommendation['text']}")
            if recommendation.get("command"):
                lines.append(f"   `{recommendation['command']}`")
    else:
        lines.append(f"None: every ACSO role used each permission it holds within the last {days} days.")
    if result["notAssessed"]:
        lines += [
            "",
            "Not assessed (IAM's last-accessed job did not complete): " + ", ".join(result["notAssessed"]) + ".",
        ]
    lines += ["", "## Role details", ""]
    for role in result["roles"]:
        lines += _role_section(role, days)
    lines += [
        "## Method",
        "",
        f"- `iam:ListRoles` (every page), keeping the roles whose name contains `{result['roleNameContains']}`; "
        "`GetRole` for RoleLastUsed; `ListAttachedRolePolicies` and `ListRolePolicies` for the policies.",
        "- `GenerateServiceLastAccessedDetails` per role, polled with `GetServiceLastAccessedDetails` until complete: "
        "every service the role's policies grant, and when the role last authenticated to it (IAM tracks 400 days).",
        "- `ListPoliciesGrantingServiceAccess` maps each service to the policies granting it: a policy none of whose "
        f"services was used in {days} days is unused; one with some unused services is partly used.",
        "- Service-level data: a used service may still have unused actions. A role created within the window is too "
        "new to judge. The review is read only; every change above is for a person to make.",
        "",
        f"_Generated {result['reviewedAt']} ({trigger}). The same data as JSON sits next to this file._",
        "",
    ]
    return "\n".join(lines)


def _role_section(role: Mapping, days: int) -> list[str]:
    created, last = _day(role.get("createdAt")), _day(role.get("lastUsedAt"))
    region = f" in {role['lastUsedRegion']}" if role.get("lastUsedRegion") else ""
    lines = [
        f"### {role['name']}",
        "",
        f"Created {created}, last used {last}{region}. Verdict: {_VERDICT_TEXT.get(role['verdict'], role['verdict'])}."
        + (f" Last-accessed data: {role['lastAccessed']}." if role["lastAccessed"] != "COMPLETED" else ""),
        "",
    ]
    if role["policies"]:
        lines += ["| Policy | Type | Grants | Used in the window | Verdict |", "|---|---|---|---|---|"]
        for policy in role["policies"]:
            granted = _names(policy["granted"]) if "granted" in policy else "?"
            in_use = _names(policy["usedServices"]) if "usedServices" in policy else "?"
            admin = " (admin-like)" if policy["adminLike"] else ""
            lines.append(
                f"| {policy['name']}{admin} | {policy['type']} | {granted} | {in_use} | "
                f"{policy['verdict'].replace('-', ' ')} |"
            )
        lines.append("")
    else:
        lines += ["No policies attached or inline.", ""]
    if role.get("usedBefore"):
        earlier = ", ".join(f"{s['namespace']} ({_day(s['at'])})" for s in role["usedBefore"])
        lines += [f"Used before the last {days} days only: {earlier}.", ""]
    if role.get("neverUsed", {}).get("count"):
        lines += [f"Never used: {_names(role['neverUsed'])}.", ""]
    return lines
