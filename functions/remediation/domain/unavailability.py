"""service-unavailable rules: why fewer tasks run than desired, and which remedy fits. Pure: the caller
(logic/service_unavailable.py) reads ECS and CloudWatch and hands the facts in.

The seed's procedure (Incident Response -> Service Unavailable, severity High): restart the service (force a new
deployment), and roll back when the newest deployment is the cause. Here the newest deployment is the cause when
its rollout has not completed (IN_PROGRESS or FAILED) and its own tasks fail to start (stopped within
`STARTUP_SECONDS` of starting, or never started, or counted as failed by ECS). Tasks of a completed deployment that
crash after running are not the release's fault: a fresh deployment of the same revision is the remedy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from remediation.domain.rollback import Revision, parse_revision

STARTUP_SECONDS = 120
"""A task that stopped within this many seconds of starting failed to start (it crashed during startup)."""
SEVERITY = "High"
"""The seed's severity of a service that is unavailable."""
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_START_FAILED = "TaskFailedToStart"
_STOPPED_ON_PURPOSE = "UserInitiated"
_DEPLOYMENT_STOPS = ("Scaling activity initiated by", "deployment")

StopKind = Literal["start-failure", "crash", "replaced"]
Action = Literal["rollback", "restart", "none", "escalate", "stand-down"]


@dataclass(frozen=True)
class TaskStop:
    """One stopped task of the service, as ECS describes it."""

    revision: Revision | None
    stop_code: str
    reason: str
    ran_seconds: float | None
    """Seconds between started and stopped; None when the task never started."""

    @property
    def kind(self) -> StopKind:
        """start-failure: never started or died during startup; crash: died after running; replaced: stopped by a
        person, a deployment or a scale-in."""
        if self.stop_code == _START_FAILED:
            return "start-failure"
        if self.stop_code == _STOPPED_ON_PURPOSE or (
            self.stop_code == "ServiceSchedulerInitiated" and any(text in self.reason for text in _DEPLOYMENT_STOPS)
        ):
            return "replaced"
        if self.ran_seconds is None or self.ran_seconds < STARTUP_SECONDS:
            return "start-failure"
        return "crash"


@dataclass(frozen=True)
class Deployment:
    revision: Revision
    status: str
    """PRIMARY (the newest) or ACTIVE (an older one still running tasks)."""
    rollout_state: str
    """COMPLETED, IN_PROGRESS or FAILED."""
    running: int
    desired: int
    failed_tasks: int


@dataclass(frozen=True)
class ServiceFacts:
    desired: int
    running: int
    deployments: tuple[Deployment, ...]
    """The PRIMARY deployment first."""
    previous: Revision | None
    """The newest ACTIVE revision of the family older than the running one (None: there is none)."""

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]


@dataclass(frozen=True)
class Remedy:
    action: Action
    why: str
    source: str
    """The revision the service runs (its primary deployment's)."""
    target: str | None = None
    """The revision to roll back to (action rollback)."""
    start_failures: int = 0
    crashes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def task_stop(task: Mapping) -> TaskStop:
    """A stopped task from the evidence (logic/service_unavailable.py `stopped_tasks`): ISO times, `family:revision`."""
    started, stopped = _instant(task.get("startedAt")), _instant(task.get("stoppedAt"))
    ran = (stopped - started).total_seconds() if started and stopped else None
    return TaskStop(
        parse_revision(str(task.get("taskDefinition") or "")),
        str(task.get("stopCode") or ""),
        str(task.get("stoppedReason") or ""),
        ran,
    )


def deployment(raw: Mapping) -> Deployment | None:
    revision = parse_revision(str(raw.get("taskDefinition") or ""))
    if revision is None:
        return None
    return Deployment(
        Revision(revision.family, revision.revision),
        str(raw.get("status") or ""),
        str(raw.get("rolloutState") or "COMPLETED"),
        int(raw.get("runningCount") or 0),
        int(raw.get("desiredCount") or 0),
        int(raw.get("failedTasks") or 0),
    )


