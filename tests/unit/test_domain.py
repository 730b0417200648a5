"""Pure decisions: scale-out plan and the daily health criteria."""

import pytest

from remediation.domain.health import ServiceObservation, evaluate
from remediation.domain.scaling import plan_scale_out


@pytest.mark.parametrize(
    ("current", "step", "cap", "floor", "target", "at_cap"),
    [
        (2, 1, 6, 1, 3, False),
        (5, 2, 6, 1, 6, False),
        (6, 1, 6, 1, 6, True),
        (8, 1, 6, 1, 8, True),
        (0, 1, 6, 2, 2, False),
    ],
)
def test_scale_out_adds_one_step_up_to_the_cap_and_never_below_the_floor(current, step, cap, floor, target, at_cap):
    plan = plan_scale_out(current, step, cap, floor)
    assert (plan.target, plan.at_cap) == (target, at_cap)


def test_a_service_over_the_cap_is_never_scaled_down_by_a_scale_out():
    assert plan_scale_out(9, 1, 6, 1).target == 9


def _service(**overrides):
    values = {
        "agent": "supervisor",
        "service_name": "svc",
        "desired_count": 2,
        "running_count": 2,
        "cpu_max_percent": 40.0,
        "memory_max_percent": 50.0,
    } | overrides
    return ServiceObservation(**values)


def test_healthy_service_passes_every_criterion():
    criteria = evaluate(
        [_service()], error_events=1, log_events=1000, cpu_limit=70, memory_limit=80, error_rate_limit=1
    )
    assert all(criterion.passed for criterion in criteria)
    assert {c.criterion for c in criteria} == {
        "running-equals-desired",
        "cpu-below-threshold",
        "memory-below-threshold",
        "error-rate-below-threshold",
    }


@pytest.mark.parametrize(
    ("overrides", "errors", "failed", "handled_by"),
    [
        ({"running_count": 1}, 0, "running-equals-desired", "service-unavailable"),
        ({"cpu_max_percent": 70.0}, 0, "cpu-below-threshold", "high-cpu"),
        ({"memory_max_percent": 81.0}, 0, "memory-below-threshold", "memory-leak"),
        ({"cpu_max_percent": None}, 0, "cpu-below-threshold", "high-cpu"),
        ({}, 10, "error-rate-below-threshold", "service-unavailable (log triage)"),
    ],
)
def test_each_failed_criterion_names_the_runbook_that_handles_it(overrides, errors, failed, handled_by):
    criteria = evaluate(
        [_service(**overrides)], error_events=errors, log_events=1000, cpu_limit=70, memory_limit=80, error_rate_limit=1
    )
    failures = [criterion for criterion in criteria if not criterion.passed]
    assert [f.criterion for f in failures] == [failed]
    assert failures[0].to_dict()["handled_by"] == handled_by


def test_silent_logs_fail_the_error_rate_criterion_instead_of_passing_it():
    criteria = evaluate([_service()], error_events=0, log_events=0, cpu_limit=70, memory_limit=80, error_rate_limit=1)
    assert [c.criterion for c in criteria if not c.passed] == ["error-rate-below-threshold"]
