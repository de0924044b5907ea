"""The chain's clock: on the devnet the ledger's own time, which moves when the devnet is told to;
the wall clock elsewhere."""

from __future__ import annotations

import httpx

from devnet.server import DevnetServer
from node.chain.clock import DevnetClock, chain_clock
from node.clock import now_ms

HOUR_MS = 3_600_000


def test_the_devnet_clock_follows_the_ledger_and_asks_at_most_once_per_refresh(
    chain_devnet: DevnetServer, devnet_http: httpx.Client
) -> None:
    wall = [1_000_000]
    clock = DevnetClock(chain_devnet.url + "/api", refresh_ms=1_000, wall=lambda: wall[0])
    before = clock()
    assert before == devnet_http.get("/devnet/info").json()["now_ms"]

    devnet_http.post("/devnet/time", json={"advance_seconds": 3600}).raise_for_status()
    wall[0] += 999
    assert clock() == before  # asked less than a refresh ago: a manual devnet stands still
    wall[0] += 1
    assert clock() == before + HOUR_MS


def test_only_the_devnet_has_a_clock_of_its_own() -> None:
    assert chain_clock("preprod", "https://cardano-preprod.blockfrost.io/api") is now_ms
    assert isinstance(chain_clock("devnet", "http://127.0.0.1:3030/api"), DevnetClock)
