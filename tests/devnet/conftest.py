"""Session fixtures for the devnet's HTTP tests: one real uvicorn server over a fresh
manual-mode ledger (a block per submit), shared by every test of the session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devnet.server import DevnetServer
from tests.devnet.http_helpers import ChainStory, api_client, build_story, manual_devnet


@pytest.fixture(scope="session")
def devnet_server() -> Iterator[DevnetServer]:
    with manual_devnet("devnet-http-tests") as server:
        yield server


@pytest.fixture(scope="session")
def devnet_url(devnet_server: DevnetServer) -> str:
    return devnet_server.url


@pytest.fixture(scope="session")
def client(devnet_url: str) -> Iterator[httpx.Client]:
    with api_client(devnet_url) as http:
        yield http


@pytest.fixture(scope="session")
def story(devnet_url: str) -> ChainStory:
    """A transfer with a message, a native mint, a Plutus V3 lock and its claim, on chain."""
    return build_story(devnet_url)
