"""data-breach (runbook "Data Breach Response"): investigate, then, once a person approves, isolate the service
(desired 0, the prior count recorded), preserve forensic evidence in the Object Lock bucket and tell security, legal
and compliance. Restoring is a separate run of the same runbook (`"restore": true`), approved again."""

from __future__ import annotations

from datetime import timedelta

from remediation.adapters import ecs, evidence, logs, notifier, state_store
from remediation.clock import utc_now
from remediation.domain import data_breach as rules
from remediation.domain.requests.incidents import DataBreachRequest
from remediation.logic.guard import authorize_write, lease_resource
from remediation.settings import Settings

RUNBOOK = "data-breach"
_PLAN_TTL_SECONDS = 7 * 24 * 3600
_NOTIFIED_TTL_SECONDS = 7 * 24 * 3600


# -- Investigate (read only) ----------------------------------------------------------------------------------------


def describe_task_definition(request: DataBreachRequest) -> dict:
    """The running task definition: what the tasks run (images), as whom (roles) and how big."""
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    current = ecs.describe_task_definition(state.task_definition)
    containers = current.get("containerDefinitions", [])
    return {
        "taskDefinition": f"{current['family']}:{current['revision']}",
        "taskDefinitionArn": current.get("taskDefinitionArn", state.task_definition),
        "images": [container.get("image") for container in containers],
        "taskRoleArn": current.get("taskRoleArn"),
        "executionRoleArn": current.get("executionRoleArn"),
        "cpu": current.get("cpu"),
        "memory": current.get("memory"),
    }


def read_service_logs(request: DataBreachRequest, settings: Settings) -> dict:
    """How much the service logged in the last hour, with the latest lines (the full copy is the evidence's)."""
    end = utc_now()
    pattern = rules.service_log_pattern(request.agent)
    found = logs.search(settings.agents_log_group, pattern, end - timedelta(minutes=rules.LOG_SAMPLE_MINUTES), end)
    return {
        "logGroup": settings.agents_log_group,
        "pattern": pattern,
        "windowMinutes": rules.LOG_SAMPLE_MINUTES,
        "matches": found.count,
        "truncated": found.truncated,
        "samples": list(found.samples),
    }


def plan(request: DataBreachRequest, investigation: dict, execution_arn: str, settings: Settings) -> dict:
    """What a person will be asked to approve, in exactly the words of what will happen (read only)."""
    state = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    policy = settings.data_breach
    retention = rules.retention_text(policy.evidence_retention_mode, policy.evidence_retention_days)
    location = f"s3://{policy.evidence_bucket}/{rules.evidence_prefix(execution_arn)}"
    resource = lease_resource(request)
    base = {"action": request.action, "service": request.service_name, "desiredCount": state.desired_count}
    if request.restore:
        return base | _plan_restore(request, state, state_store.isolation_record(settings.state_table, resource))
    if state.desired_count == 0:
        earlier = state_store.isolation_record(settings.state_table, resource)
        since = f" (isolated by {earlier['executionArn']})" if earlier else ""
        why = f"{request.service_name} already runs 0 tasks{since}; nothing to isolate"
        return base | {"possible": False, "why": why}
    task = investigation.get("taskDefinition") or {}
    task_definition = task.get("taskDefinition", state.task_definition.rsplit("/", 1)[-1])
    request_dict = request.model_dump()
    found = investigation.get("logs") or {}
    lines = [
        f"Task definition {task_definition}: images {', '.join(str(i) for i in task.get('images', [])) or '?'}, "
        f"task role {task.get('taskRoleArn') or 'none'}",
        f"Log lines of {request.agent} in the last {found.get('windowMinutes', '?')} min: {found.get('matches', '?')}",
        *[f"    e.g. {sample[:200]}" for sample in list(dict.fromkeys(found.get("samples", [])))[:3]],
        *[f"ECS event: {event}" for event in state.recent_events[:3]],
    ]
    calls = [
        {
            "operation": "ecs.UpdateService",
            "parameters": {"cluster": request.cluster_name, "service": request.service_name, "desiredCount": 0},
        },
        {"operation": "s3.PutObject", "parameters": {"Bucket": policy.evidence_bucket, "Prefix": location}},
    ]
    return base | {
        "possible": True,
        "evidenceLocation": location,
        "calls": calls,
        "proposal": rules.isolation_proposal(
            request_dict, state.desired_count, task_definition, location, retention, policy.log_window_minutes
        ),
        "summary": rules.isolation_summary(
            request_dict,
            state.desired_count,
            state.running_count,
            task_definition,
            lines,
            location,
            retention,
            policy.log_window_minutes,
        ),
    }


