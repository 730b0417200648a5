"""The hourly action budget and the circuit breaker (adapters/state_store.py) against moto DynamoDB."""

from datetime import UTC, datetime, timedelta

from remediation.adapters import state_store
from tests.unit.conftest import STATE_TABLE

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_given_a_budget_of_three_when_four_executions_act_then_the_fourth_is_refused(aws):
    granted = [state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 3, f"run-{n}", NOW, 7200) for n in range(4)]

    assert granted == [True, True, True, False]


def test_given_a_retried_act_step_when_it_asks_again_then_it_does_not_spend_twice(aws):
    first = state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 2, "run-1", NOW, 7200)
    retried = state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 2, "run-1", NOW, 7200)
    other = state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 2, "run-2", NOW, 7200)

    assert (first, retried, other) == (True, True, True)
    assert state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 2, "run-3", NOW, 7200) is False


def test_given_a_new_hour_when_acting_then_the_budget_is_fresh(aws):
    for n in range(2):
        state_store.consume_budget(STATE_TABLE, "2026-11-27T09", 2, f"run-{n}", NOW, 7200)

    assert state_store.consume_budget(STATE_TABLE, "2026-11-27T10", 2, "run-9", NOW, 7200) is True


def test_given_failed_verifications_when_the_threshold_is_reached_in_the_window_then_the_breaker_opens_once(aws):
    results = [
        state_store.record_failed_verification(STATE_TABLE, "high-cpu", f"run-{n}", NOW + timedelta(minutes=n), 3600, 3)
        for n in range(4)
    ]

    assert [opened for _, opened in results] == [False, False, True, False]
    assert state_store.breaker_open_since(STATE_TABLE, "high-cpu") is not None


def test_given_failures_spread_beyond_the_window_then_the_breaker_stays_closed(aws):
    for n in range(3):
        state_store.record_failed_verification(
            STATE_TABLE, "high-cpu", f"run-{n}", NOW + timedelta(hours=2 * n), 3600, 3
        )

    assert state_store.breaker_open_since(STATE_TABLE, "high-cpu") is None
