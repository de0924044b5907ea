"""The registry half of the mirror: every NFT under the policy with its holder and metadata, from
chain facts; re-read only when new, changed or ours; burned and rolled-back mints marked, never
deleted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pycardano import AssetName, ScriptHash, Transaction, TransactionInput, UTxO
from sqlalchemy import Engine
from sqlmodel import Session, select

from devnet.server import DevnetServer
from node.agents.models import RegistryRequest, RegistryState
from node.chain.blockfrost import BlockfrostChain
from node.chain.context import PortChainContext
from node.chain.contracts import registry_contract
from node.chain.network import resolve_profile
from node.chain.registry_builders import RegistryBuilders
from node.config import NetworkProfile, load_profile
from node.crypto import SecretBox
from node.sync.models import RegistryAssetStatus, RegistryMirror
from node.sync.registry import sync_registry
from node.wallets.schemas import WalletCreate
from node.wallets.service import add_wallet
from registry.metadata import AgentMetadata, Author, PricingMode, to_metadatum
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.node.chain.escrow_world import ADA, actor

OWNER = actor("owner", "registry-mirror")
BROKEN = {"name": "Broken", "api_base_url": "ftp://x", "tags": [], "metadata_version": "1"}


@dataclass
class Registry:
    devnet: DevnetServer
    http: httpx.Client
    chain: BlockfrostChain
    profile: NetworkProfile
    builders: RegistryBuilders

    @property
    def policy_id(self) -> str:
        assert self.profile.registry.policy_id is not None
        return self.profile.registry.policy_id

    def mint(self, metadata: object) -> tuple[Transaction, str]:
        built, asset_name = self.builders.mint(OWNER, metadata)  # type: ignore[arg-type]
        self.chain.submit(built.cbor)
        return built.tx, self.policy_id + asset_name

    def nft(self, tx: Transaction, unit: str) -> UTxO:
        policy, name = ScriptHash(bytes.fromhex(unit[:56])), AssetName(bytes.fromhex(unit[56:]))
        for index, output in enumerate(tx.transaction_body.outputs):
            if output.amount.multi_asset.get(policy, {}).get(name):
                return UTxO(TransactionInput(tx.id, index), output)
        raise AssertionError("no output holds the NFT")

    def sync(self, engine: Engine) -> tuple[int, int, int, int]:
        """(listed, read, gone, Blockfrost requests of the pass)"""
        before = sum(self.chain.requests.snapshot().values())
        report = sync_registry(engine, self.chain, "devnet", self.policy_id)
        requests = sum(self.chain.requests.snapshot().values()) - before
        return report.listed, report.read, report.gone, requests


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A devnet of its own per test: the listing counts below start from an empty policy."""
    with manual_devnet("registry-mirror") as devnet, api_client(devnet.url) as http:
        chain = BlockfrostChain(devnet.url + "/api", "registry-mirror")
        profile = resolve_profile(load_profile("devnet"), devnet.url + "/api")
        contract = registry_contract(profile, chain)
        faucet(http, str(OWNER.address), 200 * ADA)
        builders = RegistryBuilders(
            PortChainContext(chain, 0),
            contract.script,
            contract.policy_id,
            clock=lambda: devnet.ledger.now_ms,
            slot_config=profile.slot_config,
        )
        yield Registry(devnet, http, chain, profile, builders)
        chain.close()


def mirror(engine: Engine) -> dict[str, RegistryMirror]:
    with Session(engine) as session:
        return {row.unit: row for row in session.exec(select(RegistryMirror))}


def agent(name: str) -> dict[str, object]:
    metadata = AgentMetadata(
        name=name,
        api_base_url="https://agents.example.com/" + name,
        author=Author(name="Ada"),
        tags=["mirror"],
        pricing_mode=PricingMode.DYNAMIC,
    )
    return to_metadatum(metadata)


def test_the_registry_mirror_follows_mints_burns_and_rollbacks(
    registry: Registry, engine: Engine
) -> None:
    good_tx, good = registry.mint(agent("mirrored"))
    _, broken = registry.mint(BROKEN)
    listed, read, gone, requests = registry.sync(engine)
    assert (listed, read, gone) == (2, 2, 0) and requests == 1 + 2 * 2
    rows = mirror(engine)
    assert rows[good].status == RegistryAssetStatus.LIVE and rows[good].holder == str(OWNER.address)
    assert rows[good].name == "mirrored" and rows[good].pricing_mode == "Dynamic"
    assert rows[good].violations == 0 and rows[good].mint_tx_hash == str(good_tx.id)
    assert rows[broken].name == "Broken" and rows[broken].violations >= 4
    assert rows[broken].api_base_url is None  # no model from fatal violations

    assert registry.sync(engine) == (2, 0, 0, 1)  # nothing changed: the listing only

    registry.chain.submit(
        registry.builders.burn(OWNER, registry.nft(good_tx, good), bytes.fromhex(good[56:])).cbor
    )
    listed, read, gone, _ = registry.sync(engine)
    assert (read, gone) == (1, 0)
    burned = mirror(engine)[good]
    assert burned.status == RegistryAssetStatus.BURNED and burned.holder is None
    assert burned.quantity == 0

    _, undone = registry.mint(agent("rolled-back"))
    registry.sync(engine)
    assert mirror(engine)[undone].status == RegistryAssetStatus.LIVE
    rolled = registry.http.post("/devnet/rollback", json={"blocks": 1, "drop": True})
    assert rolled.status_code == 200, rolled.text
    _, _, gone, _ = registry.sync(engine)
    assert gone == 1 and mirror(engine)[undone].status == RegistryAssetStatus.GONE
    assert len(mirror(engine)) == 3  # nothing deleted


def test_an_agent_of_ours_is_read_again_on_every_pass(
    registry: Registry, engine: Engine, secret_box: SecretBox
) -> None:
    _, ours = registry.mint(agent("ours"))
    with Session(engine) as session:
        wallet = add_wallet(session, secret_box, registry.profile, WalletCreate(type="Selling"))
        session.add(
            RegistryRequest(
                id="0" * 32,
                network="devnet",
                state=RegistryState.REGISTRATION_CONFIRMED,
                selling_wallet_id=wallet.id,
                onchain_metadata={},
                pricing_mode="Dynamic",
                amounts=[],
                name="ours",
                api_base_url="https://agents.example.com/ours",
                agent_identifier=ours,
                created_at=0,
                updated_at=0,
            )
        )
        session.commit()
    registry.sync(engine)
    _, read, _, _ = registry.sync(engine)
    assert read == 1  # ours, live: its holder is checked again
    assert mirror(engine)[ours].holder == str(OWNER.address)
