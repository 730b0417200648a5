"""Current time, behind one function so the embedded emulator can run runbooks in virtual time."""

from collections.abc import Callable
from datetime import UTC, datetime


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _wall_clock


def utc_now() -> datetime:
    return _source()


def use_source(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (the emulator's virtual clock); None restores the wall clock."""
    global _source  # noqa: PLW0603 - one process-wide clock, like the real one
    _source = source or _wall_clock
