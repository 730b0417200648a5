"""Turn a finished runbook run into one decision: what to audit, whom to tell, in plain words."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from remediation.domain import links


@dataclass(frozen=True)
class Decision:
    decision: str
    """acted | dry-run | suppressed | escalated | rejected | failed | healthy | degraded"""
    why: str
    level: str | None
    """Escalation level to notify, or None for audit only."""
    subject: str
    lines: list[str] = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None


@dataclass(frozen=True)
class RunContext:
    environment: str
    region: str
    execution_arn: str
    log_group: str
    state_table: str = ""


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


def _utilization_lines(utilization: dict, focus: str | None) -> list[str]:
    services = utilization.get("services", {})
    window = utilization.get("windowMinutes")
    order = sorted(services, key=lambda agent: agent != focus)
    cpu = ", ".join(f"{agent} {_percent(services[agent]['cpuMaxPercent'])}" for agent in order)
    memory = ", ".join(f"{agent} {_percent(services[agent]['memoryMaxPercent'])}" for agent in order)
    return [f"CPU max ({window} min): {cpu}", f"Memory max ({window} min): {memory}"]


def _log_lines(found: dict) -> list[str]:
    line = f"Logs matching {found['pattern']!r} ({found['windowMinutes']} min): {found['matches']}"
    if found.get("truncated"):
        line += "+ (search stopped early)"
    distinct = list(dict.fromkeys(found.get("samples", [])))
    samples = [f"    e.g. {sample[:200]}" for sample in distinct[:3]]
    return [line, *samples]


def _service_line(state: dict) -> str:
    return (
        f"{state['service_name']}: {state['running_count']} running / {state['desired_count']} desired, "
        f"{state['deployments']} deployment(s), {state['task_definition'].rsplit('/', 1)[-1]}"
    )


def high_cpu(state: dict, context: RunContext) -> Decision:
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    service, agent = request["service_name"], request["agent"]
    evidence = state.get("evidence", {})
    lines = [f"Why it ran: {_trigger_line(request)}"]
    if evidence:
        lines += ["", "Evidence", *_utilization_lines(evidence["utilization"], agent), *_log_lines(evidence["logs"])]
        lines.append(_service_line(evidence["service"][agent]))
    lines += [
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service: {links.ecs_service(context.region, request['cluster_name'], service)}",
    ]
    if request.get("alarm_name"):
        lines.append(f"Alarm: {links.alarm(context.region, request['alarm_name'])}")
    prefix = f"[ACSO {context.environment}] high-cpu {agent}"

    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    before, after = action["before"], action["after"]
    counts = f"{before['desired_count']} -> {action['call']['parameters']['desiredCount']}" if action["call"] else ""
    if action["outcome"] == "at-cap":
        return _at_cap(state, prefix, lines)
    if action["outcome"] == "dry-run":
        why = f"dry run: would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision(
            "dry-run",
            why,
            "L1",
            f"{prefix}: DRY RUN, would scale {counts}",
            [f"What would happen: {why}", "", *lines],
            before,
            after,
        )
    if action["outcome"] == "refused":
        refusal = action["authorization"]
        why = f"{refusal['reason']}: {refusal['detail']}; no change made"
        if refusal["reason"] in _BENIGN_REFUSALS:
            return Decision(
                "suppressed", why, None, f"{prefix}: not scaled ({refusal['reason']})", lines, before, after
            )
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: scale-out refused ({refusal['reason']})",
            [f"What happened: {why}", "", *lines],
            before,
            after,
        )
    verification = state.get("verification", {})
    observed = verification.get("service", after)
    summary = (
        f"scaled {service} from {before['desired_count']} to {after['desired_count']} tasks; "
        f"{observed['running_count']} running, CPU now {_percent(verification.get('cpuLatestPercent'))} "
        f"(threshold {verification.get('cpuThresholdPercent')} %)"
    )
    if verification.get("verified"):
        return Decision(
            "acted",
            summary,
            "L1",
            f"{prefix}: scaled out {counts}, CPU back under threshold",
            [f"What happened: {summary}", "", *lines],
            before,
            after,
        )
    details = [
        f"What happened: {summary}. Verification failed: "
        + (
            "the new tasks did not start."
            if not verification.get("stable")
            else f"CPU is not below {verification.get('cpuRecoveredBelowPercent')} %."
        )
    ]
    restored = state.get("restore")
    if restored:
        details.append(f"Restored the prior desired count: {restored['restoredTo']}.")
        after = restored["after"]
    breaker = verification.get("breaker") or {}
    if breaker.get("opened"):
        details.append(
            f"CIRCUIT BREAKER OPEN: {breaker['failures']} failed verifications within the window; automated "
            f"high-cpu actions are disabled. Re-enable after investigating: aws dynamodb delete-item "
            f"--table-name {context.state_table} --key "
            '\'{"pk": {"S": "BREAKER#high-cpu"}, "sk": {"S": "BREAKER"}}\''
        )
    subject = f"{prefix}: scaled out {counts} but " + (
        "tasks did not start, restored" if restored else "CPU still high"
    )
    if breaker.get("opened"):
        subject = f"{prefix}: CIRCUIT BREAKER OPEN after failed verification"
    return Decision(
        "escalated",
        f"{summary}; not verified" + ("; restored" if restored else ""),
        "L2",
        subject,
        [*details, "", *lines],
        before,
        after,
    )


def _at_cap(state: dict, prefix: str, lines: list[str]) -> Decision:
    """At the scaling cap: either no bigger task size exists, or a person approved one (rejections and
    approval timeouts arrive through the failure path, see `rejected_or_failed`)."""
    request, action = state["request"], state["action"]
    before = action["before"]
    resize, resized = state.get("resize") or {}, state.get("resized")
    at_cap = f"at the scaling cap ({before['desired_count']} of {action['cap']} tasks)"
    if not resized:
        why = f"{at_cap}; no scale-out. " + resize.get("why", "A bigger task size needs a person.")
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: at scaling cap {action['cap']}, CPU still high",
            [f"What happened: {request['service_name']} is {why}", "", *lines],
            before,
            action["after"],
        )
    approval = state.get("approval") or {}
    approved = f"approved by {approval.get('approver', 'unknown')} at {approval.get('decidedAt', '?')}"
    if resized["outcome"] != "resized":
        refusal = resized["authorization"]
        why = f"{at_cap}; resize {approved} but refused at the last check: {refusal['reason']}: {refusal['detail']}"
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: approved resize refused ({refusal['reason']})",
            [why, "", *lines],
            resize.get("from"),
            None,
        )
    verification = state.get("verification", {})
    change = (
        f"{resized['before']['taskDefinition']} ({resized['before']['cpu']}/{resized['before']['memory']}) -> "
        f"{resized['after']['taskDefinition']} ({resized['after']['cpu']}/{resized['after']['memory']})"
    )
    summary = f"{at_cap}; resized {change}, {approved}; CPU now {_percent(verification.get('cpuLatestPercent'))}"
    if verification.get("verified"):
        return Decision(
            "acted",
            summary,
            "L1",
            f"{prefix}: bigger task deployed, CPU back under threshold",
            [f"What happened: {summary}", "", *lines],
            resized["before"],
            resized["after"],
        )
    rollback = (
        f"Roll back with: aws ecs update-service --cluster {request['cluster_name']} --service "
        f"{request['service_name']} --task-definition {resized['before']['taskDefinition']}"
    )
    return Decision(
        "escalated",
        f"{summary}; not verified",
        "L2",
        f"{prefix}: bigger task deployed but not verified",
        [f"What happened: {summary}. Verification failed.", rollback, "", *lines],
        resized["before"],
        resized["after"],
    )


# Refusals at the last check that mean "nothing to do now", not "a person must act".
_BENIGN_REFUSALS = {"alarm-resolved", "deployment-in-progress"}


def guard_refusal(guard: dict, prefix: str, lines: list[str]) -> Decision:
    """A guard refusal is a decision: audited always, notified when the guard says someone must know."""
    reason, why = guard.get("reason"), f"{guard.get('reason')}: {guard.get('detail')}"
    level = guard.get("notify")
    if not level:
        return Decision("suppressed", why, None, f"{prefix}: suppressed ({reason})", lines)
    decision = "suppressed" if reason == "kill-switch" else "escalated"
    return Decision(
        decision, why, level, f"{prefix}: no automated action ({reason})", [f"No automated action: {why}", "", *lines]
    )


def health_check(state: dict, context: RunContext) -> Decision:
    assessment = state["assessment"]
    failed = [criterion for criterion in assessment["criteria"] if not criterion["passed"]]
    report = assessment.get("report")
    lines = []
    for criterion in failed:
        lines.append(
            f"FAILED {criterion['scope']}: {criterion['criterion']} - {criterion['observed']} "
            f"(expected {criterion['expected']}); handled by runbook {criterion['handled_by']}"
        )
    passed = len(assessment["criteria"]) - len(failed)
    lines += [
        "",
        f"{passed} of {len(assessment['criteria'])} checks passed across {len(state['request']['agents'])} services.",
    ]
    lines += [
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    if report:
        lines.append(f"Report: {links.s3_object(context.region, report['bucket'], report['key'])}")
    prefix = f"[ACSO {context.environment}] daily health check"
    if not failed:
        return Decision("healthy", "all criteria passed", None, f"{prefix}: healthy", lines)
    scopes = sorted({criterion["scope"] for criterion in failed})
    return Decision(
        "degraded",
        f"{len(failed)} criteria failed: " + "; ".join(f"{c['scope']} {c['criterion']}" for c in failed),
        "L1",
        f"{prefix}: DEGRADED, {len(failed)} checks failed ({len(scopes)} scopes)",
        lines,
    )


def scale_agent(state: dict, context: RunContext) -> Decision:
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    agent, service = request["agent"], request["service_name"]
    prefix = f"[ACSO {context.environment}] scale-agent {agent}"
    lines = [
        f"Asked by hand: desiredCount {request['desired_count']} ({request['reason']})",
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service: {links.ecs_service(context.region, request['cluster_name'], service)}",
    ]
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    before, after = action["before"], action["after"]
    counts = f"{before['desired_count']} -> {request['desired_count']}"
    if action["outcome"] == "dry-run":
        why = f"dry run: would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision(
            "dry-run", why, "L1", f"{prefix}: DRY RUN, would scale {counts}", [why, "", *lines], before, after
        )
    if action["outcome"] == "unchanged":
        return Decision(
            "unchanged", f"already at {before['desired_count']}", None, f"{prefix}: unchanged", lines, before, after
        )
    verification = state.get("verification", {})
    observed = verification.get("service", after)
    summary = f"scaled {service} {counts}; {observed['running_count']} running"
    if verification.get("verified"):
        return Decision("acted", summary, "L1", f"{prefix}: scaled {counts}", [summary, "", *lines], before, observed)
    return Decision(
        "escalated",
        f"{summary}; not stable",
        "L2",
        f"{prefix}: scaled {counts} but not stable",
        [f"{summary}: the service did not become stable at the new count.", "", *lines],
        before,
        observed,
    )


def restart_agent(state: dict, context: RunContext) -> Decision:
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    agent, service = request["agent"], request["service_name"]
    prefix = f"[ACSO {context.environment}] restart-agent {agent}"
    lines = [
        f"Asked by hand: restart ({request['reason']})",
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service: {links.ecs_service(context.region, request['cluster_name'], service)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    before = action["before"]
    if action["outcome"] == "dry-run":
        why = f"dry run: would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision("dry-run", why, "L1", f"{prefix}: DRY RUN, would restart", [why, "", *lines], before)
    if action["outcome"] == "refused":
        refusal = action["authorization"]
        why = f"{refusal['reason']}: {refusal['detail']}; no change made"
        return Decision(
            "escalated", why, "L2", f"{prefix}: restart refused ({refusal['reason']})", [why, "", *lines], before
        )
    rollout, found = state.get("rollout", {}), state.get("logs")
    observed = rollout.get("service", action["after"])
    if not rollout.get("stable"):
        why = (
            f"restarted {service} but it did not stabilise: {observed['running_count']} running / "
            f"{observed['desired_count']} desired, rollout {observed['rollout_state']}"
        )
        return Decision(
            "escalated", why, "L2", f"{prefix}: restarted but not stable", [why, "", *lines], before, observed
        )
    if found and found["matches"]:
        why = f"restarted {service}, stable, but {found['matches']} FATAL/CRITICAL log lines since"
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: restarted, errors in the logs",
            [why, "", *_log_lines(found), "", *lines],
            before,
            observed,
        )
    why = f"restarted {service}: stable, {observed['running_count']} running, no FATAL/CRITICAL log lines"
    return Decision("acted", why, "L1", f"{prefix}: restarted, stable", [why, "", *lines], before, observed)


# Errors that mean "the request was refused before any change": audited, shown in the console, nobody paged.
_REFUSED_ERRORS = {"InvalidInput": "rejected", "WriteRefused": "refused"}


def rejected_or_failed(state: dict, runbook: str, context: RunContext) -> Decision:
    error = state.get("error", {})
    kind = error.get("Error", "Unknown")
    message = _error_message(error)
    lines = [f"Error: {kind}: {message}", "", f"Execution: {links.execution(context.region, context.execution_arn)}"]
    if kind == "ApprovalRejected":
        return Decision(
            "declined",
            f"{message}; no action taken",
            None,
            f"[ACSO {context.environment}] {runbook}: proposal declined",
            lines,
        )
    if kind == "States.Timeout" and state.get("resize") and not state.get("approval"):
        why = (
            f"nobody approved the proposed {state['resize'].get('proposal', {}).get('action', 'action')} in time; "
            "no action taken and the service is still at its cap with CPU high"
        )
        return Decision(
            "escalated",
            why,
            "L3",
            f"[ACSO {context.environment}] {runbook}: approval timed out, escalating",
            [f"ESCALATED: {why}.", *lines],
        )
    if kind in _REFUSED_ERRORS:
        decision = _REFUSED_ERRORS[kind]
        return Decision(decision, message, None, f"[ACSO {context.environment}] {runbook}: {decision}", lines)
    return Decision(
        "failed", f"{kind}: {message}", "L2", f"[ACSO {context.environment}] {runbook}: FAILED ({kind})", lines
    )


def _error_message(error: dict) -> str:
    cause = error.get("Cause") or ""
    try:
        return json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        return cause


def _trigger_line(request: dict) -> str:
    if request["trigger"] == "alarm":
        return f"alarm {request['alarm_name']} entered ALARM at {request['alarm_state_at']}: {request['reason']}"
    return f"{request['trigger']} ({request['reason']})" + (", dry run" if request.get("dry_run") else "")
