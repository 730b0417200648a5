"""complete-outage (seed: Emergency Procedures, Complete System Outage): assess every agent service, page L3 and
L4, and offer a failover to the DR region that only a person can approve.

The failover, once approved:
1. each DR service (same cluster and service names, in `dr.region`) gets production's desired count (absolute
   `desiredCount`, within floor and cap; agents stopped on purpose in production stay as they are);
2. when every DR service runs its count, the active-region parameter (`dr.activeRegionParameter`, read by the
   routing layer) is set to the DR region. Never before: traffic is not sent to a region that does not run.

One outage run at a time: the guard takes a fleet-wide lease (`<cluster>/dr-failover`) held for the whole run, so
two runs (the alarm and an operator, or a re-delivered event) never both offer a failover.
"""

from __future__ import annotations

from datetime import datetime

from remediation.adapters import ecs, notifier, routing, state_store
from remediation.clock import utc_now
from remediation.domain import leases, links, outage
from remediation.domain.leases import failover_lease
from remediation.domain.requests.incidents import OutageRequest
from remediation.errors import AwsAccessDenied, AwsCallFailed, RunbookError
from remediation.logic.guard import automation_paused
from remediation.settings import Settings

RUNBOOK = "complete-outage"
ACTION = leases.FAILOVER
RUN_LIMIT_SECONDS = 7200
"""The state machine's TimeoutSeconds (state_machines/complete_outage.asl.json): the fleet lease lasts that long."""
PAGED_LEVELS = ("L3", "L4")
_CLAIM_TTL_SECONDS = 7 * 24 * 3600  # longer than EventBridge's 24 h retry window
_PLAN_TTL_SECONDS = 7 * 24 * 3600
_NOTIFIED_TTL_SECONDS = 7 * 24 * 3600


def incident(request: OutageRequest) -> str:
    """The same incident key the record step puts on its notification (logic/record.py): one incident, one thread."""
    return request.idempotency_key.rsplit("#", 1)[0]


# -- Guard ---------------------------------------------------------------------------------------------------------


def admit(request: OutageRequest, execution_arn: str, settings: Settings) -> dict:
    """Duplicate event and the fleet lease stop the run (the other run pages and offers the failover). A paused
    automation (kill switch, maintenance, unreadable flags, open breaker) never stops the page, only the offer."""
    table, now = settings.state_table, utc_now()
    earlier = state_store.claim_event(table, request.idempotency_key, execution_arn, now, _CLAIM_TTL_SECONDS)
    if earlier is not None:
        return _verdict(False, "duplicate-event", f"already handled by {earlier}")
    resource = failover_lease(settings)
    holder = state_store.acquire_lease(table, resource, execution_arn, now, RUN_LIMIT_SECONDS)
    if holder is not None:
        return _verdict(False, "locked", f"{resource} is held by {holder}: that run pages and offers the failover")
    paused = automation_paused(RUNBOOK, now, settings)
    lease = {"resource": resource}
    if paused is not None:
        return _verdict(True, paused.reason, paused.detail, lease, offer_failover=False)
    return _verdict(True, "clear", "duplicate event, fleet lease and automation flags checked", lease)


def _verdict(
    proceed: bool, reason: str, detail: str, lease: dict | None = None, *, offer_failover: bool = True
) -> dict:
    return {
        "proceed": proceed,
        "offerFailover": proceed and offer_failover,
        "reason": reason,
        "detail": detail,
        "lease": lease,
        "notify": None,
    }


# -- Investigate ---------------------------------------------------------------------------------------------------


