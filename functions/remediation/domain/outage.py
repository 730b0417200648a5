"""Complete system outage, the pure part: what each agent service's state means, whether the fleet is in a
complete outage, what a failover to the DR region would do, and the words a paged person reads.

No AWS calls and no clock reads. Service states are the dicts of `adapters.ecs.ServiceState.to_dict()`, or None
for a service that is missing or no longer ACTIVE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

UP, DEGRADED, DOWN, MISSING, STOPPED, UNKNOWN = "up", "degraded", "down", "missing", "stopped", "unknown"
# How a condition reads in a notification, worst first.
_ORDER = (MISSING, DOWN, UNKNOWN, DEGRADED, STOPPED, UP)
_LABEL = {MISSING: "MISSING", DOWN: "DOWN", UNKNOWN: "UNKNOWN", DEGRADED: "DEGRADED", STOPPED: "STOPPED", UP: "up"}


def condition_of(state: Mapping[str, Any] | None) -> str:
    """missing (no ACTIVE service) | stopped (desired 0: deliberately, e.g. isolated) | down (desired > 0, none
    running) | degraded (some running, fewer than desired) | up."""
    if state is None or state.get("status") != "ACTIVE":
        return MISSING
    desired, running = state["desired_count"], state["running_count"]
    if desired == 0:
        return STOPPED
    if running == 0:
        return DOWN
    return DEGRADED if running < desired else UP


def assess(states: Mapping[str, Mapping[str, Any] | None], service_names: Mapping[str, str], threshold: int) -> dict:
    """Every configured agent's condition and the verdict: a complete outage when at least `threshold` services
    serve nothing (down or missing). Degraded services are reported, not counted: some tasks still serve."""
    services = {}
    for agent, service_name in service_names.items():
        state = states.get(agent)
        services[agent] = {
            "serviceName": service_name,
            "condition": condition_of(state),
            "running": state["running_count"] if state else 0,
            "desired": state["desired_count"] if state else 0,
            "pending": state["pending_count"] if state else 0,
            "deployments": state["deployments"] if state else 0,
            "rolloutState": state["rollout_state"] if state else "",
            "taskDefinition": state["task_definition"].rsplit("/", 1)[-1] if state else "",
            "lastEvents": list(state["recent_events"][:2]) if state else [],
        }
    by_condition = {condition: [a for a, s in services.items() if s["condition"] == condition] for condition in _ORDER}
    out_of_service = by_condition[DOWN] + by_condition[MISSING]
    return {
        "outage": len(out_of_service) >= threshold,
        "threshold": threshold,
        "total": len(services),
        "outOfService": out_of_service,
        "down": by_condition[DOWN],
        "missing": by_condition[MISSING],
        "degraded": by_condition[DEGRADED],
        "stopped": by_condition[STOPPED],
        "up": by_condition[UP],
        "services": services,
        "headline": headline(len(out_of_service), len(services), threshold),
    }


def unreadable(service_names: Mapping[str, str], threshold: int, error: str) -> dict:
    """ECS could not be read (in a regional outage its API may fail too): the alarm or the operator that started
    the run is the evidence, so it counts as an outage; every service's condition is unknown."""
    services = {
        agent: {
            "serviceName": service_name,
            "condition": UNKNOWN,
            "running": 0,
            "desired": 0,
            "pending": 0,
            "deployments": 0,
            "rolloutState": "",
            "taskDefinition": "",
            "lastEvents": [],
        }
        for agent, service_name in service_names.items()
    }
    return {
        "outage": True,
        "unreadable": error,
        "threshold": threshold,
        "total": len(services),
        "outOfService": [],
        "down": [],
        "missing": [],
        "degraded": [],
        "stopped": [],
        "up": [],
        "services": services,
        "headline": f"ECS could not be read ({error}): taken as a complete outage, as reported",
    }


def headline(out_of_service: int, total: int, threshold: int) -> str:
    verdict = "COMPLETE OUTAGE" if out_of_service >= threshold else "not a complete outage"
    return f"{out_of_service} of {total} services down ({verdict}: the threshold is {threshold})"


