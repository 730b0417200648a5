"""service-unavailable (seed: Incident Response -> Service Unavailable, severity High): find out why fewer tasks run
than desired, then roll back when the newest deployment is the cause (the rollback runbook's steps) or force a new
deployment (restart-agent's restart), wait until the service is stable again (bounded polling) and record; the
record step escalates at the level the escalation matrix gives High when it does not recover.

Every write goes through the guard's last check (`authorize_write`, inside the reused act steps); a dry run records
the exact call instead.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from remediation.adapters import alarms, ecs, state_store
from remediation.clock import utc_now
from remediation.domain import unavailability
from remediation.domain.requests.common import ServiceRequest
from remediation.domain.rollback import parse_revision, revision_of
from remediation.domain.unavailability import Deployment, ServiceFacts
from remediation.logic import restart_agent, rollback
from remediation.logic.guard import lease_resource
from remediation.settings import Settings

ACTION = "unavailable-recover"
RUNBOOK = "service-unavailable"
MAX_STOPPED_TASKS = 20
"""Stopped tasks read (newest first): enough to tell a bad release from crashes, small enough for the record."""


def severity(settings: Settings) -> dict:
    """The seed's severity of an unavailable service and the level the escalation matrix pages for it (L2 with the
    defaults); kept from the first state on, so that even a guard refusal can page it."""
    severities = {level: escalation.severity for level, escalation in settings.escalation.items()}
    return {"severity": unavailability.SEVERITY, "level": unavailability.escalation_level(severities)}


# -- investigate (read only) -----------------------------------------------------------------------------------
def inspect_service(request: ServiceRequest, settings: Settings) -> dict:
    """The service (status, counts, deployments and their rollout states, newest events), the revision it runs and
    the previous ACTIVE one of its family, and which agents' unavailable alarms are in ALARM right now."""
    detail = ecs.describe_service_detail(request.cluster_name, request.service_name)
    running = revision_of(detail["taskDefinition"])
    previous = rollback.find_previous_revision(running)
    names = settings.unavailable_alarms
    states = alarms.states(list(names.values()))
    return detail | {
        "runningRevision": str(running),
        "previousRevision": str(previous) if previous else None,
        "agentsUnavailable": sorted(agent for agent, name in names.items() if states.get(name) == "ALARM"),
    }


def list_stopped_tasks(request: ServiceRequest) -> dict:
    """The service's stopped tasks ECS still keeps, with their stop codes, reasons and exit codes, and how many
    failed to start or crashed after running."""
    tasks = ecs.stopped_tasks(request.cluster_name, request.service_name, MAX_STOPPED_TASKS)
    kinds = Counter(unavailability.task_stop(task).kind for task in tasks)
    return {
        "count": len(tasks),
        "startFailures": kinds["start-failure"],
        "crashes": kinds["crash"],
        "tasks": tasks,
    }


# -- decide (pure rule on the evidence) ---------------------------------------------------------------------------
def decide(request: ServiceRequest, evidence: dict, settings: Settings) -> dict:
    """Roll back, restart, nothing, stand down or escalate (domain/unavailability.py)."""
    service = evidence["service"]
    deployments = tuple(
        found for found in (unavailability.deployment(raw) for raw in service["deployments"]) if found is not None
    )
    if not deployments:  # ECS always lists the primary deployment; be explicit if it ever does not
        running = revision_of(service["taskDefinition"])
        deployments = (
            Deployment(running, "PRIMARY", "COMPLETED", service["runningCount"], service["desiredCount"], 0),
        )
    previous = parse_revision(service["previousRevision"] or "")
    facts = ServiceFacts(service["desiredCount"], service["runningCount"], deployments, previous)
    stops = [unavailability.task_stop(task) for task in evidence["tasks"]["tasks"]]
    remedy = unavailability.decide(
        facts, stops, len(service["agentsUnavailable"]), settings.availability.outage_min_services_down
    )
    return remedy.to_dict()


# -- decide and act, in one step (one Lambda hop less between the alarm and the fix) ---------------------------
REMEDIES = ("rollback", "restart")


def decide_and_recover(request: ServiceRequest, evidence: dict, execution_arn: str, settings: Settings) -> dict:
    """The run's action: what `recover` did with the rule's decision (`plan`) when it is a rollback or a restart;
    otherwise only the plan (`remedy` None, nothing to watch)."""
    plan = decide(request, evidence, settings)
    if plan["action"] not in REMEDIES:
        return {"plan": plan, "remedy": None, "recovering": False}
    return recover(request, plan, execution_arn, settings) | {"plan": plan}


def recover(request: ServiceRequest, plan: dict, execution_arn: str, settings: Settings) -> dict:
    """The decided remedy: `taskDefinition = <previous revision>` (the rollback runbook's deploy, allowed to replace
    the failing deployment) or `forceNewDeployment` (restart-agent's restart); a real one starts this runbook's
    cooldown on the service."""
    if plan["action"] == "rollback":
        result: dict[str, Any] = rollback.deploy_revision(
            request, plan["target"], execution_arn, settings, plan["source"]
        )
        recovering = result["outcome"] == "rolled-back"
    elif plan["action"] == "restart":
        result = restart_agent.restart(request, execution_arn, settings)
        recovering = result["outcome"] == "restarted"
    else:
        raise ValueError(f"no remedy to apply for the decision {plan['action']!r}")
    if recovering:
        state_store.record_action(
            settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
        )
    return result | {
        "remedy": plan["action"],
        "recovering": recovering,
        "startedAt": result.get("deployedAt") or utc_now().isoformat(),
    }


# -- verify (bounded polling) -------------------------------------------------------------------------------------
def check_recovery(
    request: ServiceRequest, action: dict, checks_left: int, execution_arn: str, settings: Settings
) -> dict:
    """One poll: running = desired on one completed deployment (of the target revision after a rollback). The last
    poll that finds it still down counts toward the runbook's circuit breaker."""
    if action["remedy"] == "rollback":
        result = rollback.check_rollout(request, action["to"], checks_left, action["startedAt"])
    else:
        result = restart_agent.check_rollout(request, checks_left)
    result["breaker"] = None
    if not result["stable"] and result["checksLeft"] <= 0:
        failures, opened = state_store.record_failed_verification(
            settings.state_table,
            RUNBOOK,
            execution_arn,
            utc_now(),
            settings.guard.breaker_window_seconds,
            settings.guard.breaker_failures,
        )
        result["breaker"] = {"failures": failures, "threshold": settings.guard.breaker_failures, "opened": opened}
    return result
