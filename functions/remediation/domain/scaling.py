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
