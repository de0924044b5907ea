"""The runtime's short-lived memory of chain answers."""

from __future__ import annotations

import time

import pytest

from node.runtime import RecentReads


def test_recent_reads_keep_an_answer_for_its_age_and_not_a_failure() -> None:
    reads: list[int] = []

    def read() -> int:
        reads.append(len(reads))
        return len(reads)

    recent = RecentReads()
    assert recent.get("a", 60_000, read) == 1
    assert recent.get("a", 60_000, read) == 1  # kept
    assert recent.get("b", 60_000, read) == 2  # another key reads
    time.sleep(0.02)
    assert recent.get("a", 10, read) == 3  # older than asked: read again

    def broken() -> int:
        raise RuntimeError("chain down")

    with pytest.raises(RuntimeError):
        recent.get("c", 60_000, broken)
    assert recent.get("c", 60_000, read) == 4  # the failure was not kept
