"""A devnet over HTTP and a node with a chain on the test database: selling wallets funded by the
devnet's faucet, API keys, and the worker steps run by hand with the devnet's clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from devnet.server import DevnetServer
from node.agents import service
from node.agents.models import RegistryRequest
from node.chain.blockfrost import BlockfrostChain
from node.crypto import SecretBox
from node.runtime import Runtime
from node.wallets.models import WalletTransaction
from tests.conftest import LiveNode, make_key, serve, settings_for
from tests.devnet.http_helpers import api_client, faucet, manual_devnet

ADA = 1_000_000


def chain_runtime(
    database_url: str,
    engine: Engine,
    box: SecretBox,
    devnet: DevnetServer,
    data_dir: Path,
    worker_interval_ms: int = 0,
) -> Runtime:
    """A runtime whose chain is the devnet (profile resolved from GET /devnet/info)."""
    api = devnet.url + "/api"
    settings = settings_for(
        database_url, data_dir, blockfrost_url=api, worker_interval_ms=worker_interval_ms
    )
    chain = BlockfrostChain(api, "agents-tests")
    return Runtime(settings, settings.profile(), engine, box, chain)


@dataclass
class World:
    """The node under test, its devnet, and the hands to drive them."""

    node: LiveNode
    devnet: DevnetServer
    http: httpx.Client  # the devnet's control API

    @property
    def runtime(self) -> Runtime:
        return self.node.runtime

    @property
    def usdm(self) -> str:
        unit = self.runtime.network.stablecoin.unit
        assert unit is not None
        return unit

    def devnet_clock(self) -> int:
        return self.devnet.ledger.now_ms

    def process(self) -> int:
        return service.process_registry_requests(self.runtime, clock=self.devnet_clock)

    def confirm(self) -> int:
        return service.confirm_registry_transactions(self.runtime)

    def blocks(self, count: int = 1) -> None:
        answer = self.http.post("/devnet/blocks", json={"count": count})
        assert answer.status_code == 200, answer.text

    def settle(self) -> None:
        """Mint or burn what is requested, then a block on top, then confirm."""
        self.process()
        self.blocks()
        self.confirm()

    def rows(self) -> list[RegistryRequest]:
        with Session(self.runtime.engine) as session:
            return list(session.exec(select(RegistryRequest)))

    def row(self, row_id: str) -> RegistryRequest:
        with Session(self.runtime.engine) as session:
            found = session.get(RegistryRequest, row_id)
            assert found is not None
            return found

    def journal(self) -> list[WalletTransaction]:
        with Session(self.runtime.engine) as session:
            return list(session.exec(select(WalletTransaction)))

    def add_wallet(self, admin: httpx.Client, kind: str = "Selling", ada: int = 300) -> str:
        """A hot wallet of the node (generated), funded from the faucet; its vkey."""
        answer = admin.post("/api/v1/wallet", json={"type": kind})
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if ada:
            faucet(self.http, data["walletAddress"], ada * ADA)
        vkey: str = data["walletVkey"]
        return vkey


@pytest.fixture(scope="module")
def agents_devnet() -> Iterator[DevnetServer]:
    with manual_devnet("agents-tests") as server:
        yield server


@pytest.fixture(scope="module")
def agents_http(agents_devnet: DevnetServer) -> Iterator[httpx.Client]:
    with api_client(agents_devnet.url) as client:
        yield client


@pytest.fixture(scope="module")
def chain_node(
    database_url: str,
    migrated_engine: Engine,
    secret_box: SecretBox,
    agents_devnet: DevnetServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveNode]:
    runtime = chain_runtime(
        database_url, migrated_engine, secret_box, agents_devnet, tmp_path_factory.mktemp("data")
    )
    with serve(runtime) as node:
        yield node
    assert runtime.chain is not None
    runtime.chain.close()


@pytest.fixture
def world(
    chain_node: LiveNode, engine: Engine, agents_devnet: DevnetServer, agents_http: httpx.Client
) -> World:
    """The node with an empty database for this test."""
    return World(chain_node, agents_devnet, agents_http)


@pytest.fixture
def admin_client(world: World, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    with world.node.client(make_key(session, secret_box, canAdmin=True)) as client:
        yield client


@pytest.fixture
def pay(world: World, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    with world.node.client(make_key(session, secret_box, permission="ReadAndPay")) as client:
        yield client


@pytest.fixture
def seller(world: World, admin_client: httpx.Client) -> str:
    """A funded Selling wallet of the node: its vkey."""
    return world.add_wallet(admin_client)
