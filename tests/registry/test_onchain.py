"""The registry read back from a devnet over HTTP through BlockfrostChain: agents minted by
RegistryBuilders with our metadata, one written the way a Masumi node writes it, one by hand with
broken metadata, one burned. Plus the reader against a stub source, for what a devnet cannot show.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pycardano import Address, AssetName, ScriptHash, TransactionInput, UTxO

from node.chain.blockfrost import BlockfrostChain
from node.chain.port import AssetHolder, AssetInfo, ChainNotFound, PolicyAsset
from registry.identifiers import AgentIdentifier
from registry.metadata import (
    DEFAULT_IMAGE,
    AgentMetadata,
    Amount,
    Author,
    Capability,
    ExampleOutput,
    Legal,
    PricingMode,
    Violation,
    to_metadatum,
)
from registry.onchain import (
    OnchainAgent,
    RegistrySource,
    agent_units_in,
    list_agents,
    read_agent,
)
from tests.registry.conftest import OWNER, RECIPIENT, ChainRegistry

USDM = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"


def agent(name: str, mode: PricingMode, amounts: Sequence[Amount] = ()) -> AgentMetadata:
    return AgentMetadata(
        name=name,
        description="Summarises long documents into short, faithful abstracts — über-präzise, "
        "多言語対応, and it cites the passages it relied on.",
        api_base_url="https://agents.example.com/" + name.lower().replace(" ", "-"),
        example_output=[
            ExampleOutput(name="abstract", mime_type="text/plain", url="https://x.example/a")
        ],
        capability=Capability(name="summarise", version="1.0.0"),
        author=Author(name="Ada", contact_email="ada@example.com", organization="Analytical"),
        legal=Legal(terms="https://agents.example.com/terms"),
        tags=["summaries", "documents"],
        pricing_mode=mode,
        amounts=list(amounts),
    )


def masumi_chunks(text: str) -> list[str]:
    """How a Masumi node writes every string: a list of chunks of at most 60 bytes ("" → [])."""
    chunks: list[str] = []
    current = ""
    for char in text:
        if len((current + char).encode()) > 60:
            chunks.append(current)
            current = ""
        current += char
    if current:
        chunks.append(current)
    return chunks


MASUMI_WRITTEN: dict[str, Any] = {
    "name": masumi_chunks("Masumi-registered translator"),
    "description": masumi_chunks(
        "Translates documents between forty languages; registered by a Masumi payment node "
        "with a fixed price paid in two assets at once."
    ),
    "api_base_url": masumi_chunks("https://translator.example.org/masumi/api/v1"),
    "example_output": [],
    "capability": {"name": masumi_chunks("translate"), "version": masumi_chunks("2.1")},
    "author": {
        "name": masumi_chunks("Grace"),
        "contact_email": masumi_chunks("grace@example.org"),
    },
    "legal": {"terms": masumi_chunks("https://translator.example.org/terms")},
    "tags": ["translation", "languages"],
    "agentPricing": {
        "pricingType": "Fixed",
        "fixedPricing": [
            {"unit": masumi_chunks(""), "amount": "5000000"},
            {"unit": masumi_chunks(USDM), "amount": "2000000"},
        ],
    },
    "image": masumi_chunks(DEFAULT_IMAGE),
    "metadata_version": "1",
}

BROKEN: dict[str, Any] = {
    "name": "Broken agent",
    "api_base_url": "ftp://files.example.com/agent",
    "author": {"contact_email": "nobody@example.com"},
    "tags": [],
    "image": DEFAULT_IMAGE,
    "metadata_version": "1",
    "agentPricing": {"pricingType": "Fixed", "fixedPricing": [{"unit": "", "amount": "0"}]},
    "pricing_mode": "Fixed",
    "pricing": [{"quantity": 5_000_000, "unit": "lovelace"}],
}


@dataclass
class Minted:
    asset_name: str
    tx_hash: str
    holder: str
    metadata: AgentMetadata | None = None


@dataclass
class World:
    registry: ChainRegistry
    agents: dict[str, Minted] = field(default_factory=dict)
    burned: set[str] = field(default_factory=set)

    @property
    def chain(self) -> BlockfrostChain:
        return self.registry.chain

    @property
    def policy_id(self) -> str:
        return self.registry.policy_id

    def unit(self, key: str) -> str:
        return self.policy_id + self.agents[key].asset_name

    def mint(
        self,
        key: str,
        metadata: Mapping[str, Any],
        model: AgentMetadata | None = None,
        recipient: Address | None = None,
    ) -> None:
        built, asset_name = self.registry.builders.mint(OWNER, metadata, recipient=recipient)
        tx_hash = self.registry.submit(built)
        holder = str(recipient or OWNER.address)
        self.agents[key] = Minted(asset_name, tx_hash, holder, model)

    def burn(self, key: str) -> None:
        minted = self.agents[key]
        policy = ScriptHash(bytes.fromhex(self.policy_id))
        name = AssetName(bytes.fromhex(minted.asset_name))
        utxo = next(
            utxo
            for utxo in self.registry.builders.context.utxos(OWNER.address)
            if utxo.output.amount.multi_asset.get(policy, {}).get(name)
        )
        assert isinstance(utxo, UTxO) and isinstance(utxo.input, TransactionInput)
        self.registry.submit(
            self.registry.builders.burn(OWNER, utxo, bytes.fromhex(minted.asset_name))
        )
        self.burned.add(key)


FIXED = agent("Fixed summariser", PricingMode.FIXED, [Amount(quantity=1_000_000, unit=USDM)])
TIERS = agent(
    "Tiered summariser",
    PricingMode.FIXED_PRICES,
    [Amount(quantity=q, unit=USDM) for q in (500_000, 2_000_000, 9_000_000)],
)
FREE = agent("Free summariser", PricingMode.FREE)
DYNAMIC = agent("Dynamic summariser", PricingMode.DYNAMIC)


@pytest.fixture(scope="module")
def world(chain_registry: ChainRegistry) -> Iterator[World]:
    world = World(chain_registry)
    world.mint("fixed", to_metadatum(FIXED), FIXED)
    world.mint("tiers", to_metadatum(TIERS), TIERS, recipient=RECIPIENT.address)
    world.mint("free", to_metadatum(FREE), FREE)
    world.mint("dynamic", to_metadatum(DYNAMIC), DYNAMIC)
    world.mint("masumi", MASUMI_WRITTEN)
    world.mint("broken", BROKEN)
    world.burn("dynamic")
    yield world


def requests_made(chain: BlockfrostChain) -> int:
    return sum(chain.requests.snapshot().values())


def test_the_chain_port_is_a_registry_source(world: World) -> None:
    source: RegistrySource = world.chain  # checked by mypy in the registry package's own terms
    assert source is world.chain


@pytest.mark.parametrize("key", ["fixed", "tiers", "free"])
def test_agents_minted_from_the_model_read_back_equal(world: World, key: str) -> None:
    minted = world.agents[key]
    before = requests_made(world.chain)
    read = read_agent(world.chain, world.unit(key))
    assert requests_made(world.chain) - before == 2  # the asset, its holders
    assert read.identifier == AgentIdentifier(world.policy_id, minted.asset_name)
    assert str(read.identifier) == world.unit(key)
    assert (read.holder, read.quantity, read.mint_tx_hash) == (minted.holder, 1, minted.tx_hash)
    assert read.violations == []
    assert read.metadata == minted.metadata
    assert minted.metadata is not None
    assert (read.name, read.raw_name) == (minted.metadata.name, minted.metadata.name)
    assert read.api_base_url == minted.metadata.api_base_url


def test_a_masumi_written_agent_is_read_as_fixed_paid_together(world: World) -> None:
    read = read_agent(world.chain, world.unit("masumi"))
    assert read.violations == []
    metadata = read.metadata
    assert metadata is not None
    assert metadata.name == "Masumi-registered translator"
    assert metadata.description is not None and metadata.description.startswith("Translates")
    assert metadata.api_base_url == "https://translator.example.org/masumi/api/v1"
    assert metadata.capability == Capability(name="translate", version="2.1")
    assert metadata.author == Author(name="Grace", contact_email="grace@example.org")
    assert metadata.legal == Legal(terms="https://translator.example.org/terms")
    assert metadata.tags == ["translation", "languages"]
    assert metadata.image == DEFAULT_IMAGE
    assert (metadata.pricing_mode, metadata.paid_together) == (PricingMode.FIXED, True)
    assert metadata.amounts == [
        Amount(quantity=5_000_000, unit="lovelace"),
        Amount(quantity=2_000_000, unit=USDM),
    ]


def test_broken_metadata_reports_every_violation_and_keeps_the_raw_name(world: World) -> None:
    read = read_agent(world.chain, world.unit("broken"))
    assert read.holder == str(OWNER.address) and read.quantity == 1
    assert read.metadata is None
    assert (read.name, read.api_base_url) == (None, None)
    assert read.raw_name == "Broken agent"
    assert read.violations == [
        Violation("author.name", "required"),
        Violation("tags", "at least one tag is required"),
        Violation("agentPricing.fixedPricing[0].amount", "must be greater than 0, not 0"),
        Violation(
            "api_base_url", "must be an http or https URL, not 'ftp://files.example.com/agent'"
        ),
    ]


def test_a_burned_agent_has_no_holder_and_costs_one_request(world: World) -> None:
    before = requests_made(world.chain)
    read = read_agent(world.chain, world.unit("dynamic"))
    assert requests_made(world.chain) - before == 1
    assert (read.holder, read.quantity, read.burned) == (None, 0, True)
    assert read.metadata == DYNAMIC  # the metadata of its mint stays readable


def test_list_agents_pages_through_the_policy(world: World) -> None:
    counts: list[int] = []
    listed = list(list_agents(world.chain, world.policy_id, page_size=2, progress=counts.append))
    live = {key for key in world.agents if key not in world.burned}
    assert {agent.unit for agent in listed} == {world.unit(key) for key in live}
    assert counts == list(range(1, len(live) + 1))
    by_unit = {agent.unit: agent for agent in listed}
    assert by_unit[world.unit("tiers")].holder == str(RECIPIENT.address)
    assert by_unit[world.unit("tiers")].metadata == TIERS

    with_burned = list(list_agents(world.chain, world.policy_id, include_burned=True))
    assert {agent.unit for agent in with_burned} == {world.unit(key) for key in world.agents}
    burned = [agent for agent in with_burned if agent.burned]
    assert [agent.unit for agent in burned] == [world.unit("dynamic")]


def test_an_unknown_asset_is_the_sources_not_found(world: World) -> None:
    with pytest.raises(ChainNotFound):
        read_agent(world.chain, world.policy_id + "00" * 32)
    assert list(list_agents(world.chain, "ab" * 28)) == []


def test_agent_units_in_filters_by_policy() -> None:
    policy = "ab" * 28
    units = [
        "lovelace",
        policy.upper() + "01",
        "cd" * 28 + "01",
        policy + "01",
        policy,
        policy + "02",
    ]
    assert agent_units_in(units, policy) == [policy + "01", policy + "02"]


# the reader against a stub source ----------------------------------------------------------


@dataclass
class StubSource:
    """A RegistrySource from lists, counting calls: pages of `page_size` over `rows`."""

    rows: list[PolicyAsset]
    assets: dict[str, AssetInfo]
    holders: dict[str, list[AssetHolder]]
    calls: list[str] = field(default_factory=list)

    def policy_assets(
        self, policy_id: str, *, page: int = 1, count: int = 100
    ) -> list[PolicyAsset]:
        self.calls.append(f"policy {page}")
        return self.rows[(page - 1) * count : page * count]

    def asset(self, unit: str) -> AssetInfo:
        self.calls.append(f"asset {unit[-2:]}")
        return self.assets[unit]

    def asset_holders(self, unit: str) -> list[AssetHolder]:
        self.calls.append(f"holders {unit[-2:]}")
        return self.holders.get(unit, [])


POLICY = "12" * 28


def stub(count: int, metadata: dict[str, Any] | None = None) -> StubSource:
    units = [POLICY + f"{index:02x}" for index in range(count)]
    return StubSource(
        rows=[PolicyAsset(unit, 1) for unit in units],
        assets={unit: AssetInfo(unit, POLICY, unit[56:], 1, "ee" * 32, metadata) for unit in units},
        holders={unit: [AssetHolder("addr_test1holder", 1)] for unit in units},
    )


def test_list_agents_stops_after_a_short_page_and_reports_progress() -> None:
    source = stub(4)
    counts: list[int] = []
    agents = list(list_agents(source, POLICY, page_size=2, progress=counts.append))
    assert len(agents) == 4 and counts == [1, 2, 3, 4]
    # pages 1 and 2 are full, page 3 is empty (short): then it stops
    assert [call for call in source.calls if call.startswith("policy")] == [
        "policy 1",
        "policy 2",
        "policy 3",
    ]
    source = stub(3)
    list(list_agents(source, POLICY, page_size=2))
    assert [call for call in source.calls if call.startswith("policy")] == ["policy 1", "policy 2"]


def test_list_agents_is_lazy() -> None:
    source = stub(3)
    iterator = list_agents(source, POLICY, page_size=100)
    first = next(iterator)
    assert isinstance(first, OnchainAgent)
    assert source.calls == ["policy 1", "asset 00", "holders 00"]


def test_no_metadata_on_chain_is_a_violation() -> None:
    source = stub(1)
    read = read_agent(source, POLICY + "00")
    assert read.metadata is None and read.raw_name is None
    assert read.violations == [Violation("metadata", "none on chain")]
    assert read.holder == "addr_test1holder"


def test_more_than_one_holder_or_unit_is_reported() -> None:
    source = stub(1, to_metadatum(FREE))
    unit = POLICY + "00"
    source.assets[unit] = AssetInfo(unit, POLICY, "00", 2, "ee" * 32, to_metadatum(FREE))
    source.holders[unit] = [AssetHolder("addr_a", 1), AssetHolder("addr_b", 1)]
    read = read_agent(source, unit)
    assert read.holder is None and read.metadata == FREE
    assert read.violations == [
        Violation("holder", "held by 2 addresses, not exactly one"),
        Violation("quantity", "2 minted; a registry NFT is unique"),
    ]


def test_read_agent_refuses_a_malformed_unit() -> None:
    with pytest.raises(ValueError, match="hex"):
        read_agent(stub(0), "not-a-unit")