def service_lines(assessment: Mapping[str, Any]) -> list[str]:
    """One line per service, worst first, with its last ECS event when it is not up."""
    services = assessment["services"]
    lines = []
    for agent in sorted(services, key=lambda a: (_ORDER.index(services[a]["condition"]), a)):
        service = services[agent]
        condition = service["condition"]
        if condition in (MISSING, UNKNOWN):
            what = "not found or not ACTIVE" if condition == MISSING else "state unknown"
            lines.append(f"  {_LABEL[condition]:<8} {agent}: {service['serviceName']} {what}")
            continue
        lines.append(
            f"  {_LABEL[condition]:<8} {agent}: {service['running']} running / {service['desired']} desired, "
            f"{service['pending']} pending, {service['deployments']} deployment(s) {service['rolloutState']}, "
            f"{service['taskDefinition']}"
        )
        if condition != UP:
            lines += [f"           last event: {event[:200]}" for event in service["lastEvents"][:1]]
    return lines


# -- Failover ----------------------------------------------------------------------------------------------------


def plan_failover(
    assessment: Mapping[str, Any],
    dr_states: Mapping[str, Mapping[str, Any] | None],
    *,
    floor: int,
    cap: int,
) -> dict:
    """What a failover would do in the DR region: each agent that production wants running (desired > 0) runs
    there with production's desired count, held within [floor, cap]; agents stopped on purpose in production stay
    as they are in DR. Not possible when a DR service is missing: a partial platform is not a failover."""
    missing = [agent for agent in assessment["services"] if condition_of(dr_states.get(agent)) == MISSING]
    if missing:
        return {"possible": False, "why": f"DR services missing or not ACTIVE: {', '.join(missing)}", "targets": []}
    targets = []
    for agent, service in assessment["services"].items():
        dr = dr_states[agent] or {}
        if service["condition"] == STOPPED:
            continue  # desired 0 in production on purpose (e.g. isolated): never started elsewhere by automation
        known = service["condition"] not in (MISSING, UNKNOWN)
        wanted = service["desired"] if known else dr.get("desired_count", 0)
        targets.append(
            {
                "agent": agent,
                "serviceName": service["serviceName"],
                "drDesiredBefore": dr["desired_count"],
                "drRunningBefore": dr["running_count"],
                "target": min(max(wanted, floor), cap),
            }
        )
    if not targets:
        return {"possible": False, "why": "no agent is meant to run in production (all desired 0)", "targets": []}
    return {"possible": True, "why": "", "targets": targets}


def dr_readiness(
    targets: Sequence[Mapping[str, Any]], dr_states: Mapping[str, Mapping[str, Any] | None]
) -> tuple[bool, list[str]]:
    """Ready when every DR service runs its target count; the agents still short otherwise."""
    lagging = []
    for target in targets:
        state = dr_states.get(target["agent"])
        if state is None or state["running_count"] < target["target"] or state["desired_count"] != target["target"]:
            lagging.append(target["agent"])
    return not lagging, lagging


def target_lines(targets: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        f"  {t['agent']}: desired {t['drDesiredBefore']} -> {t['target']} ({t['drRunningBefore']} running now)"
        for t in targets
    ]


def manual_failover_commands(
    targets: Sequence[Mapping[str, Any]], dr_region: str, dr_cluster: str, parameter: str
) -> list[str]:
    """The same failover by hand, for a person, when automation cannot or may not do it."""
    commands = [
        f"  aws ecs update-service --region {dr_region} --cluster {dr_cluster} --service {t['serviceName']} "
        f"--desired-count {t['target']}"
        for t in targets
    ]
    commands.append(f"  aws ssm put-parameter --overwrite --name {parameter} --value {dr_region}")
    return commands


def proposal(targets: Sequence[Mapping[str, Any]], primary_region: str, dr_region: str, dry_run: bool) -> dict:
    """The approval request's proposal: names the action, the agents and the region change."""
    return {
        "action": "dr-failover" + (" (dry run)" if dry_run else ""),
        "service": f"{len(targets)} agent services to {dr_region}",
        "from": {"activeRegion": primary_region},
        "to": {"activeRegion": dr_region},
        "impact": f"scale {', '.join(t['agent'] for t in targets)} up in {dr_region}, then route traffic there",
    }