def assess(request: OutageRequest, settings: Settings) -> dict:
    """Every agent service in one DescribeServices call (ECS takes 10 per call) and the outage verdict. ECS failing
    to answer (not a throttle: that is retried) is itself a finding: the page must still go out."""
    try:
        found = ecs.describe_fleet(request.cluster_name, list(settings.services.values()))
    except (AwsAccessDenied, AwsCallFailed) as error:
        threshold = settings.availability.outage_min_services_down
        return outage.unreadable(settings.services, threshold, str(error)) | {"checkedAt": utc_now().isoformat()}
    states = {
        agent: (found[name].to_dict() if found[name] is not None else None) for agent, name in settings.services.items()
    }
    assessment = outage.assess(states, settings.services, settings.availability.outage_min_services_down)
    return assessment | {"checkedAt": utc_now().isoformat()}


def plan_failover(
    request: OutageRequest, assessment: dict, guard: dict, primary_region: str, settings: Settings
) -> dict:
    """What approving would do, read from the DR region; or why no failover is offered."""
    dr = settings.dr
    common = {
        "drRegion": dr.region,
        "drCluster": dr.cluster_name,
        "primaryRegion": primary_region,
        "activeRegionParameter": dr.active_region_parameter,
        "approverLevel": dr.approver_level,
        "approvalTimeoutSeconds": dr.approval_timeout_seconds,
    }
    try:
        found = ecs.describe_fleet(dr.cluster_name, list(settings.services.values()), region=dr.region)
    except RunbookError as error:  # the page goes out anyway, saying why no failover is offered
        return common | {"possible": False, "why": f"the DR region could not be read: {error}", "targets": []}
    dr_states = {
        agent: (found[name].to_dict() if found[name] is not None else None) for agent, name in settings.services.items()
    }
    plan = outage.plan_failover(
        assessment, dr_states, floor=settings.guard.min_desired_count, cap=settings.high_cpu.max_desired_count
    )
    plan |= common | {
        "manualCommands": outage.manual_failover_commands(
            plan["targets"], dr.region, dr.cluster_name, dr.active_region_parameter
        )
    }
    if plan["possible"] and not guard.get("offerFailover"):
        plan |= {"possible": False, "why": f"automation paused ({guard['reason']}: {guard['detail']})"}
    if not plan["possible"]:
        return plan
    level = settings.escalation[dr.approver_level]
    plan["proposal"] = outage.proposal(plan["targets"], primary_region, dr.region, request.dry_run)
    plan["summary"] = "\n".join(
        [
            f"COMPLETE OUTAGE in {primary_region}: {assessment['headline']}.",
            *outage.service_lines(assessment),
            "",
            f"Approving fails the platform over to {dr.region}:",
            f"  1. the DR services (cluster {dr.cluster_name} in {dr.region}) are scaled to production's desired "
            "counts:",
            *[f"  {line}" for line in outage.target_lines(plan["targets"])],
            f"  2. once all of them run (checked every {dr.ready_poll_seconds} s, {dr.ready_checks} times), "
            f"{dr.active_region_parameter} is set to {dr.region}: the routing layer then sends traffic there.",
            "  If they do not all run in time, traffic is NOT switched and L3/L4 are told.",
            "Rejecting, or no answer in time: no failover, and L3 and L4 are told again.",
            f"Asked of {dr.approver_level} ({level.role}); L3 and L4 were both paged with this assessment.",
            *(["DRY RUN: approving records the calls and makes none."] if request.dry_run else []),
        ]
    )
    return plan


# -- Page ----------------------------------------------------------------------------------------------------------


