"""Registry mint and burn built by RegistryBuilders, accepted by a devnet over HTTP and read back
through the chain port: the asset name, the CIP-25 metadata (chunked strings), the holder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pycardano import (
    AssetName,
    ExecutionUnits,
    ScriptHash,
    Transaction,
    TransactionInput,
    UTxO,
)

from contracts.params import registry_policy
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import BuildError, BuiltTx
from node.chain.context import PortChainContext
from node.chain.port import ChainNotFound
from node.chain.registry_builders import (
    RegistryBuilders,
    chunk_strings,
    chunk_text,
    registry_asset_name,
)
from node.config import SlotConfig
from tests.devnet.http_helpers import faucet
from tests.node.chain.escrow_world import ADA, actor

LONG_DESCRIPTION = (
    "An agent that summarises long documents into short, faithful abstracts; "
    "it cites the passages it relied on and says when the source is ambiguous — "
    "über-präzise, 多言語対応."
)


OWNER, RECIPIENT = actor("owner", "registry"), actor("recipient", "registry")


def agent_metadata(name: str, description: str = "Summarises documents.") -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "api_base_url": "https://agents.example.com/summariser/" + "v1/" * 20,
        "author": {"name": "Ada", "contact_email": "ada@example.com"},
        "capability": {"name": "summarise", "version": "1.0.0"},
        "tags": ["summaries", "documents"],
        "agentPricing": {
            "pricingType": "Fixed",
            "fixedPricing": [{"unit": "lovelace", "amount": "5000000"}],
        },
        "image": "ipfs://QmExampleImageHash",
        "metadata_version": "1",
    }


def unchunk(onchain: Any, like: Any) -> Any:
    """What a MIP-002 reader sees: a list of chunks joined where the written value was a string."""
    if isinstance(like, str) and isinstance(onchain, list):
        return "".join(onchain)
    if isinstance(like, dict) and isinstance(onchain, dict):
        return {key: unchunk(onchain.get(key), value) for key, value in like.items()}
    if isinstance(like, list) and isinstance(onchain, list):
        return [unchunk(item, value) for item, value in zip(onchain, like, strict=True)]
    return onchain


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_of(key)
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


@dataclass
class Registry:
    builders: RegistryBuilders
    chain: BlockfrostChain
    http: httpx.Client
    policy_id: str

    def submit(self, built: BuiltTx) -> Transaction:
        assert self.chain.submit(built.cbor) == built.tx_hash
        return built.tx

    def unit(self, asset_name: str) -> str:
        return self.policy_id + asset_name

    def nft_utxo(self, tx: Transaction, asset_name: str) -> UTxO:
        policy = ScriptHash(bytes.fromhex(self.policy_id))
        for index, out in enumerate(tx.transaction_body.outputs):
            if out.amount.multi_asset.get(policy, {}).get(AssetName(bytes.fromhex(asset_name))):
                return UTxO(TransactionInput(tx.id, index), out)
        raise AssertionError("no output holds the NFT")


@pytest.fixture(scope="module")
def registry(chain_devnet: DevnetServer, devnet_http: httpx.Client) -> Iterator[Registry]:
    policy = registry_policy(str(actor("escrow-stand-in").address))
    for party in (OWNER, RECIPIENT):
        faucet(devnet_http, str(party.address), 100 * ADA)
    info = devnet_http.get("/devnet/info").json()["slot_config"]
    slots = SlotConfig(
        zero_time_ms=info["zero_time_ms"],
        zero_slot=info["zero_slot"],
        slot_length_ms=info["slot_length_ms"],
    )
    chain = BlockfrostChain(chain_devnet.url + "/api", "registry")
    builders = RegistryBuilders(
        PortChainContext(chain, 0),
        policy.plutus_script,
        policy.hash,
        clock=lambda: chain_devnet.ledger.now_ms,
        slot_config=slots,
    )
    yield Registry(builders, chain, devnet_http, policy.hash.hex())
    chain.close()


def test_mint_names_the_nft_after_its_seed_and_publishes_the_metadata(registry: Registry) -> None:
    metadata = agent_metadata("Summariser")
    built, asset_name = registry.builders.mint(OWNER, metadata)
    tx = registry.submit(built)
    body = tx.transaction_body
    assert asset_name in {registry_asset_name(txin).hex() for txin in body.inputs}
    assert len(bytes.fromhex(asset_name)) == 32
    minted = body.mint[ScriptHash(bytes.fromhex(registry.policy_id))]
    assert dict(minted) == {AssetName(bytes.fromhex(asset_name)): 1}
    assert OWNER.key_hash in body.required_signers
    assert body.collateral and body.validity_start is not None and body.ttl is not None
    nft_out = registry.nft_utxo(tx, asset_name).output
    assert nft_out.address == OWNER.address and nft_out.amount.coin >= 5 * ADA
    labels = tx.auxiliary_data.data.metadata
    assert labels[674] == {"msg": ["Masumi", "RegisterAgent"]}
    assert labels[721]["version"] == "1"

    info = registry.chain.asset(registry.unit(asset_name))
    assert (info.policy_id, info.asset_name) == (registry.policy_id, asset_name)
    assert info.quantity == 1 and info.initial_mint_tx_hash == built.tx_hash
    assert info.onchain_metadata is not None
    assert unchunk(info.onchain_metadata, metadata) == metadata
    holders = registry.chain.asset_holders(registry.unit(asset_name))
    assert [(h.address, h.quantity) for h in holders] == [(str(OWNER.address), 1)]


def test_long_strings_round_trip_through_chunks(registry: Registry) -> None:
    metadata = agent_metadata("Long-winded", LONG_DESCRIPTION)
    assert len(LONG_DESCRIPTION.encode()) > 64
    built, asset_name = registry.builders.mint(OWNER, metadata)
    registry.submit(built)
    onchain = registry.chain.asset(registry.unit(asset_name)).onchain_metadata
    assert onchain is not None
    assert isinstance(onchain["description"], list) and len(onchain["description"]) > 1
    assert isinstance(onchain["api_base_url"], list)
    assert all(len(text.encode()) <= 64 for text in strings_of(onchain))
    assert onchain == chunk_strings(metadata)
    assert unchunk(onchain, metadata) == metadata


def test_mint_to_a_recipient_then_burn(registry: Registry) -> None:
    built, asset_name = registry.builders.mint(
        OWNER, agent_metadata("Handed over"), recipient=RECIPIENT.address, lovelace=7 * ADA
    )
    tx = registry.submit(built)
    unit = registry.unit(asset_name)
    holders = registry.chain.asset_holders(unit)
    assert [(h.address, h.quantity) for h in holders] == [(str(RECIPIENT.address), 1)]
    nft = registry.nft_utxo(tx, asset_name)
    assert nft.output.amount.coin == 7 * ADA

    with pytest.raises(BuildError, match="does not hold"):
        registry.builders.burn(RECIPIENT, nft, bytes(32))
    burned = registry.submit(registry.builders.burn(RECIPIENT, nft, bytes.fromhex(asset_name)))
    minted = burned.transaction_body.mint[ScriptHash(bytes.fromhex(registry.policy_id))]
    assert dict(minted) == {AssetName(bytes.fromhex(asset_name)): -1}
    assert burned.auxiliary_data.data.metadata[674] == {"msg": ["Masumi", "DeregisterAgent"]}
    try:
        quantity = registry.chain.asset(unit).quantity
    except ChainNotFound:
        quantity = 0  # gone altogether is as good as quantity 0
    assert quantity == 0
    assert [h for h in registry.chain.asset_holders(unit) if h.quantity] == []


def test_an_nft_sent_with_the_minimum_5_ada_burns_with_other_collateral(
    registry: Registry,
) -> None:
    built, asset_name = registry.builders.mint(OWNER, agent_metadata("Five ADA"))
    nft = registry.nft_utxo(registry.submit(built), asset_name)
    assert nft.output.amount.coin == 5 * ADA
    burn = registry.builders.burn(OWNER, nft, bytes.fromhex(asset_name))
    body = burn.tx.transaction_body
    assert nft.input not in body.collateral  # its 5 ADA would have to carry the NFT back too
    registry.submit(burn)
    assert [h for h in registry.chain.asset_holders(registry.unit(asset_name)) if h.quantity] == []


def test_two_mints_never_share_a_name(registry: Registry) -> None:
    first, first_name = registry.builders.mint(OWNER, agent_metadata("One"))
    registry.submit(first)
    _, second_name = registry.builders.mint(OWNER, agent_metadata("Two"))
    assert first_name != second_name


def test_chunking_keeps_characters_whole_and_short_strings_alone() -> None:
    text = "é" * 40  # 80 bytes of 2-byte characters
    assert chunk_text(text) == ["é" * 32, "é" * 8]
    odd = "a" + "€" * 30  # 1 + 90 bytes; 64 is not a character boundary
    chunks = chunk_text(odd)
    assert "".join(chunks) == odd and all(len(c.encode()) <= 64 for c in chunks)
    assert chunk_strings({"a": "short", "b": ["x" * 65, 3]}) == {
        "a": "short",
        "b": [["x" * 64, "x"], 3],
    }
    assert chunk_text("x" * 64) == ["x" * 64]
    with pytest.raises(BuildError, match="float"):
        chunk_strings({"price": 1.5})
    with pytest.raises(BuildError, match="key over 64 bytes"):
        chunk_strings({"k" * 65: "v"})


def test_given_execution_units_skip_the_evaluation(registry: Registry) -> None:
    evaluated, _ = registry.builders.mint(OWNER, agent_metadata("Evaluated"))
    units = next(iter(evaluated.tx.transaction_witness_set.redeemer.values())).ex_units
    before = registry.chain.requests.snapshot().get("POST /utils/txs/evaluate", 0)
    built, asset_name = registry.builders.mint(
        OWNER, agent_metadata("Budgeted"), ex_units=ExecutionUnits(units.mem, units.steps)
    )
    assert registry.chain.requests.snapshot().get("POST /utils/txs/evaluate", 0) == before
    given = next(iter(built.tx.transaction_witness_set.redeemer.values())).ex_units
    assert (given.mem, given.steps) == (units.mem, units.steps)
    registry.submit(built)
    assert registry.chain.asset(registry.unit(asset_name)).quantity == 1