def _plan_restore(request: DataBreachRequest, state: ecs.ServiceState, isolation: dict | None) -> dict:
    if isolation is None:
        return {
            "possible": False,
            "why": f"no isolation of {request.service_name} is recorded; nothing to restore (use scale-agent to "
            "set a count by hand)",
        }
    if state.desired_count != 0:
        return {
            "possible": False,
            "why": f"{request.service_name} already runs {state.desired_count} task(s) desired, not 0; it was "
            "restored or changed by hand",
        }
    prior = int(isolation["priorDesiredCount"])
    request_dict = request.model_dump()
    return {
        "possible": True,
        "priorDesiredCount": prior,
        "calls": [
            {
                "operation": "ecs.UpdateService",
                "parameters": {"cluster": request.cluster_name, "service": request.service_name, "desiredCount": prior},
            }
        ],
        "proposal": rules.restore_proposal(request_dict, prior, isolation),
        "summary": rules.restore_summary(request_dict, prior, isolation),
    }


# -- Act (after a person approved) ------------------------------------------------------------------------------------


def isolate(request: DataBreachRequest, approval: dict, execution_arn: str, settings: Settings) -> dict:
    """Desired 0 through the guard's one approved-isolation path; the prior count recorded before the write."""
    table, resource = settings.state_table, lease_resource(request)
    refused = _retake_lease(request, execution_arn, settings)
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    # A retry of this step (after UpdateService succeeded) must still know the count before the isolation.
    first = state_store.remember_plan(
        table, request.idempotency_key, {"before": current.to_dict()}, utc_now(), _PLAN_TTL_SECONDS
    )
    before = first["before"]
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": request.cluster_name, "service": request.service_name, "desiredCount": 0},
    }
    result = {
        "action": "isolate",
        "service": request.service_name,
        "before": before,
        "priorDesiredCount": before["desired_count"],
        "call": call,
        "authorization": None,
    }
    if refused:
        return result | {"outcome": "refused", "after": current.to_dict(), "authorization": refused}
    if current.desired_count != 0:  # not yet done by an earlier attempt of this step
        authorization = authorize_write(request, current, 0, execution_arn, settings, approved_isolation=approval)
        if not authorization.allowed:
            return result | {"outcome": "refused", "after": current.to_dict(), "authorization": authorization.to_dict()}
    now = utc_now()
    record = state_store.record_isolation(
        table,
        resource,
        {
            "priorDesiredCount": before["desired_count"],
            "isolatedAt": now.isoformat(),
            "executionArn": execution_arn,
            "approvalId": approval.get("approvalId"),
            "approver": approval.get("approver"),
            "reason": request.reason,
            "evidence": f"s3://{settings.data_breach.evidence_bucket}/{rules.evidence_prefix(execution_arn)}"
            "manifest.json",
        },
    )
    after = ecs.set_desired_count(request.cluster_name, request.service_name, 0)
    state_store.record_action(table, resource, request.action, now, settings.guard.cooldown_seconds)
    return result | {"outcome": "isolated", "after": after.to_dict(), "isolation": record}


def restore(request: DataBreachRequest, approval: dict, execution_arn: str, settings: Settings) -> dict:
    """Back to the count recorded by the isolation (an ordinary write: floor, cap and budget apply)."""
    table, resource = settings.state_table, lease_resource(request)
    refused = _retake_lease(request, execution_arn, settings)
    current = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    isolation = state_store.isolation_record(table, resource)
    first = state_store.remember_plan(
        table,
        request.idempotency_key,
        {"before": current.to_dict(), "isolation": isolation},
        utc_now(),
        _PLAN_TTL_SECONDS,
    )
    before, isolation = first["before"], first["isolation"]
    result = {"action": "restore", "service": request.service_name, "before": before, "isolation": isolation}
    if isolation is None:
        refusal = {"allowed": False, "reason": "no-isolation-recorded", "detail": "nothing to restore"}
        return result | {"outcome": "refused", "after": current.to_dict(), "authorization": refusal, "call": None}
    prior = int(isolation["priorDesiredCount"])
    call = {
        "operation": "ecs.UpdateService",
        "parameters": {"cluster": request.cluster_name, "service": request.service_name, "desiredCount": prior},
    }
    result |= {"restoredTo": prior, "call": call}
    if refused:
        return result | {"outcome": "refused", "after": current.to_dict(), "authorization": refused}
    if current.desired_count != prior:
        authorization = authorize_write(request, current, prior, execution_arn, settings)
        if not authorization.allowed:
            return result | {"outcome": "refused", "after": current.to_dict(), "authorization": authorization.to_dict()}
    after = ecs.set_desired_count(request.cluster_name, request.service_name, prior)
    state_store.clear_isolation(table, resource)
    state_store.record_action(table, resource, request.action, utc_now(), settings.guard.cooldown_seconds)
    return result | {"outcome": "restored", "after": after.to_dict()}