def page_on_call(
    request: OutageRequest, assessment: dict, plan: dict, execution_arn: str, region: str, settings: Settings
) -> dict:
    """One message to L3 and one to L4, same incident; a retried step does not page twice."""
    table, key = settings.state_table, incident(request)
    counts = (
        f"{len(assessment['outOfService'])} of {assessment['total']} services down"
        if not assessment.get("unreadable")
        else "ECS unreadable, services unknown"
    )
    subject = f"[ACSO {settings.environment}] COMPLETE OUTAGE: {counts}"
    body = _page_lines(request, assessment, plan, execution_arn, region, settings)
    messages = {}
    for level_name in PAGED_LEVELS:
        marker = f"page@{level_name}"
        earlier = state_store.notified_message(table, execution_arn, marker)
        if earlier:
            messages[level_name] = earlier
            continue
        level = settings.escalation[level_name]
        header = f"COMPLETE OUTAGE - escalation {level_name}: {level.role}, severity {level.severity}, respond " + (
            f"within {level.response_minutes} min" if level.response_minutes else "immediately"
        )
        messages[level_name] = notifier.publish(
            level.topic_arn,
            subject,
            "\n".join([header, f"Incident: {key}", "", *body]),
            {"runbook": RUNBOOK, "decision": "outage", "level": level_name, "incident": key},
        )
        state_store.remember_notification(
            table, execution_arn, marker, messages[level_name], utc_now(), _NOTIFIED_TTL_SECONDS
        )
    return {"levels": list(PAGED_LEVELS), "messageIds": messages, "incident": key}


def _page_lines(
    request: OutageRequest, assessment: dict, plan: dict, execution_arn: str, region: str, settings: Settings
) -> list[str]:
    why = (
        f"alarm {request.alarm_name} entered ALARM at {request.alarm_state_at}: {request.reason}"
        if request.trigger == "alarm"
        else f"started from the console: {request.reason}" + (" (dry run)" if request.dry_run else "")
    )
    lines = [
        f"Why: {why}",
        "",
        f"Assessment at {assessment['checkedAt']} (every agent service, one DescribeServices call):",
        f"{assessment['headline']}",
        *outage.service_lines(assessment),
        "",
    ]
    if plan.get("possible"):
        level = settings.escalation[plan["approverLevel"]]
        lines += [
            f"Failover to {plan['drRegion']}: approval is asked of {plan['approverLevel']} ({level.role}) now, in a "
            f"separate message with approve/reject links; it expires in {plan['approvalTimeoutSeconds'] // 60} min.",
            "Approving scales these DR services up, then (once they all run) switches "
            f"{plan['activeRegionParameter']} to {plan['drRegion']}:",
            *outage.target_lines(plan["targets"]),
            "Without an approval nothing is changed.",
        ]
    else:
        lines.append(f"No failover is offered: {plan.get('why')}.")
        if plan.get("manualCommands"):
            lines += ["To fail over by hand (DR services first, then traffic):", *plan["manualCommands"]]
    lines += [
        "",
        "Incident response (runbook): notify the on-call team, create the incident ticket, start the incident bridge.",
        "",
        "Links",
        f"Execution: {links.execution(region, execution_arn)}",
    ]
    if request.alarm_name:
        lines.append(f"Alarm: {links.alarm(region, request.alarm_name)}")
    services = assessment["services"]
    lines += [
        f"{agent}: {links.ecs_service(region, request.cluster_name, services[agent]['serviceName'])}"
        for agent in assessment["outOfService"] + assessment["degraded"]
    ]
    return lines


# -- Act (only after a person approved) -----------------------------------------------------------------------------


