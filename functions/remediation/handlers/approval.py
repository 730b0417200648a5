"""Lambda entry points of human approval (logic/approval.py).

- `request_approval`: the `lambda:invoke.waitForTaskToken` task of a runbook; stores the task token and sends one
  notification with signed approve/reject links and the equivalent CLI commands. Step Functions then waits.
- `decide`: behind the signed links (a Lambda function URL, payload format 2.0: GET shows a confirmation page,
  its button POSTs the decision) and the CLI (`aws lambda invoke` with {"approvalId", "decision", "approver"}).

Neither handler logs its event: the request carries the task token, a link carries its signature.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain import approval
from remediation.domain.approval import ApprovalDecision, ApprovalRefused
from remediation.errors import InvalidInput, RunbookError
from remediation.logic import approval as approvals
from remediation.observability import logger, metrics
from remediation.settings import Settings, load_settings

HTML_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",  # the page's URL is a signed link
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
}
_REFUSED_TITLES = {403: "Not allowed", 409: "Already decided", 410: "Expired"}


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def request_approval(event: dict, context: LambdaContext) -> dict:
    """Returns {"approvalId", "deadline", "messageId"}; the state machine waits for the decision, not for this."""
    settings = load_settings()
    request = approval.parse_request(event, settings.escalation)
    result = approvals.request_approval(request, settings)
    logger.info(
        "Approval requested",
        extra={
            "approval_id": result["approvalId"],
            "runbook": request.runbook,
            "level": request.level,
            "proposal": request.proposal,
            "deadline": result["deadline"],
        },
    )
    metrics.add_dimension("runbook", request.runbook)
    metrics.add_metric(name="ApprovalsRequested", unit="Count", value=1)
    return result


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def decide(event: dict, context: LambdaContext) -> dict:
    """A function URL request gets an HTML page; a direct invocation gets a JSON answer or a typed error."""
    settings = load_settings()
    if approval.is_http_request(event):
        return _answer_link(event, settings)
    return _answer_cli(event, settings)


def _answer_cli(event: dict, settings: Settings) -> dict:
    """Raises InvalidInput or ApprovalRefused (shown by `aws lambda invoke` as errorType/errorMessage)."""
    try:
        decision = approval.parse_cli(event)
    except InvalidInput:
        _count("invalid")
        raise
    try:
        outcome = approvals.decide(decision, settings)
    except ApprovalRefused as refused:
        _log_refusal(decision, refused)
        raise
    _log_decision(decision, outcome.outcome)
    return outcome.to_dict()


def _answer_link(event: dict, settings: Settings) -> dict:
    try:
        decision = approval.parse_http(event)
    except InvalidInput as invalid:
        _count("invalid")
        return _html(400, "This link cannot be used", [str(invalid)])
    try:
        outcome = approvals.decide(decision, settings)
    except ApprovalRefused as refused:
        _log_refusal(decision, refused)
        return _html(refused.status, _REFUSED_TITLES.get(refused.status, "Refused"), [str(refused)])
    except RunbookError:
        logger.exception("Decision not applied", extra={"approval_id": decision.approval_id})
        _count("unavailable")
        return _html(
            503,
            "Please try again",
            ["The decision could not be passed on to the runbook; nothing was changed.", "The link still works."],
        )
    stored = outcome.approval
    if outcome.outcome == "confirm":
        _count("previewed")
        page = approval.confirmation_page(decision, stored.runbook, stored.proposal, stored.deadline)
        return {"statusCode": 200, "headers": HTML_HEADERS, "body": page}
    _log_decision(decision, outcome.outcome)
    done = "The runbook goes on with the action." if outcome.outcome == "approved" else "The runbook will not act."
    return _html(
        200,
        f"{outcome.outcome.capitalize()}",
        [
            f"{stored.runbook}: {approval.describe_proposal(stored.proposal)}",
            done,
            f"Recorded as {outcome.outcome} by {outcome.approver} at {outcome.decided_at}.",
        ],
    )


def _html(status: int, title: str, lines: list[str]) -> dict:
    return {"statusCode": status, "headers": HTML_HEADERS, "body": approval.page(title, lines)}


def _log_decision(decision: ApprovalDecision, outcome: str) -> None:
    logger.info(
        "Approval decided",
        extra={
            "approval_id": decision.approval_id,
            "outcome": outcome,
            "approver": decision.approver,
            "channel": decision.channel,
        },
    )
    _count(outcome)


def _log_refusal(decision: ApprovalDecision, refused: ApprovalRefused) -> None:
    logger.warning(
        "Approval decision refused",
        extra={
            "approval_id": decision.approval_id,
            "reason": refused.reason,
            "status": refused.status,
            "approver": decision.approver,
            "channel": decision.channel,
        },
    )
    _count(f"refused-{refused.reason}")


def _count(outcome: str) -> None:
    metrics.add_dimension("outcome", outcome)
    metrics.add_metric(name="ApprovalDecisions", unit="Count", value=1)
