"""DynamoDB adapter for guard state (event claims, leases, cooldowns) and audit records.

One table: `pk`/`sk` strings, `expiresAt` (epoch seconds) as the TTL attribute. TTL deletion lags
by hours, so every expiry that matters is also checked inside the condition expression.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def claim_event(table: str, idempotency_key: str, execution_arn: str, now: datetime, ttl_seconds: int) -> str | None:
    """Record the first delivery of an event; returns the other execution that claimed it earlier, if any.

    Re-entrant: a retried guard step of the same execution finds its own claim and goes on.
    """
    claimed = _conditional_write(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item={
            "pk": {"S": f"EVENT#{idempotency_key}"},
            "sk": {"S": "CLAIM"},
            "executionArn": {"S": execution_arn},
            "claimedAt": {"S": now.isoformat()},
            "expiresAt": {"N": str(_epoch(now) + ttl_seconds)},
        },
        ConditionExpression="attribute_not_exists(pk) OR executionArn = :me",
        ExpressionAttributeValues={":me": {"S": execution_arn}},
    )
    if claimed:
        return None
    return _get(table, f"EVENT#{idempotency_key}", "CLAIM").get("executionArn", {}).get("S", "unknown")


def remember_plan(table: str, idempotency_key: str, plan: dict, now: datetime, ttl_seconds: int) -> dict:
    """Store the first plan made for an event and return it; a retried act step reuses it, never re-plans.

    Without this, a retry after a successful write would plan again from the new state (one more step).
    """
    stored = _conditional_write(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item={
            "pk": {"S": f"PLAN#{idempotency_key}"},
            "sk": {"S": "PLAN"},
            "plan": {"S": json.dumps(plan, sort_keys=True)},
            "expiresAt": {"N": str(_epoch(now) + ttl_seconds)},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    if stored:
        return plan
    return json.loads(_get(table, f"PLAN#{idempotency_key}", "PLAN")["plan"]["S"])


def notified_message(table: str, execution_arn: str, decision: str) -> str | None:
    """The notification already published for this execution's decision (a retried record step)."""
    return _get(table, f"NOTIFIED#{execution_arn}", decision).get("messageId", {}).get("S")


def remember_notification(
    table: str, execution_arn: str, decision: str, message_id: str, now: datetime, ttl_seconds: int
) -> None:
    with aws_errors("dynamodb.PutItem"):
        client("dynamodb").put_item(
            TableName=table,
            Item={
                "pk": {"S": f"NOTIFIED#{execution_arn}"},
                "sk": {"S": decision},
                "messageId": {"S": message_id},
                "expiresAt": {"N": str(_epoch(now) + ttl_seconds)},
            },
        )


def acquire_lease(table: str, resource: str, owner: str, now: datetime, lease_seconds: int) -> str | None:
    """Take the lease on a resource; returns the current holder when someone else holds a live lease."""
    acquired = _conditional_write(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item={
            "pk": {"S": f"LEASE#{resource}"},
            "sk": {"S": "LEASE"},
            "owner": {"S": owner},
            "acquiredAt": {"S": now.isoformat()},
            "expiresAt": {"N": str(_epoch(now) + lease_seconds)},
        },
        ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":now": {"N": str(_epoch(now))}, ":owner": {"S": owner}},
    )
    if acquired:
        return None
    return _get(table, f"LEASE#{resource}", "LEASE").get("owner", {}).get("S", "unknown")


def lease_owner(table: str, resource: str) -> str | None:
    return _get(table, f"LEASE#{resource}", "LEASE").get("owner", {}).get("S")


def has_audit_record(table: str, runbook: str, execution_arn: str) -> bool:
    return bool(_get(table, f"AUDIT#{runbook}", execution_arn.rsplit(":", 1)[-1]))


def release_lease(table: str, resource: str, owner: str) -> bool:
    """Release only our own lease; returns False when it had already expired and been taken."""
    return release_lease_item(table, resource, owner) is not None


def release_lease_item(table: str, resource: str, owner: str) -> dict | None:
    """Release only our own lease and return what it carried ({} when there was none); None when another
    run holds it now."""
    try:
        response = client("dynamodb").delete_item(
            TableName=table,
            Key={"pk": {"S": f"LEASE#{resource}"}, "sk": {"S": "LEASE"}},
            ConditionExpression="attribute_not_exists(pk) OR #owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
            ReturnValues="ALL_OLD",
        )
    except ClientError as error:
        if error_code(error) == _CONDITION_FAILED:
            return None
        with aws_errors("dynamodb.DeleteItem"):
            raise
    return response.get("Attributes", {})


