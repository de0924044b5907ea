"""A devnet served over real HTTP for the registry reader's tests, with the registry policy applied
and a chain port to read it back through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from contracts.params import registry_policy
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import BuiltTx
from node.chain.context import PortChainContext
from node.chain.registry_builders import RegistryBuilders
from node.config import SlotConfig
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.node.chain.escrow_world import ADA, actor

OWNER, RECIPIENT = actor("owner", "registry-reader"), actor("recipient", "registry-reader")


@dataclass
class ChainRegistry:
    builders: RegistryBuilders
    chain: BlockfrostChain
    http: httpx.Client
    policy_id: str

    def submit(self, built: BuiltTx) -> str:
        tx_hash = self.chain.submit(built.cbor)
        assert tx_hash == built.tx_hash
        return tx_hash


@pytest.fixture(scope="session")
def registry_devnet() -> Iterator[DevnetServer]:
    with manual_devnet("registry-reader-tests") as server:
        yield server


@pytest.fixture(scope="module")
def chain_registry(registry_devnet: DevnetServer) -> Iterator[ChainRegistry]:
    policy = registry_policy(str(actor("escrow-stand-in", "registry-reader").address))
    with api_client(registry_devnet.url) as http:
        for party in (OWNER, RECIPIENT):
            faucet(http, str(party.address), 200 * ADA)
        info = http.get("/devnet/info").json()["slot_config"]
        slots = SlotConfig(
            zero_time_ms=info["zero_time_ms"],
            zero_slot=info["zero_slot"],
            slot_length_ms=info["slot_length_ms"],
        )
        chain = BlockfrostChain(registry_devnet.url + "/api", "registry-reader")
        builders = RegistryBuilders(
            PortChainContext(chain, 0),
            policy.plutus_script,
            policy.hash,
            clock=lambda: registry_devnet.ledger.now_ms,
            slot_config=slots,
        )
        try:
            yield ChainRegistry(builders, chain, http, policy.hash.hex())
        finally:
            chain.close()
