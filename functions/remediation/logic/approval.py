"""Human approval of a destructive action: the request step stores the task token and notifies; the decide step
applies a person's decision at most once, and never after the approval expired.

State-table items (`pk`/`sk` strings, `expiresAt` TTL):
- `APPROVAL#<id>` / `APPROVAL`: task token, execution, runbook, proposal, level, `status` (PENDING, APPROVED,
  REJECTED, EXPIRED), `deadline` (epoch seconds), and once decided the approver, channel and decision time.
  `expiresAt` starts at the deadline (an undecided approval simply disappears) and is pushed a year out when a
  decision is recorded, so the audit keeps who decided.
- `APPROVALTASK#<sha256 of the token>` / `APPROVAL`: the approval id made for a task token, so a retried request
  step reuses it and does not notify twice.

The decision is claimed with a conditional update (`status = PENDING AND deadline > now`) BEFORE Step Functions is
told: a replayed link or a second click loses the condition and nothing is sent twice.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from remediation.adapters import notifier, stepfunctions
from remediation.adapters.aws import aws_errors, client, error_code
from remediation.clock import utc_now
from remediation.domain import links
from remediation.domain.approval import (
    APPROVE,
    APPROVED,
    EXPIRED,
    PENDING,
    REJECT,
    REJECTED,
    REJECTED_ERROR,
    ApprovalDecision,
    ApprovalRefused,
    ApprovalRequest,
    TaskNoLongerWaiting,
    cli_command,
    decision_link,
    notification,
    verify_link,
)
from remediation.errors import AwsCallFailed, RunbookError
from remediation.settings import Settings

_SK = "APPROVAL"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_RETAIN_DECIDED_SECONDS = 365 * 24 * 3600
_SECRET_MAX_AGE_SECONDS = 300
_ENDPOINT_MAX_AGE_SECONDS = 300
_endpoints: dict[str, tuple[float, str]] = {}


@dataclass(frozen=True)
class StoredApproval:
    approval_id: str
    status: str
    runbook: str
    level: str
    proposal: dict
    execution_arn: str
    deadline: int
    approver: str | None
    decided_at: str | None
    message_id: str | None
    task_token: str = field(repr=False)


@dataclass(frozen=True)
class DecisionOutcome:
    approval: StoredApproval
    outcome: str
    """confirm (a GET: nothing changed yet) | approved | rejected"""
    approver: str | None = None
    decided_at: str | None = None

    def to_dict(self) -> dict:
        return {
            "approvalId": self.approval.approval_id,
            "outcome": self.outcome,
            "runbook": self.approval.runbook,
            "proposal": self.approval.proposal,
            "approver": self.approver,
            "decidedAt": self.decided_at,
        }


# -- Request -----------------------------------------------------------------------------------------------------


def request_approval(request: ApprovalRequest, settings: Settings) -> dict:
    """Store the token under a new approval id and publish ONE notification with both links and CLI commands."""
    table, now = settings.state_table, utc_now()
    deadline = int(now.timestamp()) + request.timeout_seconds
    approval_id = _claim_task(table, request.token_digest, str(uuid.uuid4()), deadline)
    stored = _load(table, approval_id)
    if stored is None:
        _store(table, approval_id, request, now, deadline)
    elif stored.message_id:  # a retried request step: already notified
        return {"approvalId": approval_id, "deadline": stored.deadline, "messageId": stored.message_id}
    else:
        deadline = stored.deadline
    message_id = _notify(request, approval_id, deadline, settings)
    _remember_message(table, approval_id, message_id)
    return {"approvalId": approval_id, "deadline": deadline, "messageId": message_id}


def _notify(request: ApprovalRequest, approval_id: str, deadline: int, settings: Settings) -> str:
    level = settings.escalation[request.level]
    key, endpoint = signing_key(settings), endpoint_url(settings)
    function_name = settings.approval.function_name
    respond = f"respond within {level.response_minutes} min" if level.response_minutes else "respond immediately"
    subject, message = notification(
        environment=settings.environment,
        request=request,
        approval_id=approval_id,
        expires=deadline,
        links={verb: decision_link(endpoint, key, approval_id, verb, deadline) for verb in (APPROVE, REJECT)},
        commands={verb: cli_command(function_name, approval_id, verb) for verb in (APPROVE, REJECT)},
        level_line=f"escalation {request.level}: {level.role}, severity {level.severity}, {respond}",
        execution_link=links.execution(os.environ.get("AWS_REGION", "us-east-1"), request.execution_arn),
    )
    return notifier.publish(
        level.topic_arn,
        subject,
        message,
        {"runbook": request.runbook, "decision": "approval-needed", "level": request.level, "approvalId": approval_id},
    )


# -- Decide ------------------------------------------------------------------------------------------------------


def decide(decision: ApprovalDecision, settings: Settings) -> DecisionOutcome:
    """Apply a decision, or (a link opened with GET) only check it can still be applied.

    Raises ApprovalRefused (nothing sent to Step Functions) or, on an AWS failure, a RunbookError after putting
    the approval back to PENDING so the person can simply try again.
    """
    table, now = settings.state_table, utc_now()
    if decision.channel == "link":
        verify_link(
            signing_key(settings),
            decision.approval_id,
            decision.decision,
            decision.expires or 0,
            decision.signature or "",
            now,
        )
    stored = _pending(_load(table, decision.approval_id), decision.approval_id, now)
    if not decision.confirmed:
        return DecisionOutcome(stored, "confirm")

    decided_at = now.isoformat()
    status = APPROVED if decision.decision == APPROVE else REJECTED
    if not _close(table, stored.approval_id, status, decision, decided_at, now):
        _pending(_load(table, decision.approval_id), decision.approval_id, now)
        raise ApprovalRefused(409, "already-decided", f"Approval {decision.approval_id} was decided concurrently.")
    try:
        if status == APPROVED:
            stepfunctions.send_task_success(
                stored.task_token,
                {
                    "approved": True,
                    "approver": decision.approver,
                    "approvalId": stored.approval_id,
                    "decidedAt": decided_at,
                },
            )
        else:
            stepfunctions.send_task_failure(
                stored.task_token, REJECTED_ERROR, f"Rejected by {decision.approver} at {decided_at}"
            )
    except TaskNoLongerWaiting as gone:
        _expire(table, stored.approval_id, status, decision, decided_at)
        raise ApprovalRefused(
            410,
            "execution-gone",
            f"The runbook stopped waiting for approval {stored.approval_id} (it timed out or ended) before this "
            "decision; nothing was changed and it escalated.",
        ) from gone
    except RunbookError:
        _reopen(table, stored.approval_id, status, decided_at)
        raise
    return DecisionOutcome(stored, status.lower(), decision.approver, decided_at)


def _pending(stored: StoredApproval | None, approval_id: str, now: datetime) -> StoredApproval:
    """The approval, if it still waits for a decision; else why not, as ApprovalRefused."""
    if stored is None:
        raise ApprovalRefused(
            403,
            "unknown-approval",
            f"No approval {approval_id} is known here (a wrong id, another environment's, or expired and removed).",
        )
    if stored.status == EXPIRED:
        raise ApprovalRefused(410, "approval-expired", f"Approval {approval_id} expired; nothing was changed.")
    if stored.status != PENDING:
        raise ApprovalRefused(
            409,
            "already-decided",
            f"Approval {approval_id} was already {stored.status.lower()} by {stored.approver} at "
            f"{stored.decided_at}; this decision was not applied.",
        )
    if int(now.timestamp()) >= stored.deadline:
        raise ApprovalRefused(
            410,
            "approval-expired",
            f"Approval {approval_id} expired; the runbook did not act and escalated.",
        )
    return stored


# -- Signing key and endpoint ------------------------------------------------------------------------------------


def signing_key(settings: Settings) -> bytes:
    """The HMAC key from Secrets Manager, cached for a few minutes (Powertools Parameters)."""
    try:
        value = parameters.get_secret(settings.approval.secret_arn, max_age=_SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        if isinstance(error.__context__, ClientError):
            with aws_errors("secretsmanager.GetSecretValue"):
                raise error.__context__ from None
        raise AwsCallFailed(f"secretsmanager.GetSecretValue failed: {error}") from error
    key = value.encode() if isinstance(value, str) else value
    if not isinstance(key, bytes) or len(key) < 32:
        raise AwsCallFailed("The approval signing key is missing or shorter than 32 bytes.")
    return key


def endpoint_url(settings: Settings) -> str:
    """Base of the links: settings.approval.endpointUrl if set, else the decide function's URL (cached)."""
    if settings.approval.endpoint_url:
        return settings.approval.endpoint_url
    name = settings.approval.function_name
    cached = _endpoints.get(name)
    if cached and time.monotonic() - cached[0] < _ENDPOINT_MAX_AGE_SECONDS:
        return cached[1]
    with aws_errors("lambda.GetFunctionUrlConfig"):
        url = client("lambda").get_function_url_config(FunctionName=name)["FunctionUrl"]
    _endpoints[name] = (time.monotonic(), url)
    return url