def fail_over(request: OutageRequest, plan: dict, approval: dict, execution_arn: str, settings: Settings) -> dict:
    """Re-check, then give each DR service its target count (absolute, idempotent: a retry re-uses the plan and
    skips services already at their target). Dry run: the exact calls, none made."""
    dr, targets = settings.dr, plan["targets"]
    calls = [
        {
            "operation": "ecs.UpdateService",
            "region": dr.region,
            "parameters": {"cluster": dr.cluster_name, "service": t["serviceName"], "desiredCount": t["target"]},
        }
        for t in targets
    ]
    calls.append(
        {
            "operation": "ssm.PutParameter",
            "region": plan["primaryRegion"],
            "parameters": {"Name": dr.active_region_parameter, "Value": dr.region, "Overwrite": True},
        }
    )
    result = {
        "action": ACTION,
        "approvedBy": approval.get("approver"),
        "targets": targets,
        "call": calls,
        "pollSeconds": dr.ready_poll_seconds,
        "checksLeft": dr.ready_checks,
        "authorization": None,
    }
    refusal = _may_write(execution_arn, settings)
    if refusal:
        return result | {"outcome": "refused", "authorization": refusal, "before": None}
    now_assessment = assess(request, settings)  # recovered only on evidence: unreadable ECS is still down
    if not now_assessment["outage"]:
        return result | {"outcome": "recovered", "assessment": now_assessment, "before": None}
    names = [t["serviceName"] for t in targets]
    current = ecs.describe_fleet(dr.cluster_name, names, region=dr.region)
    missing = [name for name in names if current[name] is None]
    if missing:
        refusal = {"allowed": False, "reason": "dr-service-missing", "detail": f"not ACTIVE in {dr.region}: {missing}"}
        return result | {"outcome": "refused", "authorization": refusal, "before": None}
    first = state_store.remember_plan(
        settings.state_table,
        request.idempotency_key,
        {"before": {t["agent"]: current[t["serviceName"]].desired_count for t in targets}},
        utc_now(),
        _PLAN_TTL_SECONDS,
    )
    before = first["before"]
    if request.dry_run:
        return result | {"outcome": "dry-run", "before": before}
    for target in targets:
        if current[target["serviceName"]].desired_count != target["target"]:  # not yet done by an earlier attempt
            ecs.set_desired_count_in(dr.region, dr.cluster_name, target["serviceName"], target["target"])
    observed = ecs.describe_fleet(dr.cluster_name, names, region=dr.region)
    after = {t["agent"]: (observed[t["serviceName"]] or current[t["serviceName"]]).desired_count for t in targets}
    return result | {"outcome": "scaling", "before": before, "after": after}


def check_dr_ready(targets: list[dict], checks_left: int, settings: Settings) -> dict:
    """One bounded poll of the DR services (the state machine loops with a Wait)."""
    dr = settings.dr
    found = ecs.describe_fleet(dr.cluster_name, [t["serviceName"] for t in targets], region=dr.region)
    states = {t["agent"]: (found[t["serviceName"]].to_dict() if found[t["serviceName"]] else None) for t in targets}
    ready, lagging = outage.dr_readiness(targets, states)
    return {
        "ready": ready,
        "lagging": lagging,
        "checksLeft": checks_left - 1,
        "services": {
            agent: {"running": state["running_count"], "desired": state["desired_count"]} if state else None
            for agent, state in states.items()
        },
    }


def switch_active_region(execution_arn: str, settings: Settings) -> dict:
    """Re-check, then point the active-region parameter at the DR region (absolute) and read it back."""
    dr = settings.dr
    call = {"operation": "ssm.PutParameter", "parameters": {"Name": dr.active_region_parameter, "Value": dr.region}}
    refusal = _may_write(execution_arn, settings)
    if refusal:
        return {"outcome": "refused", "authorization": refusal, "call": call}
    before = routing.active_region(dr.active_region_parameter)
    after = before if before == dr.region else routing.set_active_region(dr.active_region_parameter, dr.region)
    return {"outcome": "switched", "before": before, "after": after, "call": call}


def _may_write(execution_arn: str, settings: Settings) -> dict | None:
    """The last checks before a failover write: our fleet lease (taken again: ours, or expired) and the automation
    flags (kill switch, maintenance, breaker) read fresh. A person's approval stands in for the hourly budget of
    unattended actions, which an outage's own single-service runbooks may have spent."""
    now: datetime = utc_now()
    resource = failover_lease(settings)
    holder = state_store.acquire_lease(settings.state_table, resource, execution_arn, now, RUN_LIMIT_SECONDS)
    if holder is not None:
        return {"allowed": False, "reason": "locked", "detail": f"{resource} is held by {holder}"}
    paused = automation_paused(RUNBOOK, now, settings)
    if paused is not None:
        return {"allowed": False, "reason": paused.reason, "detail": paused.detail}
    return None
