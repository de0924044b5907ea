"""Reading the registry from the chain: each agent's NFT, its holder and its decoded metadata.

The chain is seen through `RegistrySource`, a structural port that node.chain's `ChainPort` (and
so `BlockfrostChain`) satisfies as it is: `policy_assets` pages through a policy's assets,
`asset` gives one asset with its CIP-25 `onchain_metadata`, `asset_holders` its addresses.
Errors of the source (an asset that does not exist, an unreachable chain) propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from registry.cip25 import join_chunks
from registry.identifiers import POLICY_ID_HEX, AgentIdentifier
from registry.metadata import AgentMetadata, Violation, decode

DEFAULT_PAGE_SIZE = 100  # Blockfrost's largest page


class PolicyAssetRow(Protocol):
    @property
    def unit(self) -> str: ...

    @property
    def quantity(self) -> int: ...


class AssetRow(Protocol):
    @property
    def unit(self) -> str: ...

    @property
    def policy_id(self) -> str: ...

    @property
    def asset_name(self) -> str: ...

    @property
    def quantity(self) -> int: ...

    @property
    def initial_mint_tx_hash(self) -> str: ...

    @property
    def onchain_metadata(self) -> Mapping[str, Any] | None: ...


class HolderRow(Protocol):
    @property
    def address(self) -> str: ...

    @property
    def quantity(self) -> int: ...


class RegistrySource(Protocol):
    """The part of the chain port the registry reader needs."""

    def policy_assets(
        self, policy_id: str, *, page: int = 1, count: int = 100
    ) -> Sequence[PolicyAssetRow]: ...

    def asset(self, unit: str) -> AssetRow: ...

    def asset_holders(self, unit: str) -> Sequence[HolderRow]: ...


@dataclass(frozen=True)
class OnchainAgent:
    """A registry NFT as the chain shows it. `holder` is None once burned (quantity 0).
    `metadata` is None when its violations are fatal; `raw_name` is the on-chain name as
    written (chunks joined), shown even then."""

    identifier: AgentIdentifier
    holder: str | None
    quantity: int
    mint_tx_hash: str
    metadata: AgentMetadata | None
    violations: list[Violation] = field(default_factory=list)
    raw_name: str | None = None
    raw_metadata: Mapping[str, Any] | None = None  # as the chain carries it (chunks unjoined)

    @property
    def unit(self) -> str:
        return self.identifier.unit

    @property
    def burned(self) -> bool:
        return self.quantity <= 0

    @property
    def name(self) -> str | None:
        return None if self.metadata is None else self.metadata.name

    @property
    def api_base_url(self) -> str | None:
        return None if self.metadata is None else self.metadata.api_base_url


def read_agent(source: RegistrySource, unit: str) -> OnchainAgent:
    """One agent: the asset (with its metadata), then its holder unless it is burned."""
    identifier = AgentIdentifier.parse(unit)
    info = source.asset(identifier.unit)
    violations: list[Violation] = []
    holder: str | None = None
    if info.quantity > 0:
        addresses = sorted(
            {row.address for row in source.asset_holders(identifier.unit) if row.quantity > 0}
        )
        if len(addresses) == 1:
            holder = addresses[0]
        else:
            violations.append(
                Violation("holder", f"held by {len(addresses)} addresses, not exactly one")
            )
    if info.quantity > 1:
        violations.append(
            Violation("quantity", f"{info.quantity} minted; a registry NFT is unique")
        )
    raw = info.onchain_metadata
    raw_name: str | None = None
    metadata: AgentMetadata | None = None
    if raw is None:
        violations.append(Violation("metadata", "none on chain"))
    else:
        decoded = decode(raw)
        metadata = decoded.metadata
        violations.extend(decoded.violations)
        raw_name = join_chunks(raw.get("name")) if isinstance(raw, Mapping) else None
    return OnchainAgent(
        identifier=identifier,
        holder=holder,
        quantity=info.quantity,
        mint_tx_hash=info.initial_mint_tx_hash,
        metadata=metadata,
        violations=violations,
        raw_name=raw_name,
        raw_metadata=raw if isinstance(raw, Mapping) else None,
    )


def list_agents(
    source: RegistrySource,
    policy_id: str,
    *,
    include_burned: bool = False,
    progress: Callable[[int], None] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[OnchainAgent]:
    """Every agent under `policy_id`, in the source's order, paging until a short page.
    Burned NFTs are skipped unless asked for. `progress` gets the count after each agent."""
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    policy = AgentIdentifier.parse(policy_id).policy_id
    seen = 0
    page = 1
    while True:
        rows = source.policy_assets(policy, page=page, count=page_size)
        for row in rows:
            if row.quantity <= 0 and not include_burned:
                continue
            agent = read_agent(source, row.unit)
            seen += 1
            if progress is not None:
                progress(seen)
            yield agent
        if len(rows) < page_size:
            return
        page += 1


def agent_units_in(units: Iterable[str], policy_id: str) -> list[str]:
    """The units under `policy_id` among `units` (e.g. what an address holds), lower-cased,
    each once, in their first order; "lovelace" and other policies are left out."""
    policy = policy_id.lower()
    found: dict[str, None] = {}
    for unit in units:
        value = unit.lower()
        if value.startswith(policy) and len(value) > POLICY_ID_HEX:
            found[value] = None
    return list(found)
