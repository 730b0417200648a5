"""Maintenance windows from config: weekly (or the n-th weekday of the month), UTC, same-day."""

from __future__ import annotations

from datetime import datetime

from remediation.settings import MaintenanceWindow

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def active_window(now: datetime, windows: tuple[MaintenanceWindow, ...]) -> MaintenanceWindow | None:
    clock = now.strftime("%H:%M")
    for window in windows:
        if _WEEKDAYS[now.weekday()] != window.weekday or not window.start <= clock < window.end:
            continue
        if window.week_of_month is None or (now.day - 1) // 7 + 1 == window.week_of_month:
            return window
    return None
