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
    "config-update": summaries.config_update,
    "rollback": summaries.rollback,
    "memory-leak": summaries.memory_leak,
    "complete-outage": summaries.complete_outage,
    "data-breach": summaries.data_breach,
    "backup-verification": summaries.backup_verification,
    "dr-test": summaries.dr_test,
    "maintenance-window": summaries.maintenance_window,
    "weekly-performance-review": summaries.weekly_performance_review,
    "service-unavailable": summaries.service_unavailable,
    "database-review": summaries.database_review,
    "cache-review": summaries.cache_review,
    "security-patch-review": summaries.security_patch_review,
    "access-review": summaries.access_review,
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
    also_notified = {
        level: _notify_once(decision, runbook, incident, execution_arn, settings, level) for level in decision.also
    }
    audiences_told = {
        audience: _tell_audience_once(decision, runbook, incident, execution_arn, settings, audience)
        for audience in decision.audiences
    }
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
            "restore": state.get("restore"),
            "approval": state.get("approval"),
            "evidence": state.get("evidence"),
            "error": state.get("error"),
            "notifiedLevel": decision.level,
            "messageId": message_id,
            "alsoNotified": also_notified or None,
            "audiencesNotified": audiences_told or None,
            "leaseReleased": released,
        },
    )
    return {"decision": decision.decision, "why": decision.why, "notified": decision.level, "messageId": message_id}


def _notify_once(
    decision: Decision, runbook: str, incident: str, execution_arn: str, settings: Settings, level: str | None = None
) -> str:
    """A retried record step (or the failure path after a failed record) does not page twice."""
    level = level or decision.level
    key = decision.decision if level == decision.level else f"{decision.decision}@{level}"
    earlier = state_store.notified_message(settings.state_table, execution_arn, key)
    if earlier:
        return earlier
    message_id = _publish(decision, runbook, incident, settings, level)
    state_store.remember_notification(
        settings.state_table, execution_arn, key, message_id, utc_now(), _NOTIFIED_TTL_SECONDS
    )
    return message_id


def _tell_audience_once(
    decision: Decision, runbook: str, incident: str, execution_arn: str, settings: Settings, audience: str
) -> str:
    """The same message to an audience's own topic (e.g. security), once per execution like `_notify_once`."""
    key = f"{decision.decision}@audience#{audience}"
    earlier = state_store.notified_message(settings.state_table, execution_arn, key)
    if earlier:
        return earlier
    header = f"{decision.decision.upper()} - for the {audience} team: {decision.why}"[:500]
    message_id = notifier.publish(
        settings.data_breach.audiences[audience],
        decision.subject,
        "\n".join([header, f"Incident: {incident}", "", *decision.lines]),
        {"runbook": runbook, "decision": decision.decision, "audience": audience, "incident": incident},
    )
    state_store.remember_notification(
        settings.state_table, execution_arn, key, message_id, utc_now(), _NOTIFIED_TTL_SECONDS
    )
    return message_id


def _publish(decision: Decision, runbook: str, incident: str, settings: Settings, level_name: str) -> str:
    level = settings.escalation[level_name]
    respond = f"respond within {level.response_minutes} min" if level.response_minutes else "respond immediately"
    header = (
        f"{decision.decision.upper()} - escalation {level_name}: {level.role}, severity {level.severity}, {respond}"
    )
    return notifier.publish(
        level.topic_arn,
        decision.subject,
        "\n".join([header, f"Incident: {incident}", "", *decision.lines]),
        # Subscribers (chat, paging) group every message about one incident by this attribute.
        {"runbook": runbook, "decision": decision.decision, "level": level_name, "incident": incident},
    )