def decide(
    facts: ServiceFacts, stops: Iterable[TaskStop], agents_down: int = 1, outage_threshold: int | None = None
) -> Remedy:
    """The remedy, by these rules in this order:

    1. `agents_down` >= `outage_threshold`: a complete outage, the complete-outage runbook's (stand-down);
    2. nothing desired, or every desired task running on one completed deployment: nothing to recover (none);
    3. the newest deployment fails to start its tasks (rollout IN_PROGRESS or FAILED, and its tasks stop at start
       or ECS counts failed tasks): roll back to the older deployment still running or, without one, the previous
       ACTIVE revision, unless that one fails to start too or there is none (escalate);
    4. a rollout in progress without any failure: ECS is still starting tasks, not interfered with (escalate);
    5. otherwise (tasks of a healthy deployment crashed or went missing): force a new deployment (restart).
    """
    stops = list(stops)
    primary = facts.primary
    source = str(primary.revision)
    failures = [stop for stop in stops if stop.kind == "start-failure"]
    crashes = sum(1 for stop in stops if stop.kind == "crash")
    own_failures = sum(1 for stop in failures if _same(stop.revision, primary.revision))
    counts = {"source": source, "start_failures": len(failures), "crashes": crashes}
    missing = f"{facts.running} of {facts.desired} tasks running"
    if outage_threshold is not None and agents_down >= outage_threshold:
        return Remedy(
            "stand-down",
            f"{agents_down} agents are unavailable at once (complete-outage threshold {outage_threshold}): the "
            "complete-outage runbook handles it; no single-service action",
            **counts,
        )
    if facts.desired == 0:
        return Remedy("none", "desired count is 0 (stopped on purpose): nothing to recover", **counts)
    if facts.running >= facts.desired and len(facts.deployments) == 1 and primary.rollout_state == "COMPLETED":
        return Remedy("none", f"recovered already: {missing}, deployment of {source} completed", **counts)
    failing = primary.rollout_state in ("IN_PROGRESS", "FAILED") and (
        own_failures > 0 or primary.failed_tasks > 0 or primary.rollout_state == "FAILED"
    )
    if failing:
        evidence = (
            f"the newest deployment ({source}, rollout {primary.rollout_state}) fails to start its tasks "
            f"({own_failures} stopped at start, {primary.failed_tasks} failed per ECS); {missing}"
        )
        target = _rollback_target(facts)
        if target is None:
            return Remedy("escalate", f"{evidence}; no older revision to roll back to", **counts)
        if any(_same(stop.revision, target) for stop in failures):
            return Remedy(
                "escalate", f"{evidence}; {target} failed to start too, rolling back would not help", **counts
            )
        return Remedy("rollback", f"{evidence}; rolling back to {target}", target=str(target), **counts)
    if primary.rollout_state == "IN_PROGRESS" or len(facts.deployments) > 1:
        return Remedy(
            "escalate",
            f"a deployment of {source} is in progress without failed tasks ({missing}): ECS is still starting "
            "tasks; not interfering with it",
            **counts,
        )
    cause = f"{crashes} task(s) crashed after running" if crashes else "tasks are missing"
    return Remedy(
        "restart", f"{cause} on a healthy deployment of {source} ({missing}): forcing a new deployment", **counts
    )


def _rollback_target(facts: ServiceFacts) -> Revision | None:
    """The older deployment still running tasks (what ran before the newest), else the previous ACTIVE revision."""
    primary = facts.primary.revision
    older = [
        d.revision
        for d in facts.deployments[1:]
        if d.revision.family == primary.family and d.revision.revision < primary.revision
    ]
    return max(older, key=lambda revision: revision.revision, default=facts.previous)


def _same(revision: Revision | None, other: Revision) -> bool:
    return revision is not None and (revision.family, revision.revision) == (other.family, other.revision)


def escalation_level(severities: Mapping[str, str], severity: str = SEVERITY) -> str:
    """The escalation matrix's level for a severity: the first level (L1, L2, ...) whose severity is at least this
    one (the defaults map High to L2, the development team lead, 5 minutes); the last level when none is."""
    wanted = _SEVERITY_RANK.get(severity.lower(), len(_SEVERITY_RANK))
    ordered = sorted(severities)
    return next(
        (level for level in ordered if _SEVERITY_RANK.get(severities[level].lower(), -1) >= wanted),
        ordered[-1],
    )


def _instant(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