def clear_caches() -> None:
    """Forget the cached signing key and endpoint (tests; a new container starts empty anyway)."""
    _endpoints.clear()
    parameters.clear_caches()


# -- State table -------------------------------------------------------------------------------------------------


def _key(approval_id: str) -> dict:
    return {"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": _SK}}


def _claim_task(table: str, token_digest: str, approval_id: str, deadline: int) -> str:
    """The approval id of this task token: ours if first, else the one a previous attempt made."""
    key = {"pk": {"S": f"APPROVALTASK#{token_digest}"}, "sk": {"S": _SK}}
    item = key | {"approvalId": {"S": approval_id}, "expiresAt": {"N": str(deadline)}}
    if _conditional(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item=item,
        ConditionExpression="attribute_not_exists(pk)",
    ):
        return approval_id
    with aws_errors("dynamodb.GetItem"):
        found = client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
    return found["approvalId"]["S"]


def _store(table: str, approval_id: str, request: ApprovalRequest, now: datetime, deadline: int) -> None:
    item = _key(approval_id) | {
        "approvalId": {"S": approval_id},
        "taskToken": {"S": request.task_token},
        "executionArn": {"S": request.execution_arn},
        "runbook": {"S": request.runbook},
        "level": {"S": request.level},
        "proposal": {"S": json.dumps(request.proposal, sort_keys=True, default=str)},
        "status": {"S": PENDING},
        "requestedAt": {"S": now.isoformat()},
        "deadline": {"N": str(deadline)},
        "expiresAt": {"N": str(deadline)},
    }
    if request.request is not None:
        item["request"] = {"S": json.dumps(request.request, sort_keys=True, default=str)}
    _conditional(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item=item,
        ConditionExpression="attribute_not_exists(pk)",
    )