def _retake_lease(request: DataBreachRequest, execution_arn: str, settings: Settings) -> dict | None:
    """The approval may have taken longer than the lease: take it again (ours, or expired) before acting."""
    holder = state_store.acquire_lease(
        settings.state_table, lease_resource(request), execution_arn, utc_now(), settings.guard.lock_seconds
    )
    if holder is None:
        return None
    return {"allowed": False, "reason": "locked", "detail": f"{lease_resource(request)} is held by {holder}"}


def preserve_evidence(
    request: DataBreachRequest, approval: dict, action: dict, execution_arn: str, settings: Settings
) -> dict:
    """Copy the service configuration, its task definitions and its recent logs into the locked bucket, write once,
    each with a checksum, then the manifest. A retried step keeps what an earlier attempt already wrote."""
    policy, bucket = settings.data_breach, settings.data_breach.evidence_bucket
    prefix = rules.evidence_prefix(execution_arn)
    now = utc_now()
    service = ecs.describe_service_raw(request.cluster_name, request.service_name)
    stored = [
        evidence.put_once(
            bucket,
            f"{prefix}service.json",
            rules.to_json({"describedAt": now, "operation": "ecs.DescribeServices", "service": service}),
            "application/json",
        )
    ]
    revisions = [
        (action.get("before") or {}).get("task_definition"),
        service.get("taskDefinition"),
        *(deployment.get("taskDefinition") for deployment in service.get("deployments", [])),
    ]
    for revision in dict.fromkeys(r for r in revisions if r):
        stored.append(
            evidence.put_once(
                bucket,
                rules.task_definition_key(prefix, revision),
                rules.to_json(ecs.describe_task_definition_raw(revision)),
                "application/json",
            )
        )
    pattern = rules.service_log_pattern(request.agent)
    start = now - timedelta(minutes=policy.log_window_minutes)
    events, truncated = logs.read_events(settings.agents_log_group, pattern, start, now, rules.MAX_LOG_EVENTS)
    stored.append(
        evidence.put_once(bucket, f"{prefix}logs/{request.agent}.jsonl", rules.to_json_lines(events), "text/plain")
    )
    objects = [item.to_dict() for item in stored]
    retention = {
        "mode": stored[0].lock_mode or policy.evidence_retention_mode,
        "days": policy.evidence_retention_days,
        "retainUntil": stored[0].retain_until,
    }
    log_window = {
        "logGroup": settings.agents_log_group,
        "pattern": pattern,
        "from": start.isoformat(),
        "to": now.isoformat(),
        "events": len(events),
        "truncated": truncated,
    }
    document = rules.manifest(
        bucket=bucket,
        prefix=prefix,
        execution_arn=execution_arn,
        request=request.model_dump(),
        approval=approval,
        isolation={key: action.get(key) for key in ("outcome", "priorDesiredCount", "before", "after", "call")},
        objects=objects,
        log_window=log_window,
        collected_at=now.isoformat(),
        retention=retention,
    )
    written = evidence.put_once(bucket, f"{prefix}manifest.json", rules.to_json(document), "application/json")
    return {
        "bucket": bucket,
        "prefix": prefix,
        "manifestKey": written.key,
        "manifestUri": f"s3://{bucket}/{written.key}",
        "manifest": written.to_dict(),
        "objects": objects,
        "count": len(objects) + 1,
        "retention": retention,
        "logEvents": len(events),
        "logsTruncated": truncated,
    }


# -- Tell the audiences -------------------------------------------------------------------------------------------


def notify_stakeholders(state: dict, execution_arn: str, region: str, settings: Settings) -> dict:
    """One message per audience (security, legal, compliance), each once per execution (retries do not repeat)."""
    messages = rules.audience_messages(state, settings.environment, region, execution_arn)
    request = state["request"]
    incident = (request.get("idempotency_key") or execution_arn).rsplit("#", 1)[0]
    sent = {}
    for audience, (subject, message) in messages.items():
        marker = f"audience#{audience}"
        earlier = state_store.notified_message(settings.state_table, execution_arn, marker)
        if earlier:
            sent[audience] = earlier
            continue
        sent[audience] = notifier.publish(
            settings.data_breach.audiences[audience],
            subject,
            message,
            {"runbook": RUNBOOK, "audience": audience, "incident": incident, "action": request.get("action", "")},
        )
        state_store.remember_notification(
            settings.state_table, execution_arn, marker, sent[audience], utc_now(), _NOTIFIED_TTL_SECONDS
        )
    return {"messageIds": sent, "audiences": sorted(sent)}
