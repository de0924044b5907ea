"""Repeated failed token checks from one client address are slowed down (ADR 0016).

After `limit` failed checks from an address within `window_s` seconds, that address's requests
to guarded routes answer 429 with Retry-After, without checking their token, until the oldest
failure leaves the window. A failure is a token that was sent and does not authenticate (unknown
or revoked); a request without a token guesses nothing and is not counted. A success resets
nothing: a caller holding one valid key cannot interleave it to keep guessing at full speed.

The counts live in the process: each replica slows down what it sees (see ADR 0016).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Addresses tracked at most; past it, addresses whose failures have all aged out are dropped
# first, then the ones that failed least recently (a flood of addresses cannot grow memory).
MAX_TRACKED_ADDRESSES = 100_000


class AuthThrottle:
    """Failed token checks per client address in a sliding window. Thread-safe."""

    def __init__(
        self,
        limit: int,
        window_s: int,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def retry_after_s(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None when it may now."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return None
            self._forget_old(failures, now)
            if not failures:
                del self._failures[address]
                return None
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window_s - now))

    def failed(self, address: str) -> None:
        """Record one failed token check from `address`."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            failures = self._failures.pop(address, None)
            if failures is None:
                failures = deque()
                if len(self._failures) >= self._max_addresses:
                    self._make_room(now)
            failures.append(now)
            while len(failures) > self.limit:
                failures.popleft()
            self._failures[address] = failures  # re-inserted: dict order is least recent first

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()

    def _forget_old(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()

    def _make_room(self, now: float) -> None:
        for address in list(self._failures):
            self._forget_old(self._failures[address], now)
            if not self._failures[address]:
                del self._failures[address]
        while len(self._failures) >= self._max_addresses:
            del self._failures[next(iter(self._failures))]
