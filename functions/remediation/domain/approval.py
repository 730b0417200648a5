"""Human approval of a destructive action, the pure part: signed links, the CLI command, the notification text,
the two shapes a decision arrives in (a Lambda function URL request, a direct invocation) parsed into one model,
and the small HTML pages a browser gets back.

No AWS calls and no clock reads: callers pass `now`. The Step Functions task token is never part of any text
built here (links, commands, notifications, pages, error messages).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from remediation.errors import InvalidInput, RunbookError

APPROVE: Literal["approve"] = "approve"
REJECT: Literal["reject"] = "reject"
Verb = Literal["approve", "reject"]

PENDING, APPROVED, REJECTED, EXPIRED = "PENDING", "APPROVED", "REJECTED", "EXPIRED"
REJECTED_ERROR = "ApprovalRejected"
"""The `Error` of SendTaskFailure on reject; the state machine's Catch matches it."""

MIN_TIMEOUT_SECONDS = 60
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
_APPROVER_MAX = 100
_USER_AGENT_MAX = 160
_BODY_MAX = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_SUBJECT = re.compile(r"[^\x20-\x7e]")  # SNS subjects: printable ASCII, no line breaks


class ApprovalRefused(RunbookError):
    """The decision cannot be applied; nothing was sent to Step Functions.

    `status` is the HTTP status a browser gets (403 forbidden, 409 already decided, 410 expired).
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class TaskNoLongerWaiting(RunbookError):
    """Step Functions no longer waits for the task token: the execution timed out, stopped or moved on."""


# -- The request step's input ------------------------------------------------------------------------------------


class ApprovalRequest(BaseModel):
    """The Payload of the state machine's `lambda:invoke.waitForTaskToken` task."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048, repr=False)
    execution_arn: str = Field(alias="executionArn", min_length=1, max_length=2048)
    runbook: str = Field(min_length=1, max_length=64)
    request: dict[str, Any] | None = None
    proposal: dict[str, Any]
    summary: str = Field(max_length=100_000)
    level: str
    timeout_seconds: int = Field(alias="timeoutSeconds", ge=MIN_TIMEOUT_SECONDS, le=MAX_TIMEOUT_SECONDS)

    @field_validator("proposal")
    @classmethod
    def _names_an_action(cls, proposal: dict[str, Any]) -> dict[str, Any]:
        action = proposal.get("action")
        if not isinstance(action, str) or not action.strip():
            raise ValueError('must name the action, e.g. {"action": "resize-task", "service": "..."}')
        return proposal

    @property
    def token_digest(self) -> str:
        """Stable key of the task token (a retried request step gets the same one); never the token itself."""
        return hashlib.sha256(self.task_token.encode()).hexdigest()


