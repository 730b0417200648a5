"""data-breach: the pure rules of the runbook (no AWS calls).

Where the evidence goes and how it is named, what a person is asked to approve (in exactly the words of what will
happen), the manifest that proves what was preserved, and what each audience (security, legal, compliance) is told.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from remediation.domain import links

EVIDENCE_ROOT = "data-breach"
AUDIENCES = ("security", "legal", "compliance")
LOG_SAMPLE_MINUTES = 60
"""Investigation: how far back the approval message looks at the service's log lines."""
MAX_LOG_EVENTS = 10_000
"""Evidence: at most this many log lines are copied (the manifest says when the window held more)."""


def evidence_prefix(execution_arn: str) -> str:
    """`data-breach/<execution name>/`: one folder per run, never reused."""
    return f"{EVIDENCE_ROOT}/{execution_name(execution_arn)}/"


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def state_machine_arn(execution_arn: str) -> str:
    """`arn:aws:states:<region>:<account>:execution:<machine>:<name>` -> the machine's ARN."""
    head, _, _name = execution_arn.rpartition(":")
    return head.replace(":execution:", ":stateMachine:", 1)


def service_log_pattern(agent: str) -> str:
    """CloudWatch Logs term pattern for the agent's lines in the shared agents' log group (quoted: hyphens)."""
    return f'"{agent}"'


def task_definition_key(prefix: str, task_definition_arn: str) -> str:
    """`.../task-definitions/<family>-<revision>.json` for `arn:...:task-definition/<family>:<revision>`."""
    family_revision = task_definition_arn.rsplit("/", 1)[-1]
    return f"{prefix}task-definitions/{family_revision.replace(':', '-')}.json"


def to_json(document: Any) -> bytes:
    """Stable, readable JSON of an AWS response (datetimes as ISO text)."""
    return json.dumps(document, indent=2, sort_keys=True, default=_text).encode()


def to_json_lines(events: list[dict]) -> bytes:
    return "".join(json.dumps(event, sort_keys=True, default=_text) + "\n" for event in events).encode()


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def restore_input(agent: str) -> str:
    return json.dumps({"service": agent, "restore": True, "reason": "<why it is safe to run again>"})


def restore_instruction(execution_arn: str, agent: str) -> str:
    """The separate, approval-gated restore run, as a command."""
    return (
        "Restore only after the investigation clears the service; it is a separate run that asks for approval "
        "again and sets the recorded prior count back:\n"
        f"  aws stepfunctions start-execution --state-machine-arn {state_machine_arn(execution_arn)} "
        f"--input '{restore_input(agent)}'"
    )


def isolate_by_hand(cluster: str, service: str) -> str:
    return f"aws ecs update-service --cluster {cluster} --service {service} --desired-count 0"


def trigger_line(request: Mapping[str, Any]) -> str:
    finding = request.get("finding")
    if finding:
        return (
            f"GuardDuty finding {finding.get('type')} (severity {finding.get('severity')}, id {finding.get('id')}): "
            f"{finding.get('title') or ''} - task {finding.get('taskArn') or 'unknown'}"
        )
    return f"started by hand: {request.get('reason')}"


# -- What a person approves ---------------------------------------------------------------------------------------


def isolation_proposal(
    request: Mapping[str, Any],
    desired: int,
    task_definition: str,
    evidence_location: str,
    retention: str,
    log_window_minutes: int,
) -> dict:
    return {
        "action": "isolate-service",
        "service": request["service_name"],
        "from": f"desired count {desired}",
        "to": "desired count 0",
        "impact": f"every task of {request['service_name']} stops; the prior count {desired} is recorded for the "
        "restore",
        "evidence": f"service configuration, task definition {task_definition} and the last {log_window_minutes} "
        f"minutes of its logs copied to {evidence_location} ({retention}: can be neither overwritten nor deleted)",
    }


