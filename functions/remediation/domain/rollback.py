"""Rollback rules: what a task-definition revision is, which one is "the previous", which one a service
may be rolled back to. Pure: the callers read ECS (logic/rollback.py) and hand the facts in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from remediation.errors import InvalidInput

# ECS: a family is up to 255 letters, digits, hyphens and underscores; a revision is a positive integer.
_FAMILY_REVISION = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255}):(?P<revision>[1-9][0-9]{0,8})$")
_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):task-definition/(?P<name>.+)$"
)


@dataclass(frozen=True, order=True)
class Revision:
    """One task-definition revision, `family:revision` (ordered by family, then revision); account and region
    only when read from an ARN."""

    family: str
    revision: int
    account: str | None = field(default=None, compare=False)
    region: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.family}:{self.revision}"


def parse_revision(value: str) -> Revision | None:
    """`family:revision` or a task-definition ARN ending in it; None for anything else (a bare family, a
    wildcard, "latest", a revision 0...)."""
    text = value.strip()
    arn = _ARN.match(text)
    match = _FAMILY_REVISION.match(arn.group("name") if arn else text)
    if not match:
        return None
    return Revision(
        match.group("family"),
        int(match.group("revision")),
        arn.group("account") if arn else None,
        arn.group("region") if arn else None,
    )


def revision_of(task_definition: str) -> Revision:
    """The revision a service runs, as ECS reports it (an ARN, or `family:revision`)."""
    revision = parse_revision(task_definition)
    if revision is None:
        raise ValueError(f"not a task-definition revision: {task_definition!r}")
    return revision


def requested_revision(value: str, account_id: str, region: str, example: str) -> Revision:
    """The revision typed in the console: well formed, and an ARN only of this account and region."""
    revision = parse_revision(value)
    if revision is None:
        raise InvalidInput(
            f"taskDefinition {value!r} is not a task-definition revision: give `family:revision` (e.g. "
            f"acso-production-supervisor:7) or its full ARN, or leave it out to roll back to the previous "
            f"revision. Expected {example}."
        )
    if revision.account is not None and (revision.account, revision.region) != (account_id, region):
        raise InvalidInput(
            f"taskDefinition {value!r} belongs to account {revision.account} in {revision.region}; this "
            f"automation acts only on account {account_id} in {region}. Expected {example}."
        )
    return revision


def previous_revision(running: Revision, active: Iterable[Revision]) -> Revision | None:
    """The newest ACTIVE revision of the running family older than the running one (None: there is none)."""
    older = [revision for revision in active if revision.family == running.family and revision < running]
    return max(older, key=lambda revision: revision.revision, default=None)


def check_rollback_target(service: str, running: Revision, target: Revision, status: str | None) -> Revision:
    """The rules a given rollback target must meet, in this order; returns it as `family:revision`.

    `status` is what ECS says of the target: "ACTIVE", "INACTIVE" (deregistered), or None (no such revision).
    """
    example = f'{{"service": "{service}", "taskDefinition": "{running.family}:<revision>", "reason": "..."}}'
    if target.family != running.family:
        raise InvalidInput(
            f"taskDefinition {target} is a revision of family {target.family}, but {service} runs {running} "
            f"(family {running.family}): a rollback stays within the running family. Expected a revision of "
            f"{running.family}, e.g. {example}."
        )
    if target.revision == running.revision:
        raise InvalidInput(
            f"{service} already runs {running}: nothing to roll back. Expected an older revision of "
            f"{running.family}, or leave taskDefinition out to roll back to the previous ACTIVE one, e.g. {example}."
        )
    if status is None:
        raise InvalidInput(
            f"taskDefinition {target} does not exist. Expected an existing ACTIVE revision of {running.family}, "
            f"e.g. {example}."
        )
    if status != "ACTIVE":
        raise InvalidInput(
            f"taskDefinition {target} is {status} (deregistered) and cannot be deployed. Expected an ACTIVE "
            f"revision of {running.family}, e.g. {example}."
        )
    return Revision(target.family, target.revision)