def parse_request(raw: Any, levels: Iterable[str]) -> ApprovalRequest:
    """Validate the request step's payload; the error names fields, never their values (one is the token)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("The approval request is not a JSON object.")
    try:
        request = ApprovalRequest.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'payload'}: {issue['msg']}" for issue in error.errors()
        )
        raise InvalidInput(f"Invalid approval request: {problems}.") from None
    known = list(levels)
    if request.level not in known:
        raise InvalidInput(f"Unknown escalation level {request.level!r}; configured levels: {', '.join(known)}.")
    return request


def short_proposal(proposal: Mapping[str, Any]) -> str:
    """For subjects: `resize-task acso-production-supervisor`."""
    service = proposal.get("service")
    return f"{proposal['action']} {service}" if service else str(proposal["action"])


def describe_proposal(proposal: Mapping[str, Any]) -> str:
    """One line: `resize-task acso-production-supervisor cpu=256 memory=512 -> cpu=512 memory=1024`."""
    parts = [short_proposal(proposal)]
    if "from" in proposal or "to" in proposal:
        parts.append(f"{_compact(proposal.get('from'))} -> {_compact(proposal.get('to'))}")
    return " ".join(parts)


def _compact(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{key}={_compact(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ",".join(_compact(item) for item in value)
    return "?" if value is None else str(value)


# -- Signed links and the CLI command -----------------------------------------------------------------------------


def sign(key: bytes, approval_id: str, decision: str, expires: int) -> str:
    """HMAC-SHA256 over `id|decision|expires`, hex."""
    message = f"{approval_id}|{decision}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_link(key: bytes, approval_id: str, decision: str, expires: int, signature: str, now: datetime) -> None:
    """Raise ApprovalRefused unless the signature is ours for exactly these values and the link is still valid."""
    expected = sign(key, approval_id, decision, expires)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApprovalRefused(403, "bad-signature", "This link is not valid: it was altered or not issued here.")
    if int(now.timestamp()) >= expires:
        raise ApprovalRefused(
            410, "link-expired", f"This link expired at {_clock(expires)}; the runbook did not act and escalated."
        )


def decision_link(endpoint_url: str, key: bytes, approval_id: str, decision: Verb, expires: int) -> str:
    query = urlencode(
        {"id": approval_id, "decision": decision, "expires": expires, "sig": sign(key, approval_id, decision, expires)}
    )
    return f"{endpoint_url}?{query}"


def cli_command(function_name: str, approval_id: str, decision: Verb) -> str:
    payload = json.dumps(
        {"approvalId": approval_id, "decision": decision, "approver": "<your name>"}, separators=(",", ":")
    )
    return (
        f"aws lambda invoke --function-name {function_name} --cli-binary-format raw-in-base64-out "
        f"--payload '{payload}' /dev/stdout"
    )


# -- The notification ---------------------------------------------------------------------------------------------


def notification(
    *,
    environment: str,
    request: ApprovalRequest,
    approval_id: str,
    expires: int,
    links: Mapping[str, str],
    commands: Mapping[str, str],
    level_line: str,
    execution_link: str,
) -> tuple[str, str]:
    """(subject, message) of the one approval notification: evidence, both links, both CLI commands."""
    action = describe_proposal(request.proposal)
    subject = _NOT_SUBJECT.sub(
        "?", f"[ACSO {environment}] APPROVAL NEEDED {request.runbook}: {short_proposal(request.proposal)}"
    )
    lines = [
        f"APPROVAL NEEDED - {level_line}",
        "",
        f"Runbook: {request.runbook}",
        f"Proposed action: {action}",
        f"Approval id: {approval_id}",
        f"Decide before {_clock(expires)}. Without a decision nothing is changed and the runbook escalates.",
        "",
        request.summary.rstrip(),
        "",
        f"Approve: {links[APPROVE]}",
        f"Reject:  {links[REJECT]}",
        "(each link opens a confirmation page; the decision is made by its button)",
        "",
        "Or decide from a shell allowed to invoke the approval function:",
        f"  approve: {commands[APPROVE]}",
        f"  reject:  {commands[REJECT]}",
        "",
        f"Execution: {execution_link}",
    ]
    return subject, "\n".join(lines)


def _clock(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- A decision, from either entry point --------------------------------------------------------------------------


class ApprovalDecision(BaseModel):
    """One decision on one approval, however it arrived; `approver` is what the audit records."""

    model_config = ConfigDict(frozen=True)

    approval_id: str
    decision: Verb
    approver: str
    channel: Literal["link", "cli"]
    confirmed: bool
    """False for a link opened with GET: show the confirmation page, change nothing (mail scanners open links)."""
    expires: int | None = None
    signature: str | None = Field(default=None, repr=False)
    name: str | None = None
    """The name a link user typed (`by`), if any."""


def is_http_request(event: Any) -> bool:
    """A Lambda function URL request (payload format 2.0) rather than a direct invocation."""
    return (
        isinstance(event, Mapping)
        and isinstance(event.get("requestContext"), Mapping)
        and ("http" in event["requestContext"])
    )


def parse_cli(event: Any) -> ApprovalDecision:
    example = '{"approvalId": "<id from the notification>", "decision": "approve", "approver": "<your name>"}'
    if not isinstance(event, Mapping):
        raise InvalidInput(f"The payload is not a JSON object. Expected {example}.")
    unknown = sorted(set(event) - {"approvalId", "decision", "approver"})
    if unknown:
        raise InvalidInput(f"Unknown field(s) {', '.join(unknown)}. Expected {example}.")
    approver = _clean(event.get("approver"), _APPROVER_MAX)
    if not approver or approver == "<your name>":
        raise InvalidInput(f'"approver" is required: the name the audit records. Expected {example}.')
    return ApprovalDecision(
        approval_id=_approval_id(event.get("approvalId")),
        decision=_verb(event.get("decision")),
        approver=approver,
        channel="cli",
        confirmed=True,
    )


def parse_http(event: Mapping[str, Any]) -> ApprovalDecision:
    """GET shows the confirmation page, POST (its button) decides. Signature fields come from the query string."""
    http = event["requestContext"]["http"]
    method = str(http.get("method", "")).upper()
    if method not in {"GET", "HEAD", "POST"}:
        raise InvalidInput(f"Method {method or '?'} is not supported; open the link from the notification.")
    query = _single_values(parse_qs(event.get("rawQueryString") or "", keep_blank_values=True))
    if not query and event.get("queryStringParameters"):
        query = {str(key): str(value) for key, value in event["queryStringParameters"].items()}
    form = _form(event) if method == "POST" else {}
    missing = [name for name in ("id", "decision", "expires", "sig") if not query.get(name)]
    if missing:
        raise InvalidInput(f"The link is incomplete (missing {', '.join(missing)}); open it from the notification.")
    try:
        expires = int(query["expires"])
    except ValueError:
        raise InvalidInput("The link is damaged (expires is not a number); open it from the notification.") from None
    name = _clean(form.get("by") or query.get("by"), _APPROVER_MAX) or None
    source_ip = _clean(http.get("sourceIp"), 64) or "unknown address"
    user_agent = _clean(http.get("userAgent"), _USER_AGENT_MAX) or "unknown browser"
    via = f"link from {source_ip} ({user_agent})"
    return ApprovalDecision(
        approval_id=_approval_id(query["id"]),
        decision=_verb(query["decision"]),
        approver=f"{name}, {via}" if name else via,
        channel="link",
        confirmed=method == "POST",
        expires=expires,
        signature=query["sig"],
        name=name,
    )


def _approval_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an approval id (a UUID from the notification).") from None


def _verb(value: Any) -> Verb:
    if value == APPROVE:
        return APPROVE
    if value == REJECT:
        return REJECT
    raise InvalidInput(f'"decision" must be "approve" or "reject", got {value!r}.')


def _clean(value: Any, limit: int) -> str:
    return _CONTROL.sub(" ", value).strip()[:limit] if isinstance(value, str) else ""


def _single_values(values: Mapping[str, list[str]]) -> dict[str, str]:
    return {key: items[0] for key, items in values.items() if items}


def _form(event: Mapping[str, Any]) -> dict[str, str]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise InvalidInput("The form could not be read; use the button on the confirmation page.") from None
    return _single_values(parse_qs(body[:_BODY_MAX], keep_blank_values=True))


# -- Pages --------------------------------------------------------------------------------------------------------


def confirmation_page(decision: ApprovalDecision, runbook: str, proposal: Mapping[str, Any], expires: int) -> str:
    """The GET answer: what will happen, and the one button that makes it happen (a POST to the same link)."""
    verb = "Approve" if decision.decision == APPROVE else "Reject"
    query = urlencode(
        {
            "id": decision.approval_id,
            "decision": decision.decision,
            "expires": decision.expires,
            "sig": decision.signature,
        }
    )
    consequence = (
        "The runbook will carry out this action."
        if decision.decision == APPROVE
        else "The runbook will not act and will escalate."
    )
    form = (
        f'<form method="post" action="?{escape(query)}">'
        f'<label>Your name (recorded in the audit): <input name="by" maxlength="{_APPROVER_MAX}" '
        f'value="{escape(decision.name or "")}"></label> '
        f'<button type="submit">{verb}</button></form>'
    )
    return page(
        f"{verb} {runbook}?",
        [
            f"Proposed action: {describe_proposal(proposal)}",
            consequence,
            f"Decide before {_clock(expires)}. Approval id {decision.approval_id}.",
        ],
        form,
    )


def page(title: str, lines: Iterable[str], form: str = "") -> str:
    """A small readable page; every text is escaped, `form` is trusted markup built above."""
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"
        "button{font-size:1.1rem;padding:.4rem 1.2rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{paragraphs}{form}</body></html>"
    )
