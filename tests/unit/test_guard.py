"""The guard in front of every write: duplicate events, one live lease per service, cooldown (moto DynamoDB)."""

from __future__ import annotations

import boto3
import pytest

from remediation.adapters import state_store
from remediation.domain.requests.common import ServiceRequest
from remediation.errors import AwsThrottled
from remediation.logic import guard
from remediation.settings import load_settings
from tests.unit.conftest import CLUSTER, STATE_TABLE, execution_arn

RESOURCE = f"{CLUSTER}/acso-production-supervisor"
FIRST, SECOND = execution_arn("first"), execution_arn("second")


def _request(key: str = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a@2024-03-01T12:00:00.000+0000#scale-out"):
    return ServiceRequest(
        runbook="high-cpu",
        trigger="alarm",
        dry_run=False,
        idempotency_key=key,
        reason="Threshold Crossed",
        agent="supervisor",
        service_name="acso-production-supervisor",
        cluster_name=CLUSTER,
    )


def _lease_owner() -> str | None:
    item = boto3.client("dynamodb").get_item(
        TableName=STATE_TABLE, Key={"pk": {"S": f"LEASE#{RESOURCE}"}, "sk": {"S": "LEASE"}}, ConsistentRead=True
    )
    return item.get("Item", {}).get("owner", {}).get("S")


def test_given_a_first_delivery_when_admitted_then_it_proceeds_holding_the_lease_on_the_service(aws, virtual_clock):
    verdict = guard.admit(_request(), "scale-out", FIRST, load_settings())

    assert (verdict.proceed, verdict.reason, verdict.lease) == (True, "clear", {"resource": RESOURCE})
    assert _lease_owner() == FIRST


def test_given_an_event_already_claimed_when_delivered_again_then_it_is_a_duplicate_naming_the_first_execution(
    aws, virtual_clock
):
    settings = load_settings()
    guard.admit(_request(), "scale-out", FIRST, settings)
    guard.release({"resource": RESOURCE}, FIRST, settings)

    verdict = guard.admit(_request(), "scale-out", SECOND, settings)

    assert (verdict.proceed, verdict.reason, verdict.lease) == (False, "duplicate-event", None)
    assert verdict.detail == f"already handled by {FIRST}"


def test_given_another_execution_holds_a_live_lease_when_a_new_event_arrives_then_it_is_locked(aws, virtual_clock):
    settings = load_settings()
    guard.admit(_request("console:first#scale-out"), "scale-out", FIRST, settings)
    virtual_clock.advance(settings.guard.lock_seconds - 1)

    verdict = guard.admit(_request("console:second#scale-out"), "scale-out", SECOND, settings)

    assert (verdict.proceed, verdict.reason, verdict.lease) == (False, "locked", None)
    assert verdict.detail == f"{RESOURCE} is held by {FIRST}"
    assert _lease_owner() == FIRST


def test_given_an_expired_lease_still_in_the_table_when_a_new_event_arrives_then_the_lease_is_taken_over(
    aws, virtual_clock
):
    settings = load_settings()
    guard.admit(_request("console:first#scale-out"), "scale-out", FIRST, settings)
    virtual_clock.advance(settings.guard.lock_seconds + 1)
    assert _lease_owner() == FIRST  # DynamoDB TTL deletes hours late: the expired item is still there

    verdict = guard.admit(_request("console:second#scale-out"), "scale-out", SECOND, settings)

    assert (verdict.proceed, verdict.lease) == (True, {"resource": RESOURCE})
    assert _lease_owner() == SECOND


def test_given_our_lease_when_released_then_it_is_deleted(aws, virtual_clock):
    settings = load_settings()
    verdict = guard.admit(_request(), "scale-out", FIRST, settings)

    assert guard.release(verdict.lease, FIRST, settings) is True
    assert _lease_owner() is None


def test_given_our_expired_lease_was_taken_over_when_we_release_then_the_new_owners_lease_survives(aws, virtual_clock):
    settings = load_settings()
    ours = guard.admit(_request("console:first#scale-out"), "scale-out", FIRST, settings)
    virtual_clock.advance(settings.guard.lock_seconds + 1)
    guard.admit(_request("console:second#scale-out"), "scale-out", SECOND, settings)

    assert guard.release(ours.lease, FIRST, settings) is False
    assert _lease_owner() == SECOND


def test_given_no_lease_when_released_then_nothing_is_released(aws):
    assert guard.release(None, FIRST, load_settings()) is None


def test_given_a_recorded_scale_out_when_events_arrive_then_cooldown_suppresses_them_until_it_is_over(
    aws, virtual_clock
):
    settings = load_settings()
    first = guard.admit(_request("console:first#scale-out"), "scale-out", FIRST, settings)
    state_store.record_action(STATE_TABLE, RESOURCE, "scale-out", virtual_clock.now, settings.guard.cooldown_seconds)
    guard.release(first.lease, FIRST, settings)

    virtual_clock.advance(settings.guard.cooldown_seconds - 1)
    during = guard.admit(_request("console:second#scale-out"), "scale-out", SECOND, settings)
    virtual_clock.advance(1)
    after = guard.admit(_request("console:third#scale-out"), "scale-out", execution_arn("third"), settings)

    assert (during.proceed, during.reason) == (False, "cooldown")
    assert f"scale-out on {RESOURCE}" in during.detail
    assert "cooldown 0:15:00" in during.detail
    assert (after.proceed, after.reason) == (True, "clear")


def test_given_a_cooldown_on_one_service_when_another_service_alarms_then_it_proceeds(aws, virtual_clock):
    settings = load_settings()
    state_store.record_action(STATE_TABLE, RESOURCE, "scale-out", virtual_clock.now, settings.guard.cooldown_seconds)
    other = _request("console:other#scale-out").model_copy(update={"service_name": "acso-production-threat-hunter"})

    assert guard.admit(other, "scale-out", SECOND, settings).proceed is True


def test_given_the_guard_step_is_retried_in_the_same_execution_when_admitted_again_then_it_is_not_its_own_duplicate(
    aws, virtual_clock, monkeypatch
):
    settings = load_settings()
    acquire = state_store.acquire_lease

    def throttled_once(*args, **kwargs):
        monkeypatch.setattr(state_store, "acquire_lease", acquire)
        raise AwsThrottled("dynamodb.PutItem was throttled (ThrottlingException)")

    monkeypatch.setattr(state_store, "acquire_lease", throttled_once)
    with pytest.raises(AwsThrottled):
        guard.admit(_request(), "scale-out", FIRST, settings)

    retried = guard.admit(_request(), "scale-out", FIRST, settings)

    assert (retried.proceed, retried.reason) == (True, "clear")
