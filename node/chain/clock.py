"""The time the chain keeps. On real networks it is the wall clock. On the devnet it is the
ledger's own clock, which tests and `paynode demo` move forward (POST /devnet/time) to reach an
unlock time without waiting: a node that kept wall time there would build transactions whose
validity window the ledger has already left, and would never see a deadline pass."""

from __future__ import annotations

import threading
from collections.abc import Callable

from node.chain.network import fetch_devnet_info
from node.clock import now_ms

Clock = Callable[[], int]
REFRESH_MS = 1_000


class DevnetClock:
    """The devnet's time (GET /devnet/info), asked at most once per `refresh_ms`. In realtime
    mode the devnet runs at wall speed from an offset; in manual mode it stands still until
    moved, so between two asks it is taken as standing still too."""

    def __init__(
        self, blockfrost_url: str, refresh_ms: int = REFRESH_MS, wall: Clock = now_ms
    ) -> None:
        self._url = blockfrost_url
        self._refresh_ms = refresh_ms
        self._wall = wall
        self._lock = threading.Lock()
        self._asked_at: int | None = None
        self._devnet_ms = 0
        self._realtime = False

    def __call__(self) -> int:
        wall = self._wall()
        with self._lock:
            if self._asked_at is None or wall - self._asked_at >= self._refresh_ms:
                info = fetch_devnet_info(self._url)
                self._asked_at, self._devnet_ms = wall, int(info["now_ms"])
                self._realtime = info.get("mode") == "realtime"
            elapsed = wall - self._asked_at if self._realtime else 0
            return self._devnet_ms + elapsed


def chain_clock(network: str, blockfrost_url: str) -> Clock:
    return DevnetClock(blockfrost_url) if network == "devnet" else now_ms
