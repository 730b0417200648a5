"""Current time, behind one function so the embedded emulator can run runbooks in virtual time."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
