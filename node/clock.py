"""Time: POSIX milliseconds everywhere; ISO 8601 only where the Masumi API shows dates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_from_ms(posix_ms: int) -> str:
    """2026-11-23T08:54:45.123+00:00, computed without floats."""
    return (_EPOCH + timedelta(milliseconds=posix_ms)).isoformat(timespec="milliseconds")


def ms_from_iso(text: str) -> int:
    """POSIX ms of an ISO 8601 date (UTC when it names no zone); ValueError if it is none."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