def mark_lease(table: str, resource: str, owner: str, flag: str) -> bool:
    """Note on our own lease something its release must undo (e.g. a suspended autoscaler scale-in)."""
    return _conditional_write(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key={"pk": {"S": f"LEASE#{resource}"}, "sk": {"S": "LEASE"}},
        UpdateExpression="SET #flag = :true",
        ConditionExpression="#owner = :owner",
        ExpressionAttributeNames={"#owner": "owner", "#flag": flag},
        ExpressionAttributeValues={":owner": {"S": owner}, ":true": {"BOOL": True}},
    )


def claim_once(table: str, key: str, owner: str, now: datetime, ttl_seconds: int) -> bool:
    """True for the first caller only (e.g. one blast-radius page per hour, whoever sees it first)."""
    return _conditional_write(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item={
            "pk": {"S": f"ONCE#{key}"},
            "sk": {"S": "ONCE"},
            "owner": {"S": owner},
            "expiresAt": {"N": str(_epoch(now) + ttl_seconds)},
        },
        ConditionExpression="attribute_not_exists(pk) OR #owner = :owner",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":owner": {"S": owner}},
    )


def consume_budget(table: str, window: str, limit: int, owner: str, now: datetime, ttl_seconds: int) -> bool:
    """Take one action from the window's budget; False when the budget is spent.

    Idempotent per owner (a retried act step does not spend twice): the owner is added to a string set
    in the same conditional update that counts it.
    """
    return _conditional_write(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key={"pk": {"S": f"BUDGET#{window}"}, "sk": {"S": "BUDGET"}},
        UpdateExpression="ADD used :one, owners :owner SET expiresAt = :expires",
        ConditionExpression="attribute_not_exists(used) OR (used < :limit AND NOT contains(owners, :owner_value))",
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":owner": {"SS": [owner]},
            ":owner_value": {"S": owner},
            ":limit": {"N": str(limit)},
            ":expires": {"N": str(_epoch(now) + ttl_seconds)},
        },
    ) or _budget_owner(table, window, owner)


def _budget_owner(table: str, window: str, owner: str) -> bool:
    return owner in _get(table, f"BUDGET#{window}", "BUDGET").get("owners", {}).get("SS", [])


def breaker_open_since(table: str, runbook: str) -> str | None:
    """When the runbook's circuit breaker opened, or None while it is closed."""
    return _get(table, f"BREAKER#{runbook}", "BREAKER").get("openedAt", {}).get("S")


def record_failed_verification(
    table: str, runbook: str, execution_arn: str, now: datetime, window_seconds: int, threshold: int
) -> tuple[int, bool]:
    """Count a failed verification in the window; open the breaker at the threshold.

    Returns (failures in the window, whether this call opened the breaker).
    """
    item = _get(table, f"BREAKER#{runbook}", "BREAKER")
    since = now.timestamp() - window_seconds
    failures = [f for f in json.loads(item.get("failures", {}).get("S", "[]")) if f["at"] >= since]
    if not any(f["execution"] == execution_arn for f in failures):
        failures.append({"at": now.timestamp(), "execution": execution_arn})
    opening = len(failures) >= threshold and "openedAt" not in item
    attributes = {
        "pk": {"S": f"BREAKER#{runbook}"},
        "sk": {"S": "BREAKER"},
        "failures": {"S": json.dumps(failures)},
    }
    if "openedAt" in item or opening:
        attributes["openedAt"] = item.get("openedAt", {"S": now.isoformat()})
    with aws_errors("dynamodb.PutItem"):
        client("dynamodb").put_item(TableName=table, Item=attributes)
    return len(failures), opening


def last_action_at(table: str, resource: str, action: str) -> datetime | None:
    item = _get(table, f"COOLDOWN#{resource}", action)
    return datetime.fromisoformat(item["actedAt"]["S"]) if item else None


def record_action(table: str, resource: str, action: str, now: datetime, ttl_seconds: int) -> None:
    with aws_errors("dynamodb.PutItem"):
        client("dynamodb").put_item(
            TableName=table,
            Item={
                "pk": {"S": f"COOLDOWN#{resource}"},
                "sk": {"S": action},
                "actedAt": {"S": now.isoformat()},
                "expiresAt": {"N": str(_epoch(now) + ttl_seconds)},
            },
        )


