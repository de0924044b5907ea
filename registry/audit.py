"""Compare the chain registry with the node's registration records; pure, no I/O.

Kinds of difference:

- `missing-on-chain`: a record says the agent is registered (RegistrationConfirmed, or a
  deregistration not yet under way: DeregistrationRequested / DeregistrationFailed) but its NFT is
  burned or absent.
- `not-in-database`: a live NFT under the policy held by one of our addresses, with no record.
- `still-on-chain`: a record says DeregistrationConfirmed but the NFT lives.
- `holder-changed`: the NFT is held elsewhere than the record says.
- `metadata-differs`: name, api_base_url, pricing mode or amounts differ from the record.
- `invalid-metadata`: one of our live agents whose on-chain metadata has violations.

Records still in flight (Requested or Initiated registrations, Initiated deregistrations) and
records without an agent identifier are not compared. "Ours" means held by one of
`own_addresses` (by default the records' holder addresses) or named by a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from registry.metadata import Amount, PricingMode
from registry.onchain import OnchainAgent

MISSING_ON_CHAIN: Final = "missing-on-chain"
NOT_IN_DATABASE: Final = "not-in-database"
STILL_ON_CHAIN: Final = "still-on-chain"
HOLDER_CHANGED: Final = "holder-changed"
METADATA_DIFFERS: Final = "metadata-differs"
INVALID_METADATA: Final = "invalid-metadata"

REGISTRATION_CONFIRMED: Final = "RegistrationConfirmed"
DEREGISTRATION_CONFIRMED: Final = "DeregistrationConfirmed"
# states in which the NFT must exist
EXPECT_LIVE: Final = frozenset(
    {REGISTRATION_CONFIRMED, "DeregistrationRequested", "DeregistrationFailed"}
)


@dataclass(frozen=True)
class RegistryRecord:
    agent_identifier: str | None
    state: str
    name: str
    api_base_url: str
    pricing_mode: PricingMode
    amounts: list[Amount]
    holder_address: str | None
    request_id: str


@dataclass(frozen=True)
class Difference:
    agent_identifier: str | None
    request_id: str | None
    kind: str
    detail: str


def _amounts_text(amounts: Iterable[Amount]) -> str:
    text = ", ".join(f"{amount.quantity} {amount.unit}" for amount in amounts)
    return f"[{text}]"


def _amount_key(amounts: Iterable[Amount]) -> list[tuple[str, int]]:
    return sorted((amount.unit, amount.quantity) for amount in amounts)


def _metadata_differences(agent: OnchainAgent, record: RegistryRecord) -> list[str]:
    metadata = agent.metadata
    if metadata is None:
        return []
    found: list[str] = []
    if metadata.name != record.name:
        found.append(f"name {metadata.name!r} on chain, {record.name!r} recorded")
    if metadata.api_base_url != record.api_base_url:
        found.append(
            f"api_base_url {metadata.api_base_url!r} on chain, {record.api_base_url!r} recorded"
        )
    if metadata.pricing_mode != record.pricing_mode:
        found.append(
            f"pricing mode {metadata.pricing_mode} on chain, {record.pricing_mode} recorded"
        )
    if _amount_key(metadata.amounts) != _amount_key(record.amounts):
        found.append(
            f"amounts {_amounts_text(metadata.amounts)} on chain, "
            f"{_amounts_text(record.amounts)} recorded"
        )
    return found


def _compare(
    agent: OnchainAgent | None, record: RegistryRecord, identifier: str
) -> list[Difference]:
    def difference(kind: str, detail: str) -> Difference:
        return Difference(identifier, record.request_id, kind, detail)

    live = agent is not None and not agent.burned
    if record.state == DEREGISTRATION_CONFIRMED:
        if live:
            return [difference(STILL_ON_CHAIN, "deregistration confirmed but the NFT lives")]
        return []
    if record.state not in EXPECT_LIVE:
        return []  # in flight or failed registration: nothing to hold it to yet
    if agent is None or not live:
        where = "absent from the chain" if agent is None else "burned"
        return [difference(MISSING_ON_CHAIN, f"{record.state} but the NFT is {where}")]
    found: list[Difference] = []
    if record.holder_address is not None and agent.holder != record.holder_address:
        found.append(
            difference(
                HOLDER_CHANGED,
                f"held by {agent.holder}, recorded holder {record.holder_address}",
            )
        )
    differences = _metadata_differences(agent, record)
    if differences:
        found.append(difference(METADATA_DIFFERS, "; ".join(differences)))
    return found


def _invalid(agent: OnchainAgent, request_id: str | None) -> Difference:
    shown = "; ".join(str(violation) for violation in agent.violations)
    state = "unreadable" if agent.metadata is None else "readable"
    return Difference(agent.unit, request_id, INVALID_METADATA, f"{state}: {shown}")


def audit(
    onchain: Iterable[OnchainAgent],
    records: Iterable[RegistryRecord],
    own_addresses: set[str] | None = None,
) -> list[Difference]:
    """Every difference between the chain and the records, sorted by agent identifier, kind,
    request id and detail."""
    agents = {agent.unit: agent for agent in onchain}
    rows = list(records)
    own = (
        own_addresses
        if own_addresses is not None
        else {row.holder_address for row in rows if row.holder_address is not None}
    )
    recorded: dict[str, list[RegistryRecord]] = {}
    found: list[Difference] = []
    for record in rows:
        if record.agent_identifier is None:
            if record.state in EXPECT_LIVE:
                found.append(
                    Difference(
                        None,
                        record.request_id,
                        MISSING_ON_CHAIN,
                        f"{record.state} without an agent identifier",
                    )
                )
            continue
        identifier = record.agent_identifier.lower()
        recorded.setdefault(identifier, []).append(record)
        found.extend(_compare(agents.get(identifier), record, identifier))
    for unit, agent in agents.items():
        if agent.burned:
            continue
        mine = unit in recorded or (agent.holder is not None and agent.holder in own)
        if not mine:
            continue
        if unit not in recorded:
            found.append(
                Difference(unit, None, NOT_IN_DATABASE, f"live NFT held by {agent.holder}")
            )
        if agent.violations:
            records_of = recorded.get(unit, [])
            found.append(_invalid(agent, records_of[0].request_id if records_of else None))
    return sorted(
        found,
        key=lambda item: (
            item.agent_identifier or "",
            item.kind,
            item.request_id or "",
            item.detail,
        ),
    )