def isolation_summary(
    request: Mapping[str, Any],
    desired: int,
    running: int,
    task_definition: str,
    investigation_lines: list[str],
    evidence_location: str,
    retention: str,
    log_window_minutes: int,
) -> str:
    service = request["service_name"]
    return "\n".join(
        [
            f"Suspected data breach on {service} ({trigger_line(request)}).",
            f"Now: {running} running / {desired} desired, task definition {task_definition}.",
            "",
            "If you approve, the runbook will:",
            f"  1. isolate {service}: desired count {desired} -> 0 (every task stops); the prior count {desired} is "
            "recorded, in the audit and the state table, for the restore;",
            f"  2. copy the service configuration (DescribeServices), its task definition(s) and the last "
            f"{log_window_minutes} minutes of its logs to {evidence_location}, each object with a SHA-256 "
            f"checksum, plus a manifest; {retention}: the copy can be neither overwritten nor deleted;",
            "  3. tell the security, legal and compliance teams what happened, what was done and where the "
            "evidence is.",
            "Restoring the service is a separate run that needs its own approval.",
            "",
            "Investigation (read only)",
            *investigation_lines,
        ]
    )


def restore_proposal(request: Mapping[str, Any], prior: int, isolation: Mapping[str, Any]) -> dict:
    return {
        "action": "restore-service",
        "service": request["service_name"],
        "from": "desired count 0",
        "to": f"desired count {prior}",
        "impact": f"{request['service_name']} runs again; isolated by {isolation.get('executionArn', '?')} "
        f"approved by {isolation.get('approver', '?')}",
    }


def restore_summary(request: Mapping[str, Any], prior: int, isolation: Mapping[str, Any]) -> str:
    service = request["service_name"]
    return "\n".join(
        [
            f"Restore {service} after its isolation for a suspected data breach ({request.get('reason')}).",
            "",
            "If you approve, the runbook will:",
            f"  1. set {service} back to the count recorded when it was isolated: desired count 0 -> {prior};",
            "  2. tell the security, legal and compliance teams.",
            "The evidence stays locked where it is.",
            "",
            f"Isolated at {isolation.get('isolatedAt', '?')} by {isolation.get('executionArn', '?')}, approved by "
            f"{isolation.get('approver', '?')}; evidence: {isolation.get('evidence', '?')}",
        ]
    )


def retention_text(mode: str, days: int) -> str:
    return f"Object Lock {mode} retention for {days} days"


# -- The manifest --------------------------------------------------------------------------------------------------


def manifest(
    *,
    bucket: str,
    prefix: str,
    execution_arn: str,
    request: Mapping[str, Any],
    approval: Mapping[str, Any] | None,
    isolation: Mapping[str, Any] | None,
    objects: list[dict],
    log_window: Mapping[str, Any],
    collected_at: str,
    retention: Mapping[str, Any],
) -> dict:
    """What was preserved, from where and why: every object with its version, checksum and lock."""
    return {
        "runbook": "data-breach",
        "execution": execution_arn,
        "collectedAt": collected_at,
        "location": f"s3://{bucket}/{prefix}",
        "retention": dict(retention),
        "trigger": trigger_line(request),
        "request": {
            key: request.get(key)
            for key in ("service_name", "cluster_name", "reason", "trigger", "event_id", "finding", "idempotency_key")
        },
        "approval": dict(approval) if approval else None,
        "isolation": dict(isolation) if isolation else None,
        "logs": dict(log_window),
        "objects": objects,
        "verify": "aws s3api head-object --checksum-mode ENABLED --bucket <bucket> --key <key> --version-id <version> "
        "returns the ChecksumSHA256 listed here; Object Lock keeps each version until its retain-until date.",
    }


# -- What each audience is told -------------------------------------------------------------------------------------


