"""Turn a finished runbook run into one decision: what to audit, whom to tell, in plain words."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from remediation.domain import data_breach as breach
from remediation.domain import links, outage
from remediation.domain.dr_test import figure


@dataclass(frozen=True)
class Decision:
    decision: str
    """acted | dry-run | suppressed | escalated | rejected | failed | healthy | degraded | no-action"""
    why: str
    level: str | None
    """Escalation level to notify, or None for audit only."""
    subject: str
    lines: list[str] = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None
    also: tuple[str, ...] = ()
    """Further levels told the same at once, e.g. L4 with L3 (one message per level, one incident)."""
    audiences: tuple[str, ...] = ()
    """Audience topics told the same at once (security, legal, compliance: settings.data_breach.audiences), e.g. a
    CRITICAL image finding pages security."""


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
    rolled_back = state.get("restore")
    if rolled_back:  # the bigger tasks never started: the prior revision is deployed again
        why = f"{summary}; the new tasks did not start, rolled back to {rolled_back['restoredTo']}"
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: bigger task failed to start, rolled back",
            [f"What happened: {why}.", "", *lines],
            resized["before"],
            {"taskDefinition": rolled_back["restoredTo"]},
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
    policy = state.get("scalingPolicy")
    if policy:
        summary += (
            f"; step-scaling policy {policy['policyName']} {policy['outcome']} "
            f"(adds tasks at CPU >= {policy['cpuAtLeastPercent']:g} %)"
        )
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


def _memory_trend_lines(trend: dict) -> list[str]:
    full = trend.get("hoursToFull")
    return [
        f"Memory trend ({trend['windowHours']} h, hourly average): {_percent(trend['startPercent'])} -> "
        f"{_percent(trend['nowPercent'])}, slope {trend['slopePercentPerHour']:+.2f} %/h (fit "
        f"{trend['fit']:.2f}), now {_percent(trend['latestPercent'])}, "
        + (f"100 % in about {full:.1f} h at this rate" if full is not None else "not rising"),
        f"Verdict: {trend['verdict']} - {trend['why']}",
    ]


def memory_leak(state: dict, context: RunContext) -> Decision:
    """Restart only a steady rise; a spike or normal memory is audited without action (nobody paged: a restart
    would not help and the alarm clears itself), a flat high level or missing data goes to L1."""
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    agent, service = request["agent"], request["service_name"]
    evidence = state.get("evidence", {})
    trend = evidence.get("trend")
    lines = [f"Why it ran: {_trigger_line(request)}"]
    if evidence:
        lines += ["", "Evidence", *_memory_trend_lines(trend), *_log_lines(evidence["logs"])]
        lines.append(_service_line(evidence["service"][agent]))
    lines += [
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service (memory graph): {links.ecs_service(context.region, request['cluster_name'], service)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    if request.get("alarm_name"):
        lines.append(f"Alarm: {links.alarm(context.region, request['alarm_name'])}")
    prefix = f"[ACSO {context.environment}] memory-leak {agent}"
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    if action is None:
        verdict = trend["verdict"]
        if verdict in ("spike", "normal"):
            why = f"no leak: {trend['why']}; no restart"
            return Decision("no-action", why, None, f"{prefix}: no leak ({verdict}), not restarted", [why, "", *lines])
        why = f"no restart: {trend['why']}"
        subject = (
            f"{prefix}: memory high but not rising, not restarted (capacity?)"
            if verdict == "high-flat"
            else f"{prefix}: memory trend unknown, not restarted"
        )
        return Decision("escalated", why, "L1", subject, [f"Look at it: {why}", "", *lines])
    before = action["before"]
    if action["outcome"] == "dry-run":
        why = f"dry run: leak found, would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision("dry-run", why, "L1", f"{prefix}: DRY RUN, would restart", [why, "", *lines], before)
    if action["outcome"] == "refused":
        refusal = action["authorization"]
        why = f"leak found; restart refused at the last check: {refusal['reason']}: {refusal['detail']}"
        if refusal["reason"] in _BENIGN_REFUSALS:
            return Decision("suppressed", why, None, f"{prefix}: not restarted ({refusal['reason']})", lines, before)
        return Decision(
            "escalated", why, "L2", f"{prefix}: restart refused ({refusal['reason']})", [why, "", *lines], before
        )
    verification = state.get("verification", {})
    observed = verification.get("service", action["after"])
    summary = (
        f"leak found ({trend['slopePercentPerHour']:+.2f} %/h over {trend['windowHours']} h); restarted {service}: "
        f"memory {_percent(verification.get('memoryBeforePercent'))} -> "
        f"{_percent(verification.get('memoryNowPercent'))}, {observed['running_count']} running / "
        f"{observed['desired_count']} desired"
    )
    if verification.get("verified"):
        return Decision(
            "acted", summary, "L1", f"{prefix}: restarted, memory fell", [summary, "", *lines], before, observed
        )
    problem = "the service is not stable again" if not verification.get("stable") else "memory did not fall"
    details = [f"{summary}. Not verified: {problem} (threshold {verification.get('thresholdPercent')} %)."]
    breaker = verification.get("breaker") or {}
    if breaker.get("opened"):
        details.append(
            f"CIRCUIT BREAKER OPEN: {breaker['failures']} failed verifications within the window; automated "
            f"memory-leak restarts are disabled. Re-enable after investigating: aws dynamodb delete-item "
            f"--table-name {context.state_table} --key "
            '\'{"pk": {"S": "BREAKER#memory-leak"}, "sk": {"S": "BREAKER"}}\''
        )
    return Decision(
        "escalated",
        f"{summary}; not verified: {problem}",
        "L2",
        f"{prefix}: restarted but {problem}",
        [*details, "", *lines],
        before,
        observed,
    )


def rollback(state: dict, context: RunContext) -> Decision:
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    agent, service = request["agent"], request["service_name"]
    prefix = f"[ACSO {context.environment}] rollback {agent}"
    source, target = request["rollback_from"], request["rollback_to"]
    change = f"{source} -> {target}"
    revisions = f"revision {source.rsplit(':', 1)[-1]} -> {target.rsplit(':', 1)[-1]}"  # fits the subject limit
    asked = "the given revision" if request.get("task_definition") else "the previous ACTIVE revision"
    lines = [
        f"Asked by hand: roll back to {asked}, {change} ({request['reason']})",
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
        return Decision(
            "dry-run", why, "L1", f"{prefix}: DRY RUN, would roll back {revisions}", [why, "", *lines], before
        )
    if action["outcome"] == "unchanged":
        why = f"{service} already runs {target}; no change made"
        return Decision("unchanged", why, None, f"{prefix}: unchanged", lines, before, action["after"])
    if action["outcome"] == "refused":
        refusal = action["authorization"]
        why = f"{refusal['reason']}: {refusal['detail']}; no change made"
        return Decision(
            "escalated", why, "L2", f"{prefix}: rollback refused ({refusal['reason']})", [why, "", *lines], before
        )
    rollout, found = state.get("rollout", {}), state.get("logs")
    observed = rollout.get("service", action["after"])
    back = (
        f"To return to {source}: aws ecs update-service --cluster {request['cluster_name']} --service {service} "
        f"--task-definition {source}"
    )
    if not rollout.get("stable"):
        why = (
            f"rolled {service} back {change} but it did not stabilise on {target}: {observed['running_count']} "
            f"running / {observed['desired_count']} desired, rollout {observed['rollout_state']}"
        )
        return Decision(
            "escalated", why, "L2", f"{prefix}: rolled back but not stable", [why, back, "", *lines], before, observed
        )
    if found and found["matches"]:
        why = f"rolled {service} back {change}, stable, but {found['matches']} FATAL/CRITICAL log lines since"
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: rolled back, errors in the logs",
            [why, back, "", *_log_lines(found), "", *lines],
            before,
            observed,
        )
    why = (
        f"rolled {service} back {change}: stable, {observed['running_count']} running on {target}, "
        "no FATAL/CRITICAL log lines since"
    )
    return Decision(
        "acted", why, "L1", f"{prefix}: rolled back {revisions}, stable", [why, "", *lines], before, observed
    )


def config_update(state: dict, context: RunContext) -> Decision:
    request, guard, action = state["request"], state.get("guard", {}), state.get("action")
    agent, service = request["agent"], request["service_name"]
    prefix = f"[ACSO {context.environment}] config-update {agent}"
    lines = [
        f"Asked by hand: new configuration for {agent} ({request['reason']})",
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service: {links.ecs_service(context.region, request['cluster_name'], service)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    parameter, before, after = action["parameter"], action["before"], action["after"]
    lines.append(f"Parameter: {links.ssm_parameter(context.region, parameter)}")
    versions = before, after  # {"name", "value", "version"} of the parameter
    if action["outcome"] == "unchanged":
        why = f"{parameter} already holds this configuration (version {before['version']}); nothing written"
        return Decision("unchanged", why, None, f"{prefix}: unchanged", [why, "", *lines], *versions)
    if action["outcome"] == "dry-run":
        calls = "; then ".join(f"{call['operation']} {call['parameters']}" for call in action["call"])
        why = f"dry run: would call {calls}"
        return Decision("dry-run", why, "L1", f"{prefix}: DRY RUN, would update", [why, "", *lines], *versions)
    if action["outcome"] == "refused":
        refusal = action["authorization"]
        why = f"{refusal['reason']}: {refusal['detail']}; no change made"
        return Decision(
            "escalated", why, "L2", f"{prefix}: update refused ({refusal['reason']})", [why, "", *lines], *versions
        )
    written = f"{parameter} version {before['version']} -> {after['version']}"
    rollout, loaded, restore = state.get("rollout", {}), state.get("loaded") or {}, state.get("restore")
    if loaded.get("loaded") and not restore:
        why = (
            f"configuration updated ({written}; version {before['version']} kept in the history), one forced "
            f"deployment, loaded by the new tasks: {loaded['matches']} 'Configuration loaded' line(s) since"
        )
        return Decision(
            "acted",
            why,
            "L1",
            f"{prefix}: config updated, loaded by the new tasks",  # SNS subjects stop at 100 characters
            [why, "", *lines],
            *versions,
        )
    observed = rollout.get("service") or action["serviceAfter"]
    headline = "config not loaded" if rollout.get("stable") else "rollout not stable"
    if not rollout.get("stable"):
        failure = (
            f"the service did not stabilise ({observed['running_count']} running / {observed['desired_count']} "
            f"desired, rollout {observed['rollout_state']})"
        )
    else:
        failure = f"no {loaded.get('pattern', 'Configuration loaded')!r} line since {loaded.get('since')}"
    details = [f"What happened: wrote {written} and forced a new deployment, but {failure}."]
    if restore and restore["outcome"] == "restored":
        details.append(
            f"Restored the previous configuration: the value of version {restore['previousVersion']} written again "
            f"as version {restore['after']['version']}, and a second forced deployment."
        )
        subject = f"{prefix}: {headline}, previous config restored"
        after = restore["after"]
    else:
        refusal = (restore or {}).get("authorization") or {"reason": "not attempted", "detail": ""}
        details.append(
            f"NOT restored ({refusal['reason']}: {refusal['detail']}). Restore by hand: aws ssm put-parameter "
            f'--overwrite --name {parameter} --value "$(aws ssm get-parameter --name {parameter}:{before["version"]} '
            '--query Parameter.Value --output text)", then force a new deployment.'
        )
        subject = f"{prefix}: {headline}, NOT restored"
    why = " ".join(details).removeprefix("What happened: ")
    return Decision("escalated", why, "L2", subject, [*details, "", *lines], before, after)


def _outage_lines(state: dict, context: RunContext) -> list[str]:
    request, assessment = state["request"], state.get("evidence")
    lines = [f"Why it ran: {_trigger_line(request)}"]
    if assessment:
        lines += ["", f"Assessment: {assessment['headline']}", *outage.service_lines(assessment)]
    lines += ["", "Links", f"Execution: {links.execution(context.region, context.execution_arn)}"]
    if request.get("alarm_name"):
        lines.append(f"Alarm: {links.alarm(context.region, request['alarm_name'])}")
    return lines


def _by_hand(plan: dict) -> list[str]:
    if not plan.get("targets"):
        return []
    return ["", "To fail over by hand (DR services first, then traffic):", *plan["manualCommands"]]


def complete_outage(state: dict, context: RunContext) -> Decision:
    """L3 and L4 were paged with the assessment by the run itself; the record tells both how it ended."""
    guard, assessment, plan = state.get("guard", {}), state.get("evidence"), state.get("plan") or {}
    prefix = f"[ACSO {context.environment}] complete-outage"
    lines = _outage_lines(state, context)
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    if not assessment["outage"]:
        why = f"not a complete outage: {assessment['headline']}; no failover offered"
        subject = f"{prefix}: {len(assessment['outOfService'])} of {assessment['total']} services down, not an outage"
        return Decision("escalated", why, "L2", subject, [why, "", *lines])
    if not plan.get("possible"):
        why = f"{assessment['headline']}; L3 and L4 paged; failover not offered: {plan.get('why')}"
        return Decision(
            "escalated", why, None, f"{prefix}: paged, no failover offered", [why, *_by_hand(plan), "", *lines]
        )
    approval, action = state.get("approval") or {}, state["action"]
    dr_region, parameter = plan["drRegion"], plan["activeRegionParameter"]
    approved = (
        f"failover to {dr_region} approved by {approval.get('approver', 'unknown')} at {approval.get('decidedAt')}"
    )
    outcome = action["outcome"]
    if outcome == "dry-run":
        calls = "; ".join(f"{c['operation']} {c['parameters']}" for c in action["call"])
        why = f"{approved}; dry run: would call {calls}"
        return Decision("dry-run", why, "L3", f"{prefix}: DRY RUN, would fail over to {dr_region}", [why, "", *lines])
    if outcome == "recovered":
        why = f"{approved}, but production recovered first ({action['assessment']['headline']}); no failover made"
        subject = f"{prefix}: production recovered, no failover"
        return Decision("recovered", why, "L3", subject, [why, "", *lines], also=("L4",))
    if outcome == "refused":
        refusal = action["authorization"]
        why = f"{approved}, refused at the last check: {refusal['reason']}: {refusal['detail']}; no failover made"
        subject = f"{prefix}: approved failover refused ({refusal['reason']})"
        return Decision("escalated", why, "L3", subject, [why, *_by_hand(plan), "", *lines], also=("L4",))
    dr_status, switch = state.get("drStatus") or {}, state.get("switch") or {}
    before = {"activeRegion": plan["primaryRegion"], "drServices": action["before"]}
    scaled = ", ".join(f"{t['agent']} {t['drDesiredBefore']} -> {t['target']}" for t in action["targets"])
    if not dr_status.get("ready"):
        why = (
            f"{approved}; DR services scaled ({scaled}) but not all running after the checks (still short: "
            f"{', '.join(dr_status.get('lagging', []))}); traffic NOT switched, {parameter} unchanged"
        )
        subject = f"{prefix}: DR services not ready, traffic NOT switched"
        command = f"  aws ssm put-parameter --overwrite --name {parameter} --value {dr_region}"
        details = [why, "", "Once the DR services run, switch traffic with:", command]
        return Decision("escalated", why, "L3", subject, [*details, "", *lines], before, dr_status, also=("L4",))
    if switch.get("outcome") != "switched":
        refusal = switch.get("authorization") or {}
        why = (
            f"{approved}; DR services running ({scaled}) but the traffic switch was refused: "
            f"{refusal.get('reason')}: {refusal.get('detail')}; {parameter} unchanged"
        )
        subject = f"{prefix}: DR running, traffic switch refused"
        return Decision("escalated", why, "L3", subject, [why, *_by_hand(plan), "", *lines], before, None, ("L4",))
    after = {"activeRegion": switch["after"], "drServices": dr_status.get("services")}
    why = (
        f"failed over to {dr_region}: DR services running ({scaled}), {parameter} {switch['before']} -> "
        f"{switch['after']}; {approved}"
    )
    fail_back = f"  aws ssm put-parameter --overwrite --name {parameter} --value {plan['primaryRegion']}"
    details = [why, "", "Production stays down: find the cause. To fail back once it runs again:", fail_back]
    subject = f"{prefix}: FAILED OVER to {dr_region}"
    return Decision("acted", why, "L3", subject, [*details, "", *lines], before, after, also=("L4",))


def complete_outage_unapproved(state: dict, kind: str, message: str, context: RunContext) -> Decision:
    """The failover was declined, or nobody answered in time: nothing changed; L3 and L4 are told again."""
    plan, assessment = state.get("plan") or {}, state.get("evidence") or {}
    prefix = f"[ACSO {context.environment}] complete-outage"
    lines = [*_by_hand(plan), "", *_outage_lines(state, context)]
    still = f"at the assessment: {assessment.get('headline', 'services down')}"
    if kind == "ApprovalRejected":
        why = f"failover to {plan.get('drRegion')} declined ({message}); no failover made; {still}"
        return Decision("declined", why, "L3", f"{prefix}: failover declined, no failover", [why, *lines], also=("L4",))
    why = (
        f"nobody approved the failover to {plan.get('drRegion')} within {plan.get('approvalTimeoutSeconds')} s; "
        f"no failover made; {still}"
    )
    subject = f"{prefix}: NOBODY APPROVED failover, still down"
    details = [f"ESCALATED: {why}.", "Start the runbook again from the console to be asked again, or act by hand:"]
    return Decision("escalated", why, "L3", subject, [*details, *lines], also=("L4",))


def data_breach(state: dict, context: RunContext) -> Decision:
    """An isolation (or restore) that was approved, refused, dry-run or not needed. A breach is never suppressed
    silently: only a duplicate finding is audit-only; every other guard refusal pages L3 to act by hand."""
    request, guard = state["request"], state.get("guard", {})
    agent, service = request["agent"], request["service_name"]
    restoring, verb = bool(request.get("restore")), "restore" if request.get("restore") else "isolate"
    prefix = f"[ACSO {context.environment}] data-breach {agent}"
    lines = [f"Why it ran: {breach.trigger_line(request)}"]
    evidence = state.get("evidence") or {}
    if evidence:
        task, found = evidence.get("taskDefinition") or {}, evidence.get("logs") or {}
        lines += [
            "",
            "Investigation",
            _service_line(evidence["service"][agent]),
            f"Task definition {task.get('taskDefinition')}: images {', '.join(map(str, task.get('images', [])))}",
            f"Log lines of {agent} in the last {found.get('windowMinutes')} min: {found.get('matches')}",
        ]
    lines += [
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service: {links.ecs_service(context.region, request['cluster_name'], service)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    by_hand = breach.isolate_by_hand(request["cluster_name"], service)
    if not guard.get("proceed", False):
        why = f"{guard.get('reason')}: {guard.get('detail')}"
        if guard.get("reason") == "duplicate-event":
            return Decision("suppressed", why, None, f"{prefix}: suppressed (duplicate-event)", lines)
        todo = "restore it by hand once cleared" if restoring else f"isolate it by hand if needed: {by_hand}"
        return Decision(
            "escalated",
            f"no automated {verb} ({why})",
            "L2" if restoring else "L3",
            f"{prefix}: no automated {verb} ({guard.get('reason')})",
            [f"No automated {verb}: {why}; {todo}", "", *lines],
        )
    plan = state.get("plan") or {}
    if not plan.get("possible", False):
        why = plan.get("why", "nothing to do")
        return Decision("escalated", why, "L2", f"{prefix}: nothing to {verb}", [why, "", *lines])
    if request.get("dry_run"):
        calls = "; ".join(f"{call['operation']} {call['parameters']}" for call in plan.get("calls", []))
        why = f"dry run: would ask for approval, then call {calls}"
        return Decision("dry-run", why, "L1", f"{prefix}: DRY RUN, would {verb}", [why, "", *lines])
    action, approval = state.get("action") or {}, state.get("approval") or {}
    approved = f"approved by {approval.get('approver', '?')} at {approval.get('decidedAt', '?')}"
    before, after = action.get("before"), action.get("after")
    refusal = action.get("authorization") or {}
    refused = f"{refusal.get('reason')}: {refusal.get('detail')}"
    if restoring:
        if action.get("outcome") == "restored":
            why = f"restored {service}: desired count 0 -> {action['restoredTo']}, {approved}"
            subject = f"{prefix}: restored to {action['restoredTo']} tasks"
            return Decision("acted", why, "L2", subject, [why, "", *lines], before, after)
        why = f"approved restore of {service} refused: {refused}; it still runs 0 tasks"
        subject = f"{prefix}: restore refused ({refusal.get('reason')})"
        return Decision("escalated", why, "L2", subject, [why, "", *lines], before, after)
    forensics = state.get("forensics") or {}
    retention = forensics.get("retention") or {}
    evidence_line = (
        f"Evidence: {forensics.get('manifestUri')} ({forensics.get('count', 0)} objects with SHA-256 checksums, "
        f"Object Lock {retention.get('mode')} until {retention.get('retainUntil')})"
    )
    told = f"Told: {', '.join((state.get('notified') or {}).get('audiences', [])) or 'nobody'}"
    restore = breach.restore_instruction(context.execution_arn, agent)
    prior = action.get("priorDesiredCount")
    if action.get("outcome") == "isolated":
        why = f"isolated {service}: desired count {prior} -> 0, {approved}; evidence preserved"
        return Decision(
            "acted",
            why,
            "L3",
            f"{prefix}: ISOLATED ({prior} -> 0 tasks), evidence preserved",
            [
                f"What happened: {why}",
                f"Prior count: {prior} (recorded for the restore)",
                evidence_line,
                told,
                restore,
                "",
                *lines,
            ],
            before,
            after,
        )
    why = f"approved isolation of {service} refused at the last check: {refused}; it still runs; evidence preserved"
    return Decision(
        "escalated",
        why,
        "L3",
        f"{prefix}: isolation REFUSED ({refusal.get('reason')}), isolate by hand",
        [why, f"Isolate by hand: {by_hand}", evidence_line, told, "", *lines],
        before,
        after,
    )


def data_breach_unanswered(state: dict, context: RunContext) -> Decision:
    """Nobody approved in time: nothing was changed, and one level up must decide now."""
    request, plan = state["request"], state.get("plan") or {}
    agent, service = request["agent"], request["service_name"]
    restoring = bool(request.get("restore"))
    what = f"restoring {service}" if restoring else f"isolating {service} (desired {plan.get('desiredCount')} -> 0)"
    why = f"nobody approved {what} in time; nothing was changed"
    todo = (
        "Start the restore again when someone can approve it."
        if restoring
        else f"Decide now; isolate by hand if needed: {breach.isolate_by_hand(request['cluster_name'], service)}"
    )
    return Decision(
        "escalated",
        why,
        "L3",
        f"[ACSO {context.environment}] data-breach {agent}: approval timed out, NOT "
        + ("restored" if restoring else "isolated"),
        [
            f"ESCALATED: {why}.",
            todo,
            f"Why it ran: {breach.trigger_line(request)}",
            "",
            f"Execution: {links.execution(context.region, context.execution_arn)}",
        ],
    )


def backup_verification(state: dict, context: RunContext) -> Decision:
    """Verified: audit only (nobody paged for a good backup). Anything missing: L2 with the failed checks, the
    jobs and keys seen, and the consoles to open."""
    request, evidence, assessment = state["request"], state["evidence"], state["assessment"]
    objects, failed = evidence["objects"], [f for f in assessment["findings"] if not f["passed"]]
    lines = []
    for finding in sorted(assessment["findings"], key=lambda f: f["passed"]):
        verdict = "OK" if finding["passed"] else "FAILED"
        lines.append(f"{verdict} {finding['check']}: {finding['observed']} (expected {finding['expected']})")
        lines += [f"    {line}" for line in finding["evidence"][:10]]
    failed_jobs = [job for job in evidence["jobs"]["jobs"] if job["state"] != "COMPLETED"]
    lines += [
        "",
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Backup jobs (vault {evidence['jobs']['vault']}): {links.backup_jobs(context.region)}",
        *[f"Job {job['job_id']}: {links.backup_job(context.region, job['job_id'])}" for job in failed_jobs[:5]],
        f"Backup prefix: {links.s3_prefix(context.region, objects['bucket'], objects['prefix'])}",
    ]
    prefix = f"[ACSO {context.environment}] backup-verification {request['day']}"
    if not failed:
        return Decision(
            "verified",
            "every backup job completed and the day's backup objects exist",
            None,
            f"{prefix}: verified",
            lines,
        )
    missing = "; ".join(f"{f['check']}: {f['observed']}" for f in failed)
    jobs = evidence["jobs"]["jobs"]
    short = {  # the subject must stay under SNS's 100 characters
        "backup-jobs-completed": "jobs failed"
        if any(job["state"] not in ("COMPLETED", "CREATED", "PENDING", "RUNNING", "ABORTING") for job in jobs)
        else ("no completed job" if jobs else "no backup job"),
        "todays-backup-objects": "no objects",
    }
    what = ", ".join(short[f["check"]] for f in failed)
    return Decision("escalated", missing, "L2", f"{prefix}: NOT VERIFIED, {what}", [f"Missing: {missing}", "", *lines])


def dr_test(state: dict, context: RunContext) -> Decision:
    """Restore validated within both objectives: L1 summary with the figures. Otherwise (objective missed, restore
    not validated, no backup at all): L2."""
    request, guard, backup = state["request"], state.get("guard", {}), state.get("backup") or {}
    action, validation, report = state.get("action") or {}, state.get("validation") or {}, state.get("report") or {}
    prefix = f"[ACSO {context.environment}] dr-test"
    lines = [
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    if backup.get("bucket"):
        where = backup.get("prefix", "")
        lines.append(f"Backup: {links.s3_prefix(context.region, backup['bucket'], where)}")
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    if not backup.get("found"):
        return Decision(
            "escalated",
            backup.get("why", "no backup found"),
            "L2",
            f"{prefix}: NO BACKUP to restore",
            [f"Nothing to restore: {backup.get('why')}", "", *lines],
        )
    before = {key: backup[key] for key in ("bucket", "prefix", "objectCount", "totalBytes", "newestObjectAt")}
    if action.get("outcome") == "dry-run":
        why = f"dry run: would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision(
            "dry-run",
            why,
            "L1",
            f"{prefix}: DRY RUN, would restore {backup['objectCount']} objects",
            [why, "", *lines],
            before,
        )
    if action.get("outcome") == "refused":
        return guard_refusal(action["authorization"], prefix, lines)
    objectives, cleanup = report["objectives"], state.get("cleanup") or {}
    rto = f"RTO {figure(objectives['rtoMinutes'])} (objective {figure(objectives['rtoObjectiveMinutes'])})"
    rpo = f"RPO {figure(objectives['rpoMinutes'])} (objective {figure(objectives['rpoObjectiveMinutes'])})"
    figures = f"RTO {figure(objectives['rtoMinutes'])}, RPO {figure(objectives['rpoMinutes'])}"  # the subject's
    copy = f"s3://{action['targetBucket']}/{action['targetPrefix']}"
    target = f"{copy} ({action['region']})"
    facts = [
        f"{rto}: {'met' if objectives['rtoMet'] else 'MISSED'}",
        f"{rpo}: {'met' if objectives['rpoMet'] else 'MISSED'} - newest backup object {backup['newestObjectAt']}",
        f"Restored {action['copied']} of {backup['objectCount']} objects ({action['bytes']} bytes) from "
        f"s3://{backup['bucket']}/{backup['prefix']} into {target}",
        f"Validation: {'VALIDATED' if validation['validated'] else 'NOT VALIDATED'}, {validation['matched']} of "
        f"{validation['checked']} equal ("
        + (", ".join(f"{n} by {how}" for how, n in validation["methods"].items()) or "none")
        + f"), {validation['restoredCount']} restored objects counted",
        *[f"    {problem}" for problem in validation["problems"] + action.get("skipped", [])][:10],
        f"Copy: {cleanup.get('outcome', 'kept')}"
        + (
            f" ({cleanup.get('deleted')} objects deleted)"
            if cleanup.get("outcome") == "deleted"
            else f"; remove it with: aws s3 rm --recursive --region {action['region']} {copy}"
        ),
        f"Report: {links.s3_object(context.region, report['report']['bucket'], report['report']['key'])}",
    ]
    after = {
        "restoredTo": target,
        "validated": validation["validated"],
        "rtoMinutes": objectives["rtoMinutes"],
        "rpoMinutes": objectives["rpoMinutes"],
        "report": report["report"]["key"],
    }
    lines = [
        *facts,
        "",
        *lines,
        f"Restore: {links.s3_prefix(action['region'], action['targetBucket'], action['targetPrefix'])}",
    ]
    if validation["validated"] and objectives["rtoMet"] and objectives["rpoMet"]:
        return Decision(
            "passed", f"restore validated; {rto}; {rpo}", "L1", f"{prefix}: PASSED, {figures}", lines, before, after
        )
    missed = [name for name, met in (("RTO", objectives["rtoMet"]), ("RPO", objectives["rpoMet"])) if not met]
    why = (
        ("restore NOT validated; " if not validation["validated"] else "")
        + (f"{' and '.join(missed)} objective missed; " if missed else "")
        + f"{rto}; {rpo}"
    )
    subject = "restore NOT VALIDATED" if not validation["validated"] else f"{' and '.join(missed)} objective MISSED"
    return Decision("escalated", why, "L2", f"{prefix}: {subject}, {figures}", lines, before, after)


def weekly_performance_review(state: dict, context: RunContext) -> Decision:
    """A short L1 summary of the weekly review: headline figures, anomalies, forecasts, the report's link."""
    # The report's code (and its analysis) only for this runbook's record: every other record's cold start skips it.
    from remediation.domain import performance_report  # noqa: PLC0415

    analysis, report = state["analysis"], state["report"]
    headline, window, limits = analysis["headline"], analysis["window"], analysis["limits"]
    anomalies = analysis["anomalies"]
    report_link = links.s3_object(context.region, report["bucket"], report["keys"]["html"])
    cpu_peak, memory_peak = headline.get("cpuPeak"), headline.get("memoryPeak")
    lines = [
        f"Window {window['start'][:16]} to {window['end'][:16]} UTC ({window['days']} days), "
        f"{len(analysis['services'])} services. Report: {report_link}",
        "",
        f"CPU mean {_percent(headline['cpuMeanPercent'])}"
        + (f" (peak {cpu_peak['agent']} {_percent(cpu_peak['percent'])})" if cpu_peak else ""),
        f"Memory mean {_percent(headline['memoryMeanPercent'])}"
        + (f" (peak {memory_peak['agent']} {_percent(memory_peak['percent'])})" if memory_peak else ""),
        f"Error rate {performance_report.fmt(headline['errorRatePercent'], '%', 2)} "
        f"(threshold {limits['error_rate_percent']:g} %)",
        "",
    ]
    if anomalies:
        lines += [f"ANOMALY {anomaly['text']}" for anomaly in anomalies]
    elif analysis["baseline"]["found"]:
        lines.append("No anomaly against the baseline.")
    else:
        lines.append("No baseline stored yet: nothing compared; this run created it.")
    soon = [
        f"{service['agent']}: {forecast['text']}"
        for service in analysis["services"]
        for forecast in service["forecasts"].values()
        if forecast["verdict"] in ("above", "reaches")
    ]
    lines += ["", "Forecast"]
    lines += soon or [f"No service reaches its CPU or memory threshold within {limits['forecast_days']} days."]
    urgent = [r for r in analysis["recommendations"] if r["priority"] <= 2]
    if urgent:
        lines += ["", "Recommendations", *[f"- {r['text']}" for r in urgent[:5]]]
        if len(urgent) > 5:
            lines.append(f"- ... {len(urgent) - 5} more in the report")
    lines += [
        "",
        performance_report.baseline_sentence(analysis),
        "",
        "Links",
        f"Report: {report_link}",
        f"Graphs and baseline: {links.s3_folder(context.region, report['bucket'], report['prefix'])}",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    prefix = f"[ACSO {context.environment}] weekly review {analysis['reportDate']}"  # SNS subjects: 100 characters
    after = {
        "report": f"s3://{report['bucket']}/{report['keys']['html']}",
        "anomalies": len(anomalies),
        "cpuMeanPercent": headline["cpuMeanPercent"],
        "memoryMeanPercent": headline["memoryMeanPercent"],
        "errorRatePercent": headline["errorRatePercent"],
        "baselineFound": analysis["baseline"]["found"],
        "baselineUpdated": analysis["baselineUpdate"]["updated"],
    }
    if anomalies:
        first = anomalies[0]
        more = f" and {len(anomalies) - 1} more" if len(anomalies) > 1 else ""
        why = "; ".join(anomaly["text"] for anomaly in anomalies)
        subject = f"{prefix}: {len(anomalies)} ANOMAL{'Y' if len(anomalies) == 1 else 'IES'} ({first['scope']} "
        subject += f"{first['label']} {_signed_percent(first['changePercent'])}{more})"
        return Decision("anomalous", why, "L1", subject, lines, after=after)
    reached = len(soon)
    outlook = f"{reached} threshold{'s' if reached != 1 else ''} within {limits['forecast_days']} days"
    subject = f"{prefix}: {'no anomaly' if analysis['baseline']['found'] else 'first baseline'}, "
    subject += outlook if reached else "no threshold in sight"
    return Decision("reported", performance_report.verdict(analysis), "L1", subject, lines, after=after)


def _signed_percent(value: float | None) -> str:
    return "far off its baseline" if value is None else f"{value:+.0f} %"


def _short_revision(task_definition: str) -> str:
    return str(task_definition or "?").rsplit("/", 1)[-1]


def _unavailable_evidence(evidence: dict) -> list[str]:
    """What the on-call reads first: counts and revisions, each deployment, why tasks stopped, events, log lines."""
    service, tasks = evidence["service"], evidence["tasks"]
    lines = [
        f"{service['serviceName']} ({service['status']}): {service['runningCount']} running / "
        f"{service['desiredCount']} desired / {service['pendingCount']} pending; runs {service['runningRevision']}, "
        f"previous ACTIVE revision {service['previousRevision'] or 'none'}"
    ]
    lines += [
        f"    deployment {d['status']} {_short_revision(d['taskDefinition'])}: rollout {d['rolloutState']}, "
        f"{d['runningCount']}/{d['desiredCount']} running, {d['failedTasks']} failed tasks"
        for d in service["deployments"]
    ]
    lines.append(
        f"Stopped tasks ({tasks['count']}): {tasks['startFailures']} failed to start, {tasks['crashes']} crashed after "
        "running"
    )
    reasons: dict[str, int] = {}
    for task in tasks["tasks"]:
        exits = ", ".join(
            f"{c['name']} exit {c['exitCode']}" + (f" ({c['reason']})" if c.get("reason") else "")
            for c in task["containers"]
        )
        reason = f"{task['taskDefinition']}: {task['stopCode']}: {task['stoppedReason']}; {exits}"
        reasons[reason] = reasons.get(reason, 0) + 1
    lines += [f"    {count} x {reason[:240]}" for reason, count in list(reasons.items())[:3]]
    if service["events"]:
        lines.append("Service events (newest first):")
        lines += [f"    {event['createdAt']} {event['message'][:200]}" for event in service["events"][:5]]
    lines += _log_lines(evidence["logs"])
    if service["agentsUnavailable"]:
        lines.append(f"Agents unavailable right now: {', '.join(service['agentsUnavailable'])}")
    return lines


def _unavailable_without_action(plan: dict, high: str, prefix: str, page: str, lines: list[str]) -> Decision:
    """No remedy applied: running again or a complete outage (audit only), or nothing that fits (paged at High)."""
    if plan["action"] == "none":
        return Decision("no-action", plan["why"], None, f"{prefix}: running again, no action", lines)
    if plan["action"] == "stand-down":
        return Decision("suppressed", plan["why"], None, f"{prefix}: complete outage, no action", lines)
    why = f"no automated remedy: {plan['why']}"
    subject = f"{prefix}: UNAVAILABLE, no automated fix"
    return Decision("escalated", why, high, subject, [f"{page}.", *lines])


def _unavailable_not_acted(
    plan: dict, action: dict, high: str, prefix: str, page: str, lines: list[str], service: str
) -> Decision:
    """Dry run (L1 reads the exact call), or the guard's last check said no: recovered meanwhile (audit only),
    anything else paged at High."""
    remedy, before = ("roll back" if action["remedy"] == "rollback" else "restart"), action["before"]
    if action["outcome"] == "dry-run":
        why = f"dry run: {plan['why']}; would call {action['call']['operation']} {action['call']['parameters']}"
        return Decision("dry-run", why, "L1", f"{prefix}: DRY RUN, would {remedy}", [why, "", *lines], before)
    refusal = action.get("authorization") or {"reason": "unchanged", "detail": f"{service} runs {action.get('to')}"}
    why = f"{remedy} not made: {refusal['reason']}: {refusal['detail']}; no change made"
    if refusal["reason"] == "alarm-resolved":  # it came back by itself in the meantime
        return Decision("suppressed", why, None, f"{prefix}: recovered before the {remedy}", [why, *lines], before)
    subject = f"{prefix}: UNAVAILABLE, {remedy} refused ({refusal['reason']})"
    return Decision("escalated", why, high, subject, [f"{page}.", why, *lines], before)


def service_unavailable(state: dict, context: RunContext) -> Decision:
    """Recovered -> L1 with what was done; not recovered, refused, no remedy that fits, or down again within the
    cooldown of the last automated remedy -> the level the escalation matrix gives severity High (`state.severity`
    from the first state, L2 by default) with the evidence; already running again -> audit only; a complete outage
    -> audit only (complete-outage pages L3/L4)."""
    request, guard = state["request"], state.get("guard", {})
    severity = state.get("severity") or {"severity": "High", "level": "L2"}
    high = severity["level"]
    action, evidence = state.get("action"), state.get("evidence")
    plan = (action or {}).get("plan")  # the rule's decision, made by the step that acts on it
    agent, service, cluster = request["agent"], request["service_name"], request["cluster_name"]
    prefix = f"[ACSO {context.environment}] service-unavailable {agent}"
    lines = [f"Why it ran: {_trigger_line(request)}"]
    if evidence:
        lines += ["", "Evidence", *_unavailable_evidence(evidence)]
    if plan:
        lines += ["", f"Decision: {plan['action']} - {plan['why']}"]
    links_block = [
        "",
        "Links",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
        f"Service (events, deployments): {links.ecs_service(context.region, cluster, service)}",
        f"Stopped tasks: {links.ecs_stopped_tasks(context.region, cluster, service)}",
        f"Agents' logs: {links.log_group(context.region, context.log_group)}",
    ]
    if request.get("alarm_name"):
        links_block.append(f"Alarm: {links.alarm(context.region, request['alarm_name'])}")
    lines += links_block
    page = f"ESCALATED (severity {severity['severity']}, {high}): service {service} is unavailable"
    if guard.get("reason") == "cooldown" and request["trigger"] == "alarm":  # down again right after a remedy
        why = f"unavailable again within the cooldown of the last automated remedy ({guard.get('detail')}); not acting"
        subject = f"{prefix}: UNAVAILABLE AGAIN after a remedy"
        return Decision("escalated", why, high, subject, [f"{page}.", why, "", *lines])
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    if action is None or action["remedy"] is None:
        return _unavailable_without_action(plan, high, prefix, page, lines)
    before = action["before"]
    revisions = [f"Revision before: {_short_revision(before['task_definition'])}"]
    if action["outcome"] in ("dry-run", "refused", "unchanged"):
        return _unavailable_not_acted(plan, action, high, prefix, page, [*revisions, "", *lines], service)
    rollout = state.get("rollout", {})
    observed = rollout.get("service", action["after"])
    revisions.append(f"Revision after: {_short_revision(observed['task_definition'])}")
    if action["remedy"] == "rollback":
        change = f"rolled {service} back {action['from']} -> {action['to']}"
        short = f"rolled back rev {action['from'].rsplit(':', 1)[-1]} -> {action['to'].rsplit(':', 1)[-1]}"
        back = [
            f"To return to {action['from']}: aws ecs update-service --cluster {cluster} --service {service} "
            f"--task-definition {action['from']}"
        ]
    else:
        change = f"forced a new deployment of {service} ({_short_revision(before['task_definition'])})"
        short, back = "restarted", []
    counts = f"{observed['running_count']} running / {observed['desired_count']} desired"
    if rollout.get("stable"):
        why = f"{change}: available again, {counts}, rollout {observed['rollout_state']}"
        return Decision(
            "acted", why, "L1", f"{prefix}: {short}, available again", [why, *revisions, "", *lines], before, observed
        )
    why = f"{change} but it is still unavailable: {counts}, rollout {observed['rollout_state']}"
    details = [f"{page}.", why, *revisions, *back, ""]
    breaker = rollout.get("breaker") or {}
    if breaker.get("opened"):
        details.append(
            f"CIRCUIT BREAKER OPEN: {breaker['failures']} failed recoveries within the window; automated "
            f"service-unavailable remedies are disabled. Re-enable after investigating: aws dynamodb delete-item "
            f"--table-name {context.state_table} --key "
            '\'{"pk": {"S": "BREAKER#service-unavailable"}, "sk": {"S": "BREAKER"}}\''
        )
    return Decision(
        "escalated", why, high, f"{prefix}: {short}, STILL UNAVAILABLE", [*details, *lines], before, observed
    )


def security_patch_review(state: dict, context: RunContext) -> Decision:
    """Always a short L1 summary linking the report; a CRITICAL finding in any agent's image also pages security
    (its audience topic) with the CVE, the package and the fix."""
    review, request = state["review"], state["request"]
    report = review["report"]
    report_link = links.s3_object(context.region, report["bucket"], report["key"])
    totals = review["totals"]
    lines = [f"{review['verdict'][0].upper()}{review['verdict'][1:]}. Report: {report_link}", ""]
    for group in review["critical"]:
        fixed = {None: "fixed version unknown (basic scan)", "": "no fix yet"}.get(group["fixed"], group["fixed"])
        lines.append(
            f"CRITICAL {group['id']} in {group['package']} {group['installed']} -> {fixed}: "
            f"{', '.join(group['images'])} ({group['link']})"
        )
    if review["criticalGroups"] > len(review["critical"]):
        lines.append(f"... {review['criticalGroups'] - len(review['critical'])} more CRITICAL in the report")
    if review["critical"]:
        lines.append("")
    for image in review["images"]:
        counts = image["counts"]
        figures = (
            ", ".join(f"{counts[severity]} {severity}" for severity in ("CRITICAL", "HIGH", "MEDIUM", "LOW"))
            if image["reviewed"]
            else f"NOT REVIEWED ({image['status']})"
        )
        lines.append(f"{image['agent']} {image['image']}: {figures}")
    urgent = [r for r in review["recommendations"] if r["priority"] <= 2]
    if urgent:
        lines += ["", "Recommendations", *[f"- {r['text']}" for r in urgent]]
        if review["recommendationCount"] > len(urgent):
            lines.append(f"- ... {review['recommendationCount'] - len(urgent)} more in the report")
    lines += [
        "",
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Report: {report_link}",
        f"Report (JSON): {links.s3_object(context.region, report['bucket'], report['json'])}",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    after = {
        "report": f"s3://{report['bucket']}/{report['key']}",
        "critical": totals["CRITICAL"],
        "high": totals["HIGH"],
        "notReviewed": [item["agent"] for item in review["notReviewed"]],
    }
    prefix = f"[ACSO {context.environment}] security patch review {review['month']}"
    more = f", {len(review['notReviewed'])} NOT reviewed" if review["notReviewed"] else ""
    if review["critical"]:
        first = review["critical"][0]
        subject = f"{prefix}: {totals['CRITICAL']} CRITICAL ({first['id']} in {', '.join(first['agents'])}){more}"
        why = "CRITICAL findings: " + "; ".join(
            f"{group['id']} ({group['package']}) in {', '.join(group['agents'])}" for group in review["critical"]
        )
        return Decision("escalated", why, "L1", subject, lines, after=after, audiences=("security",))
    subject = f"{prefix}: no CRITICAL, {totals['HIGH']} HIGH{more}"
    return Decision("reported", review["verdict"], "L1", subject, lines, after=after)


def access_review(state: dict, context: RunContext) -> Decision:
    """Always a short L1 summary linking the report; an admin-like grant the role does not use also tells security."""
    review, request = state["review"], state["request"]
    report = review["report"]
    report_link = links.s3_object(context.region, report["bucket"], report["key"])
    lines = [
        f"{review['verdict'][0].upper()}{review['verdict'][1:]}: {review['roles']} roles with "
        f"'{review['roleNameContains']}' in their name (of {review['listed']}), unused = not used in the last "
        f"{review['unusedAfterDays']} days. Nothing was changed. Report: {report_link}",
        "",
    ]
    lines += [
        f"SECURITY: admin-like policy {s['policy']} on {s['role']}, "
        + ("role unused" if s["roleVerdict"] == "unused-role" else s["verdict"].replace("-", " "))
        for s in review["security"]
    ]
    lines += [f"Unused role: {name}" for name in review["unusedRoles"]]
    lines += [f"Unused policy: {p['policy']} on {p['role']}" for p in review["unusedPolicies"]]
    if review["unusedPolicyCount"] > len(review["unusedPolicies"]):
        lines.append(f"... {review['unusedPolicyCount'] - len(review['unusedPolicies'])} more unused policies")
    if review["notAssessed"]:
        lines.append(f"Not assessed (last-accessed data missing): {', '.join(review['notAssessed'])}")
    if review["recommendations"]:
        lines += ["", "Recommendations", *[f"- {r['text']}" for r in review["recommendations"]]]
        if review["recommendationCount"] > len(review["recommendations"]):
            lines.append(f"- ... {review['recommendationCount'] - len(review['recommendations'])} more in the report")
    lines += [
        "",
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Report: {report_link}",
        f"Report (JSON): {links.s3_object(context.region, report['bucket'], report['json'])}",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    after = {
        "report": f"s3://{report['bucket']}/{report['key']}",
        "unusedRoles": review["unusedRoles"],
        "unusedPolicies": review["unusedPolicyCount"],
        "adminLikeUnused": len(review["security"]),
    }
    subject = f"[ACSO {context.environment}] access review {review['quarter']}: {review['verdict']}"
    if review["security"]:
        why = "admin-like grants not used: " + "; ".join(f"{s['policy']} on {s['role']}" for s in review["security"])
        return Decision("escalated", why, "L1", subject, lines, after=after, audiences=("security",))
    return Decision("reported", review["verdict"], "L1", subject, lines, after=after)


def _review_decision(
    kind: str, subject: str, found: list[dict], figures: list[str], tail: list[str], after: dict
) -> Decision:
    """database-review / cache-review: always a short L1 message linking the report (read only, nothing to undo)."""
    urgent = sum(1 for item in found if item["priority"] == 1)
    count = f"{len(found)} recommendation{'' if len(found) == 1 else 's'}" + (f", {urgent} urgent" if urgent else "")
    advice = [f"- [P{item['priority']}] {item['text']}" for item in found[:5]]
    if len(found) > 5:
        advice.append(f"- ... {len(found) - 5} more in the report")
    lines = [*figures, "", "Recommendations", *(advice or [f"None: no {kind} finding in the window."]), "", *tail]
    why = "; ".join(item["text"] for item in found[:3]) or f"no {kind} finding in the window"
    return Decision("reported", why, "L1", f"{subject}: {count}"[:99], lines, after=after | {"recommendations": count})


def database_review(state: dict, context: RunContext) -> Decision:
    """L1 summary of a database review: the connections and CPU figures, the slowest query and its index hint, the
    recommendations, and the links (report, slow-query log, database, execution)."""
    request, evidence, review = state["request"], state["evidence"], state["review"]
    measured, instance, slow = evidence["metrics"], evidence["instance"], evidence["slowQueries"]
    report, top, maximum = review["report"], review["topQuery"], review["maxConnections"]
    report_link = links.s3_object(context.region, report["bucket"], report["key"])
    peak, window = measured["connectionsPeak"], measured["window"]
    share = (
        "no data" if peak is None else f"peak {peak:,.0f} of max_connections {maximum:,} ({100 * peak / maximum:.0f} %)"
    )
    figures = [
        f"Instance {instance['instance_id']} ({instance['instance_class']}, {instance['engine']}), {window['hours']} h "
        f"to {window['end'][:16]} UTC. Report: {report_link}",
        "",
        f"Connections: {share}, mean {_number(measured['connectionsMean'])}",
        f"CPU peak {_percent(measured['cpuPeakPercent'])}, read latency {_ms(measured['readLatencyMs'])}, write "
        f"latency {_ms(measured['writeLatencyMs'])}",
    ]
    if top:
        hint = top.get("indexHint")
        figures += [
            f"Slow queries: {slow['parsed']} logged ({slow['distinct']} distinct, {slow['totalSeconds']} s in total); "
            "slowest by total time:",
            f"    {top['fingerprint'][:200]}",
            f"    {top['count']} runs, {top['total_seconds']:.1f} s, ~{_number(top['rowsExaminedPerRun'])} rows "
            "examined per run" + (f"; index hint {hint['table']} ({', '.join(hint['columns'])})" if hint else ""),
        ]
    else:
        figures.append(
            f"Slow queries: {'none logged' if slow['found'] else 'log group not found'} ({slow['logGroup']})"
        )
    figures.append(f"Agents' log lines about slow queries or timeouts: {evidence['agentLogs']['matches']}")
    tail = [
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Report: {report_link}",
        f"Slow-query log: {links.log_group(context.region, slow['logGroup'])}",
        f"Database: {links.rds_instance(context.region, instance['instance_id'])}",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    after = {
        "report": f"s3://{report['bucket']}/{report['key']}",
        "connectionsPeak": peak,
        "maxConnections": maximum,
        "topQuery": top["fingerprint"][:200] if top else None,
    }
    subject = f"[ACSO {context.environment}] database review {instance['instance_id']}"
    return _review_decision("database", subject, review["recommendations"], figures, tail, after)


def cache_review(state: dict, context: RunContext) -> Decision:
    """L1 summary of a cache review: hit rate against its target, evictions, memory, engine CPU, the
    recommendations, and the links (report, cache, execution)."""
    request, evidence, review = state["request"], state["evidence"], state["review"]
    cluster, window, seen, report = (
        evidence["cluster"],
        evidence["metrics"]["window"],
        review["figures"],
        review["report"],
    )
    report_link = links.s3_object(context.region, report["bucket"], report["key"])
    figures = [
        f"Cache {cluster['cluster_id']} ({cluster['node_type']}, {cluster['engine']}), {window['hours']} h to "
        f"{window['end'][:16]} UTC. Report: {report_link}",
        "",
        f"Hit rate {_percent(seen['hitRatePercent'])} (target {review['hitRateTargetPercent']:g} %): "
        f"{seen['hits']:,.0f} hits, {seen['misses']:,.0f} misses",
        f"Evictions {seen['evictions']:,.0f}; memory peak {_percent(seen['memory_peak_percent'])}; engine CPU peak "
        f"{_percent(seen['engine_cpu_peak_percent'])}; connections peak {_number(seen['connections_peak'])}",
    ]
    tail = [
        f"Why it ran: {_trigger_line(request)}",
        "",
        "Links",
        f"Report: {report_link}",
        f"Cache: {links.elasticache_cluster(context.region, cluster['cluster_id'])}",
        f"Execution: {links.execution(context.region, context.execution_arn)}",
    ]
    after = {
        "report": f"s3://{report['bucket']}/{report['key']}",
        "hitRatePercent": seen["hitRatePercent"],
        "evictions": seen["evictions"],
    }
    subject = f"[ACSO {context.environment}] cache review {cluster['cluster_id']}"
    return _review_decision("cache", subject, review["recommendations"], figures, tail, after)


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} ms"


def _maintenance_links(state: dict, context: RunContext) -> list[str]:
    backup, report = state.get("backup") or {}, state.get("report") or {}
    suppression = state.get("suppression") or {}
    lines = ["", "Links", f"Execution: {links.execution(context.region, context.execution_arn)}"]
    if suppression.get("parameter"):
        lines.append(f"Automation flags: {links.ssm_parameter(context.region, suppression['parameter'])}")
    lines += [
        f"Backup job {job['jobId']}: {links.backup_job(context.region, job['jobId'])}" for job in backup.get("jobs", [])
    ]
    if report.get("keys"):
        lines.append(f"Report: {links.s3_object(context.region, report['bucket'], report['keys']['markdown'])}")
    return lines


def _switch_back_line(restore: dict, suppression: dict) -> str:
    outcome = restore.get("outcome")
    if outcome == "restored":
        return (
            f"Auto-remediation: switched back on; the flags hold their previous value {json.dumps(restore['current'])}"
        )
    if outcome == "left-as-is":
        return (
            "Auto-remediation: the flags were changed by someone else during the window and are left as they are: "
            f"{json.dumps(restore.get('current'))}"
        )
    if outcome == "failed":
        return (
            f"Auto-remediation: NOT switched back ({restore.get('why')}); the guard resumes it by itself at "
            f"{suppression.get('suppressedUntil') or 'the end of the window'}"
        )
    if outcome == "dry-run":
        return "Auto-remediation: never suppressed (dry run)"
    return "Auto-remediation: not suppressed by this run"


def _maintenance_check_lines(phase: str, result: dict | None) -> list[str]:
    if not result:
        return []
    failed = [c for c in result["criteria"] if not c["passed"]]
    verdict = "all passed" if not failed else f"{len(failed)} FAILED"
    lines = [f"{phase} ({result['checkedAt'][:16]} UTC): {len(result['criteria'])} checks, {verdict}"]
    return lines + [
        f"    FAILED {c['scope']}: {c['criterion']} - {c['observed']} (expected {c['expected']}); now handled by "
        f"runbook {c['handled_by']}"
        for c in failed
    ]


def maintenance_window(state: dict, context: RunContext) -> Decision:
    """A window that ran: L1 with what was done and the checks' results. A window that did not start (checklist
    failed, backup failed or too slow): L2, nothing changed. Dry run: L1 with the calls it would make."""
    request, guard = state["request"], state.get("guard", {})
    checklist, backup = state.get("checklist") or {}, state.get("backup") or {}
    suppression, restore = state.get("suppression") or {}, state.get("restore") or {}
    prefix = f"[ACSO {context.environment}] maintenance-window"
    why_line = f"Why it ran: {_trigger_line(request)}; window {request['duration_minutes']} min"
    lines = [why_line, *_maintenance_links(state, context)]
    if not guard.get("proceed", False):
        return guard_refusal(guard, prefix, lines)
    if not checklist.get("ready"):
        failed = [check for check in checklist.get("checks", []) if not check["passed"]]
        why = "pre-maintenance checklist failed: " + "; ".join(f"{c['check']}: {c['observed']}" for c in failed)
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: NOT STARTED, checklist failed ({', '.join(c['check'] for c in failed)})",
            [
                "The maintenance window did not start: nothing was backed up, auto-remediation stays on.",
                *[f"FAILED {c['check']}: {c['observed']} (expected {c['expected']})" for c in failed],
                "",
                *lines,
            ],
        )
    jobs = ", ".join(f"{job['jobId']} {job.get('state', '')}".strip() for job in backup.get("jobs", []))
    if backup.get("outcome") == "started" and backup.get("state") != "completed":
        late = backup.get("state") == "running"
        why = f"backup {'not completed in time' if late else 'failed'}: {jobs}"
        messages = [f"    {job['jobId']}: {job['statusMessage']}" for job in backup["jobs"] if job.get("statusMessage")]
        return Decision(
            "escalated",
            why,
            "L2",
            f"{prefix}: NOT STARTED, backup {'too slow' if late else 'failed'}",
            [
                f"The maintenance window did not start: {why}. Auto-remediation stays on; do not start the "
                "maintenance without a backup.",
                *messages,
                "",
                *lines,
            ],
        )
    before = {"flags": suppression.get("previous")}
    checks = [
        *_maintenance_check_lines("Validation", state.get("validation")),
        *_maintenance_check_lines("After monitoring", state.get("monitoring")),
    ]
    if backup.get("outcome") == "dry-run":
        calls = [f"{call['operation']} {call['parameters']}" for call in backup["calls"]]
        calls.append(f"{suppression['call']['operation']} {suppression['call']['parameters']}")
        return Decision(
            "dry-run",
            "dry run: would back up, suppress auto-remediation and switch it back; nothing changed",
            "L1",
            f"{prefix}: DRY RUN, would back up {len(backup['calls'])} resources and suppress",
            ["What would happen:", *[f"    {call}" for call in calls], *checks, "", *lines],
            before,
        )
    failed = {
        label: [c for c in (state.get(phase) or {}).get("criteria", []) if not c["passed"]]
        for phase, label in (("validation", "validation"), ("monitoring", "after monitoring"))
    }
    failed = {label: criteria for label, criteria in failed.items() if criteria}
    done = [
        f"Backup: {jobs} (vault {backup.get('vault')})",
        f"Auto-remediation suppressed from {suppression.get('suppressedFrom', '')[:16]} until "
        f"{suppression.get('suppressedUntil', '')[:16]} UTC",
        *checks,
        _switch_back_line(restore, suppression),
    ]
    after = {
        "flags": restore.get("current"),
        "switchBack": restore.get("outcome"),
        "backupJobs": [job["jobId"] for job in backup.get("jobs", [])],
        "failedChecks": {label: len(criteria) for label, criteria in failed.items()},
        "report": (state.get("report") or {}).get("keys", {}).get("markdown"),
    }
    kept = ", flags left as changed" if restore.get("outcome") == "left-as-is" else ""
    if not failed:
        why = f"backed up, suppressed for the window, every check passed, auto-remediation {restore.get('outcome')}"
        return Decision(
            "completed", why, "L1", f"{prefix}: completed, all checks passed{kept}", [*done, *lines], before, after
        )
    why = "checks failed after the maintenance: " + "; ".join(
        f"{label}: " + ", ".join(f"{c['scope']} {c['criterion']}" for c in criteria)
        for label, criteria in failed.items()
    )
    counts = ", ".join(f"{label} {len(criteria)}" for label, criteria in failed.items())
    return Decision(
        "degraded", why, "L1", f"{prefix}: completed, checks FAILED ({counts}){kept}", [*done, *lines], before, after
    )


def maintenance_window_failed(state: dict, kind: str, message: str, context: RunContext) -> Decision:
    """A failed maintenance run: L2 with the error and whether auto-remediation was switched back first."""
    suppression = state.get("suppression") or {}
    switch_back = _switch_back_line(state.get("restore") or {}, suppression)
    return Decision(
        "failed",
        f"{kind}: {message}; {switch_back[0].lower()}{switch_back[1:]}",
        "L2",
        f"[ACSO {context.environment}] maintenance-window: FAILED ({kind})"[:100],
        [f"Error: {kind}: {message}", switch_back, *_maintenance_links(state, context)],
    )


# Errors that mean "the request was refused before any change": audited, shown in the console, nobody paged.
_REFUSED_ERRORS = {"InvalidInput": "rejected", "WriteRefused": "refused"}


def rejected_or_failed(state: dict, runbook: str, context: RunContext) -> Decision:
    error = state.get("error", {})
    kind = error.get("Error", "Unknown")
    message = _error_message(error)
    lines = [f"Error: {kind}: {message}", "", f"Execution: {links.execution(context.region, context.execution_arn)}"]
    unapproved = state.get("paged") and not state.get("approval")
    if runbook == "complete-outage" and kind in ("ApprovalRejected", "States.Timeout") and unapproved:
        return complete_outage_unapproved(state, kind, message, context)
    if runbook == "data-breach" and kind == "States.Timeout" and state.get("plan") and not state.get("approval"):
        return data_breach_unanswered(state, context)
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
    if runbook == "maintenance-window" and kind not in _REFUSED_ERRORS and state.get("request"):
        return maintenance_window_failed(state, kind, message, context)
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
