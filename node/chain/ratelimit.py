"""A token bucket: Blockfrost allows bursts of 500 requests refilled at 10 per second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe; `acquire` blocks until a token is free. Time in nanoseconds, no floats kept."""

    def __init__(
        self,
        rate_per_s: int,
        burst: int,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._lock = threading.Lock()
        # tokens scaled by 1e9, so refills of a fraction of a token stay exact
        self._nano_tokens = burst * 1_000_000_000
        self._last_ns = clock_ns()
        self.waited_ns = 0

    def _refill(self) -> None:
        now = self._clock_ns()
        elapsed = max(0, now - self._last_ns)
        self._last_ns = now
        self._nano_tokens = min(
            self.burst * 1_000_000_000, self._nano_tokens + elapsed * self.rate_per_s
        )

    def try_acquire(self) -> int:
        """Take a token and answer 0, or take nothing and answer the ns to wait for one."""
        with self._lock:
            self._refill()
            if self._nano_tokens >= 1_000_000_000:
                self._nano_tokens -= 1_000_000_000
                return 0
            missing = 1_000_000_000 - self._nano_tokens
            return -(-missing // self.rate_per_s)

    def acquire(self) -> None:
        while (wait_ns := self.try_acquire()) > 0:
            self.waited_ns += wait_ns
            self._sleep(wait_ns / 1_000_000_000)