def put_audit_record(table: str, runbook: str, recorded_at: datetime, execution_arn: str, record: dict) -> None:
    """One record per execution's decision: a retried record step overwrites it instead of adding one."""
    body = json.loads(json.dumps(record, default=str), parse_float=Decimal)
    item = {key: _attribute(value) for key, value in body.items() if value is not None}
    item |= {
        "pk": {"S": f"AUDIT#{runbook}"},
        "sk": {"S": execution_arn.rsplit(":", 1)[-1]},
        "recordedAt": {"S": recorded_at.isoformat()},
        "executionArn": {"S": execution_arn},
    }
    with aws_errors("dynamodb.PutItem"):
        client("dynamodb").put_item(TableName=table, Item=item)


def _attribute(value: Any) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    return {"S": json.dumps(value, default=_json_number, sort_keys=True)}


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def approval_record(table: str, approval_id: str) -> dict[str, str]:
    """A stored approval (logic/approval.py's `APPROVAL#<id>` item) as strings (status, executionArn, runbook,
    approver, proposal as JSON), never its task token; {} when unknown."""
    if not approval_id:
        return {}
    item = _get(table, f"APPROVAL#{approval_id}", "APPROVAL")
    return {key: value["S"] for key, value in item.items() if "S" in value and key != "taskToken"}


def record_isolation(table: str, resource: str, record: dict) -> dict:
    """Remember what an isolation changed (the prior desired count, who approved, where the evidence is) until the
    service is restored; returns the record in force. The first one is kept: isolating an isolated service again
    must never make 0 the count to restore."""
    stored = _conditional_write(
        "dynamodb.PutItem",
        client("dynamodb").put_item,
        TableName=table,
        Item={
            "pk": {"S": f"ISOLATION#{resource}"},
            "sk": {"S": "ISOLATION"},
            "record": {"S": json.dumps(record, sort_keys=True, default=str)},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    return record if stored else (isolation_record(table, resource) or record)


def isolation_record(table: str, resource: str) -> dict | None:
    """The isolation in force on a service (see record_isolation), or None."""
    item = _get(table, f"ISOLATION#{resource}", "ISOLATION")
    return json.loads(item["record"]["S"]) if item else None


def clear_isolation(table: str, resource: str) -> None:
    """The service was restored: its isolation record is history (the audit records keep it)."""
    with aws_errors("dynamodb.DeleteItem"):
        client("dynamodb").delete_item(
            TableName=table, Key={"pk": {"S": f"ISOLATION#{resource}"}, "sk": {"S": "ISOLATION"}}
        )


def _get(table: str, pk: str, sk: str) -> dict:
    with aws_errors("dynamodb.GetItem"):
        response = client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
    return response.get("Item", {})


def _conditional_write(operation: str, call: Callable[..., Any], **request: Any) -> bool:
    """False when the condition expression failed (the expected outcome); other errors raise."""
    try:
        call(**request)
        return True
    except ClientError as error:
        if error_code(error) == _CONDITION_FAILED:
            return False
        with aws_errors(operation):
            raise


def live_lease_holder(table: str, resource: str, now: datetime) -> str | None:
    """Who holds a live lease on the resource now; None when it is free or the lease expired (TTL lags)."""
    item = _get(table, f"LEASE#{resource}", "LEASE")
    if not item or int(item.get("expiresAt", {}).get("N", "0")) < _epoch(now):
        return None
    return item.get("owner", {}).get("S", "unknown")


def note_on_lease(table: str, resource: str, owner: str, name: str, value: str) -> bool:
    """Keep on our own lease what its release must undo, as text (e.g. the automation flags a maintenance window
    replaced); False when we do not hold the lease."""
    return _conditional_write(
        "dynamodb.UpdateItem",
        client("dynamodb").update_item,
        TableName=table,
        Key={"pk": {"S": f"LEASE#{resource}"}, "sk": {"S": "LEASE"}},
        UpdateExpression="SET #note = :value",
        ConditionExpression="#owner = :owner",
        ExpressionAttributeNames={"#owner": "owner", "#note": name},
        ExpressionAttributeValues={":owner": {"S": owner}, ":value": {"S": value}},
    )


def lease_note(table: str, resource: str, owner: str, name: str) -> str | None:
    """A note on the lease (note_on_lease) while `owner` holds it; None otherwise."""
    item = _get(table, f"LEASE#{resource}", "LEASE")
    if item.get("owner", {}).get("S") != owner:
        return None
    return item.get(name, {}).get("S")
