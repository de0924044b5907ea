"""The registry half of the mirror: every NFT under the network's registry policy, with its holder
and metadata, kept in `registry_mirror` from chain facts only.

A pass lists the policy (one Blockfrost request per 100 assets) and reads an asset again (asset +
holders, 2 requests; 1 once burned) only when it is new, its quantity changed, or it is one of
this node's registrations, whose holder the node must know. An asset that drops out of the
listing had its mint rolled back: it is marked Gone, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.agents.models import RegistryRequest
from node.chain.port import ChainNotFound, ChainPort
from node.clock import now_ms
from node.ids import new_id
from node.runtime import Runtime
from node.sync.models import RegistryAssetStatus, RegistryMirror
from registry.onchain import DEFAULT_PAGE_SIZE, OnchainAgent, read_agent


@dataclass(frozen=True)
class RegistrySyncReport:
    listed: int  # assets under the policy, burned ones included
    read: int  # assets read again (new, changed, or ours)
    gone: int  # newly marked Gone


def policy_listing(chain: ChainPort, policy_id: str) -> dict[str, int]:
    """unit -> quantity of every asset under the policy, all pages."""
    listing: dict[str, int] = {}
    page = 1
    while True:
        rows = chain.policy_assets(policy_id, page=page, count=DEFAULT_PAGE_SIZE)
        listing.update((row.unit, row.quantity) for row in rows)
        if len(rows) < DEFAULT_PAGE_SIZE:
            return listing
        page += 1


def our_units(session: Session, network: str) -> set[str]:
    rows = session.exec(
        select(RegistryRequest.agent_identifier).where(
            RegistryRequest.network == network, col(RegistryRequest.agent_identifier).is_not(None)
        )
    ).all()
    return {unit for unit in rows if unit is not None}


def sync_registry(
    engine: Engine, chain: ChainPort, network: str, policy_id: str
) -> RegistrySyncReport:
    listing = policy_listing(chain, policy_id)
    with Session(engine) as session:
        known = {
            row.unit: row
            for row in session.exec(
                select(RegistryMirror).where(
                    RegistryMirror.network == network, RegistryMirror.policy_id == policy_id
                )
            )
        }
        ours = our_units(session, network)
        stale = [
            unit
            for unit, quantity in listing.items()
            if _needs_reading(known.get(unit), quantity, unit in ours)
        ]
        read = 0
        for unit in stale:
            agent = _read(chain, unit)
            if agent is not None:
                session.add(_mirrored(known.get(unit), agent, network, policy_id))
                read += 1
        gone = _mark_gone(session, (row for unit, row in known.items() if unit not in listing))
        try:
            session.commit()
        except IntegrityError:  # another replica mirrored the same new asset meanwhile
            session.rollback()
            return RegistrySyncReport(listed=len(listing), read=0, gone=0)
    return RegistrySyncReport(listed=len(listing), read=read, gone=gone)


def _needs_reading(row: RegistryMirror | None, quantity: int, ours: bool) -> bool:
    if row is None or row.quantity != quantity or row.status == RegistryAssetStatus.GONE:
        return True
    return ours and quantity > 0


def _read(chain: ChainPort, unit: str) -> OnchainAgent | None:
    try:
        return read_agent(chain, unit)
    except ChainNotFound:  # listed a moment ago, rolled back since: the next pass marks it
        return None


def _mirrored(
    row: RegistryMirror | None, agent: OnchainAgent, network: str, policy_id: str
) -> RegistryMirror:
    if row is None:
        row = RegistryMirror(
            id=new_id(),
            network=network,
            policy_id=policy_id,
            unit=agent.unit,
            status=RegistryAssetStatus.LIVE,
            quantity=agent.quantity,
            mint_tx_hash=agent.mint_tx_hash,
            updated_at=now_ms(),
        )
    metadata = agent.metadata
    row.status = RegistryAssetStatus.BURNED if agent.burned else RegistryAssetStatus.LIVE
    row.quantity = agent.quantity
    row.holder = agent.holder
    row.mint_tx_hash = agent.mint_tx_hash
    row.name = (agent.name or agent.raw_name or "")[:250] or None
    row.api_base_url = None if metadata is None else metadata.api_base_url
    row.pricing_mode = None if metadata is None else str(metadata.pricing_mode)
    row.violations = len(agent.violations)
    row.onchain_metadata = None if agent.raw_metadata is None else dict(agent.raw_metadata)
    row.updated_at = now_ms()
    return row


def _mark_gone(session: Session, rows: Iterable[RegistryMirror]) -> int:
    count = 0
    for row in rows:
        if row.status != RegistryAssetStatus.GONE:
            row.status, row.holder, row.updated_at = RegistryAssetStatus.GONE, None, now_ms()
            session.add(row)
            count += 1
    return count


def registry_sync_step(runtime: Runtime) -> int:
    """The worker step: one pass over the network's registry policy; assets read again."""
    policy_id = runtime.network.registry.policy_id
    if runtime.chain is None or policy_id is None:
        return 0
    return sync_registry(runtime.engine, runtime.chain, runtime.profile.name, policy_id).read
