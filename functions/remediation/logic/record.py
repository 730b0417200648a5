"""Record: one audit record per decision, the lease released, one notification at the right level."""

from __future__ import annotations

import os

from remediation.adapters import notifier, state_store
from remediation.clock import utc_now
from remediation.domain import summaries
from remediation.domain.summaries import Decision, RunContext
from remediation.logic.guard import release
from remediation.settings import Settings

_NOTIFIED_TTL_SECONDS = 7 * 24 * 3600
_SUMMARIES = {
    "high-cpu": summaries.high_cpu,
    "daily-health-check": summaries.health_check,
    "scale-agent": summaries.scale_agent,
    "restart-agent": summaries.restart_agent,
}


def record_decision(runbook: str, state: dict, execution_arn: str, settings: Settings) -> dict:
    context = RunContext(
        settings.environment,
        os.environ.get("AWS_REGION", "us-east-1"),
        execution_arn,
        settings.agents_log_group,
        settings.state_table,
    )
    if "error" in state:
        decision = summaries.rejected_or_failed(state, runbook, context)
    else:
        decision = _SUMMARIES[runbook](state, context)
    released = release(state.get("guard", {}).get("lease"), execution_arn, settings)
    request = state.get("request", {})
    incident = (request.get("idempotency_key") or execution_arn).rsplit("#", 1)[0]
    message_id = _notify_once(decision, runbook, incident, execution_arn, settings) if decision.level else None
    state_store.put_audit_record(
        settings.state_table,
        runbook,
        utc_now(),
        execution_arn,
        {
            "runbook": runbook,
            "decision": decision.decision,
            "why": decision.why,
            "trigger": request.get("trigger"),
            "idempotencyKey": request.get("idempotency_key"),
            "eventId": request.get("event_id"),
            "service": request.get("service_name"),
            "dryRun": request.get("dry_run"),
            "before": decision.before,
            "after": decision.after,
            "call": (state.get("action") or {}).get("call"),
            "approval": state.get("approval"),
            "evidence": state.get("evidence"),
            "error": state.get("error"),
            "notifiedLevel": decision.level,
            "messageId": message_id,
            "leaseReleased": released,
        },
    )
    return {"decision": decision.decision, "why": decision.why, "notified": decision.level, "messageId": message_id}


def _notify_once(decision: Decision, runbook: str, incident: str, execution_arn: str, settings: Settings) -> str:
    """A retried record step (or the failure path after a failed record) does not page twice."""
    earlier = state_store.notified_message(settings.state_table, execution_arn, decision.decision)
    if earlier:
        return earlier
    message_id = _publish(decision, runbook, incident, settings)
    state_store.remember_notification(
        settings.state_table, execution_arn, decision.decision, message_id, utc_now(), _NOTIFIED_TTL_SECONDS
    )
    return message_id


def _publish(decision: Decision, runbook: str, incident: str, settings: Settings) -> str:
    level = settings.escalation[decision.level]
    respond = f"respond within {level.response_minutes} min" if level.response_minutes else "respond immediately"
    header = (
        f"{decision.decision.upper()} - escalation {decision.level}: {level.role}, severity {level.severity}, {respond}"
    )
    return notifier.publish(
        level.topic_arn,
        decision.subject,
        "\n".join([header, f"Incident: {incident}", "", *decision.lines]),
        # Subscribers (chat, paging) group every message about one incident by this attribute.
        {"runbook": runbook, "decision": decision.decision, "level": decision.level, "incident": incident},
    )
