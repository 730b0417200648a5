"""Scale-out decision: a bounded step, never past the cap, never below the floor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalePlan:
    current: int
    target: int
    cap: int

    @property
    def at_cap(self) -> bool:
        return self.target <= self.current


def plan_scale_out(current: int, step: int, cap: int, floor: int) -> ScalePlan:
    """Absolute target `min(current + step, cap)`; a service already at or over the cap gets no step."""
    if step < 1:
        raise ValueError(f"scale-out step must be positive, got {step}")
    if current >= cap:
        return ScalePlan(current=current, target=current, cap=cap)
    return ScalePlan(current=current, target=max(min(current + step, cap), floor), cap=cap)


# The seed's `put-scaling-policy --policy-type StepScaling` for an agent: add tasks in steps while CPU is
# above the policy's threshold; the high-cpu runbook's alarm (higher) stays the backstop.
STEP_POLICY_COOLDOWN_SECONDS = 300
STEP_POLICY_ALARM_PERIOD_SECONDS = 60
STEP_POLICY_ALARM_PERIODS = 3
STEP_POLICY_WIDE_STEP_PERCENT = 15


def step_policy_name(agent: str) -> str:
    return f"acso-{agent}-scale-up"  # the seed's name


def step_policy_threshold(alarm_threshold_percent: float, recovery_margin_percent: float) -> float:
    """The autoscaler reacts below the remediation alarm, at the level high-cpu calls "recovered"."""
    return max(alarm_threshold_percent - recovery_margin_percent, 1.0)


def step_scaling_configuration() -> dict:
    """+1 task up to 15 points above the threshold, +2 beyond; one step per cooldown."""
    return {
        "AdjustmentType": "ChangeInCapacity",
        "Cooldown": STEP_POLICY_COOLDOWN_SECONDS,
        "MetricAggregationType": "Average",
        "StepAdjustments": [
            {
                "MetricIntervalLowerBound": 0.0,
                "MetricIntervalUpperBound": float(STEP_POLICY_WIDE_STEP_PERCENT),
                "ScalingAdjustment": 1,
            },
            {"MetricIntervalLowerBound": float(STEP_POLICY_WIDE_STEP_PERCENT), "ScalingAdjustment": 2},
        ],
    }