def audience_messages(state: Mapping[str, Any], environment: str, region: str, execution_arn: str) -> dict:
    """{audience: (subject, message)}: the same facts (what happened, what was done, where the evidence is, the
    prior count, how to restore), each told the way that audience acts on them."""
    request, action = state["request"], state.get("action") or {}
    approval, forensics = state.get("approval") or {}, state.get("forensics") or {}
    service, agent = request["service_name"], request["agent"]
    restoring = bool(request.get("restore"))
    approved = f"approved by {approval.get('approver', '?')} at {approval.get('decidedAt', '?')}"
    execution = links.execution(region, execution_arn)
    if restoring:
        restored, isolation = action.get("outcome") == "restored", action.get("isolation") or {}
        done = (
            f"{service} was restored: desired count 0 -> {action.get('restoredTo')} ({approved})."
            if restored
            else f"{service} was NOT restored: {_refusal(action)}."
        )
        facts = [
            f"What happened: {service} had been isolated for a suspected data breach.",
            f"What was done: {done}",
            f"Evidence (unchanged, still locked): {isolation.get('evidence', 'see the isolation run')}",
            f"Prior count: {action.get('restoredTo', '?')} (recorded when it was isolated).",
        ]
        subject = f"[ACSO {environment}] data breach: {agent} " + ("restored" if restored else "NOT restored")
        return {audience: (subject, "\n".join([*facts, "", f"Execution: {execution}"])) for audience in AUDIENCES}

    isolated = action.get("outcome") == "isolated"
    prior = action.get("priorDesiredCount", (action.get("before") or {}).get("desired_count", "?"))
    what = f"Suspected data breach on {service}: {trigger_line(request)}."
    if isolated:
        done = f"{service} was isolated: desired count {prior} -> 0, every task stopped ({approved})."
    else:
        done = (
            f"{service} was NOT isolated ({_refusal(action)}); it still runs {prior} task(s). Isolate it by hand: "
            f"{isolate_by_hand(request['cluster_name'], service)}"
        )
    location = forensics.get("manifestUri", "no evidence was copied")
    retention = forensics.get("retention", {})
    evidence = (
        f"{location} ({forensics.get('count', 0)} objects with SHA-256 checksums, Object Lock "
        f"{retention.get('mode', '?')} until {retention.get('retainUntil', '?')})"
    )
    restore = restore_instruction(execution_arn, agent)
    subject = f"[ACSO {environment}] DATA BREACH: {agent} " + ("isolated" if isolated else "NOT isolated")
    security = [
        f"What happened: {what}",
        f"What was done: {done}",
        f"Evidence: {evidence}",
        f"  service configuration, task definition(s), {forensics.get('logEvents', 0)} log lines"
        + (" (window truncated)" if forensics.get("logsTruncated") else ""),
        f"Prior count: {prior}",
        restore,
        "",
        f"Execution: {execution}",
    ]
    legal = [
        f"What happened: a suspected data breach on the ACSO {agent} service ({_plain_trigger(request)}).",
        f"What was done: {done}",
        f"Evidence preserved: {location}. Each file is write-once: {retention.get('mode', '?')} retention until "
        f"{retention.get('retainUntil', '?')}; nobody can alter or delete it before then, and the manifest lists a "
        "checksum per file.",
        "For you to decide: whether notification duties apply (customers, regulators) and whether a longer legal "
        "hold is needed (security can put one on the evidence objects).",
        f"Prior count: {prior}. The service is restored only by a separate, approved run, after the investigation "
        "clears it.",
        "",
        f"Execution: {execution}",
    ]
    compliance = [
        f"Incident record: data-breach run {execution_name(execution_arn)} on {service}.",
        f"Trigger: {trigger_line(request)}",
        f"Action: {done}",
        f"Approval: {approval.get('approvalId', 'none')} ({approved})",
        f"Evidence: {evidence}",
        "Audit record: one per run in the runbooks' state table (pk AUDIT#data-breach).",
        f"Prior count: {prior}",
        restore,
        "",
        f"Execution: {execution}",
    ]
    return {
        "security": (subject, "\n".join(security)),
        "legal": (subject, "\n".join(legal)),
        "compliance": (subject, "\n".join(compliance)),
    }


def _refusal(action: Mapping[str, Any]) -> str:
    refusal = action.get("authorization") or {}
    return f"refused at the last check: {refusal.get('reason', '?')}: {refusal.get('detail', '?')}"


def _plain_trigger(request: Mapping[str, Any]) -> str:
    finding = request.get("finding")
    if finding:
        return f"reported by AWS GuardDuty, severity {finding.get('severity')}: {finding.get('title') or ''}"
    return f"reported by the operations team: {request.get('reason')}"