def _remember_message(table: str, approval_id: str, message_id: str) -> None:
    with aws_errors("dynamodb.UpdateItem"):
        client("dynamodb").update_item(
            TableName=table,
            Key=_key(approval_id),
            UpdateExpression="SET messageId = :message",
            ExpressionAttributeValues={":message": {"S": message_id}},
        )


def _load(table: str, approval_id: str) -> StoredApproval | None:
    with aws_errors("dynamodb.GetItem"):
        item = client("dynamodb").get_item(TableName=table, Key=_key(approval_id), ConsistentRead=True).get("Item")
    if not item:
        return None

    def text(name: str) -> str | None:
        return item.get(name, {}).get("S")

    return StoredApproval(
        approval_id=approval_id,
        status=text("status") or "",
        runbook=text("runbook") or "",
        level=text("level") or "",
        proposal=json.loads(text("proposal") or "{}"),
        execution_arn=text("executionArn") or "",
        deadline=int(item["deadline"]["N"]),
        approver=text("approver"),
        decided_at=text("decidedAt"),
        message_id=text("messageId"),
        task_token=text("taskToken") or "",
    )


def _close(
    table: str, approval_id: str, status: str, decision: ApprovalDecision, decided_at: str, now: datetime
) -> bool:
    """PENDING -> APPROVED/REJECTED, only while pending and before the deadline; False when that lost."""
    return _conditional(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key=_key(approval_id),
        UpdateExpression="SET #status = :status, approver = :approver, channel = :channel, decidedAt = :at, "
        "expiresAt = :retain",
        ConditionExpression="#status = :pending AND deadline > :now",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": status},
            ":approver": {"S": decision.approver},
            ":channel": {"S": decision.channel},
            ":at": {"S": decided_at},
            ":retain": {"N": str(int(now.timestamp()) + _RETAIN_DECIDED_SECONDS)},
            ":pending": {"S": PENDING},
            ":now": {"N": str(int(now.timestamp()))},
        },
    )


def _expire(table: str, approval_id: str, status: str, decision: ApprovalDecision, decided_at: str) -> None:
    """Step Functions had stopped waiting: the decision did not take effect; keep who tried, for the audit."""
    _conditional(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key=_key(approval_id),
        UpdateExpression="SET #status = :expired, attemptedDecision = :status, attemptedBy = :approver, "
        "attemptedAt = :at REMOVE approver, decidedAt",
        ConditionExpression="#status = :status AND decidedAt = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":expired": {"S": EXPIRED},
            ":status": {"S": status},
            ":approver": {"S": decision.approver},
            ":at": {"S": decided_at},
        },
    )


def _reopen(table: str, approval_id: str, status: str, decided_at: str) -> None:
    """Step Functions could not be told (throttled, failed): undo our claim so a retry of the decision works."""
    _conditional(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key=_key(approval_id),
        UpdateExpression="SET #status = :pending, expiresAt = deadline REMOVE approver, channel, decidedAt",
        ConditionExpression="#status = :status AND decidedAt = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":pending": {"S": PENDING}, ":status": {"S": status}, ":at": {"S": decided_at}},
    )


def _conditional(operation: str, call: Any, **request: Any) -> bool:
    try:
        call(**request)
        return True
    except ClientError as error:
        if error_code(error) == _CONDITION_FAILED:
            return False
        with aws_errors(operation):
            raise
