"""A devnet served over real HTTP for the chain layer's tests, and clients of it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain, RetryPolicy
from tests.devnet.http_helpers import HttpWallet, api_client, funded_wallet, manual_devnet


@pytest.fixture(scope="session")
def chain_devnet() -> Iterator[DevnetServer]:
    with manual_devnet("chain-tests") as server:
        yield server


@pytest.fixture(scope="session")
def devnet_http(chain_devnet: DevnetServer) -> Iterator[httpx.Client]:
    with api_client(chain_devnet.url) as client:
        yield client


def no_sleep(_seconds: float) -> None:
    """Backoff waits skipped in tests: what is measured is the attempts, not the seconds."""


@pytest.fixture
def chain(chain_devnet: DevnetServer) -> Iterator[BlockfrostChain]:
    port = BlockfrostChain(
        chain_devnet.url + "/api", "chain-tests", retry=RetryPolicy(attempts=5), sleep=no_sleep
    )
    yield port
    port.close()


@pytest.fixture
def alice(devnet_http: httpx.Client) -> HttpWallet:
    return funded_wallet(devnet_http, lovelace=500 * 1_000_000, usdm=50_000_000)
