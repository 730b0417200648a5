"""Memory leak or not: pure rules over a service's hourly memory utilization (runbook "Memory Leak Detection").

A leak is memory that rises steadily hour after hour: the least-squares slope of the hourly averages is at
least the configured rise per hour AND the straight line explains most of the movement (coefficient of
determination R² >= STEADY_FIT). A single high sample (a spike) or a step up that then stays flat does not
fit a rising line, and a restart would not fix either, so neither is treated as a leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

STEADY_FIT = 0.8
"""Minimum R² of the hourly averages against a straight line for the rise to count as steady."""
MIN_POINTS_SHARE = 0.5
"""At least this share of the trend window's hours must have a datapoint to judge the trend at all."""
FULL_PERCENT = 100.0


@dataclass(frozen=True)
class Line:
    slope: float
    """Percentage points per hour."""
    intercept: float
    fit: float
    """R², 0 (no linear relation, or a flat series) to 1 (every point on the line)."""


def least_squares(points: Sequence[tuple[float, float]]) -> Line:
    """Ordinary least squares of y on x; a flat or single-point series has slope 0 and fit 0."""
    if len(points) < 2:
        return Line(0.0, points[0][1] if points else 0.0, 0.0)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = fmean(xs), fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    if sxx == 0 or syy == 0:
        return Line(0.0, mean_y, 0.0)
    slope = sxy / sxx
    return Line(slope, mean_y - slope * mean_x, (sxy * sxy) / (sxx * syy))


@dataclass(frozen=True)
class MemoryTrend:
    verdict: str
    """leak | spike | high-flat | normal | no-data"""
    why: str
    points: int
    start_percent: float | None
    """Oldest hourly average of the window."""
    now_percent: float | None
    """Newest hourly average."""
    latest_percent: float | None
    """Newest raw datapoint (what a dashboard shows now)."""
    slope_percent_per_hour: float
    fit: float
    hours_to_full: float | None
    """At the current slope, hours until 100 % (None when not rising)."""

    @property
    def leaking(self) -> bool:
        return self.verdict == "leak"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "why": self.why,
            "points": self.points,
            "startPercent": _rounded(self.start_percent),
            "nowPercent": _rounded(self.now_percent),
            "latestPercent": _rounded(self.latest_percent),
            "slopePercentPerHour": round(self.slope_percent_per_hour, 3),
            "fit": round(self.fit, 3),
            "hoursToFull": _rounded(self.hours_to_full, 1),
        }


def assess(
    hourly: Sequence[tuple[float, float]],
    latest: float | None,
    window_hours: int,
    threshold_percent: float,
    min_rise_percent_per_hour: float,
) -> MemoryTrend:
    """`hourly`: (hours since the window start, average %) oldest first; `latest`: the newest raw value."""
    points = sorted(hourly)
    needed = max(3, int(window_hours * MIN_POINTS_SHARE))
    latest = latest if latest is not None else (points[-1][1] if points else None)
    if len(points) < needed:
        return MemoryTrend(
            "no-data",
            f"only {len(points)} hourly datapoints in {window_hours} h (need {needed}): the trend cannot be judged",
            len(points),
            points[0][1] if points else None,
            points[-1][1] if points else None,
            latest,
            0.0,
            0.0,
            None,
        )
    line = least_squares(points)
    start, now = points[0][1], points[-1][1]
    rising = line.slope > 0
    hours_to_full = max(0.0, (FULL_PERCENT - max(now, latest or now)) / line.slope) if rising else None
    figures = f"{start:.1f} % -> {now:.1f} % over {window_hours} h, {line.slope:+.2f} %/h, fit {line.fit:.2f}"
    trend = (len(points), start, now, latest, line.slope, line.fit, hours_to_full)
    if line.slope >= min_rise_percent_per_hour and line.fit >= STEADY_FIT:
        return MemoryTrend("leak", f"steady rise: {figures}", *trend)
    not_rising = f"not a steady rise (needs >= {min_rise_percent_per_hour:g} %/h with fit >= {STEADY_FIT:g}): {figures}"
    if now >= threshold_percent:
        return MemoryTrend("high-flat", f"memory high but {not_rising}", *trend)
    if latest is not None and latest >= threshold_percent:
        return MemoryTrend("spike", f"spike: {latest:.1f} % now, {not_rising}", *trend)
    return MemoryTrend("normal", f"memory under {threshold_percent:g} %, {not_rising}", *trend)


def memory_fell(before_percent: float | None, after_percent: float | None, threshold_percent: float) -> bool:
    """After a restart: memory is back under the alarm threshold and below what it was before."""
    if after_percent is None:
        return False
    below_before = before_percent is None or after_percent < before_percent
    return below_before and after_percent < threshold_percent


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
