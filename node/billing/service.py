"""Balances from the running totals the sync keeps; usage and history from the mirror rows,
newest first, keyset-paged on (locked_at, id)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import literal, tuple_
from sqlmodel import Session, col, select

from node.billing.ledger import COUNT_UNIT
from node.billing.models import BillingBalance
from node.billing.schemas import (
    BalanceLine,
    BalanceOut,
    BalanceSide,
    BillingAmount,
    UsageList,
    UsageRow,
)
from node.sync.models import EscrowMirror
from node.web import not_found


def balance(session: Session, network: str, peer_agent_id: str | None) -> BalanceOut:
    query = select(BillingBalance).where(BillingBalance.network == network)
    if peer_agent_id is not None:
        query = query.where(BillingBalance.agent_identifier == peer_agent_id)
    rows = session.exec(query).all()
    return BalanceOut(
        peer_agent_id=peer_agent_id,
        as_buyer=_side([r for r in rows if r.side == "buyer"]),
        as_seller=_side([r for r in rows if r.side == "seller"]),
    )


def _side(rows: Sequence[BillingBalance]) -> BalanceSide:
    requests = sum(r.requests for r in rows if r.unit == COUNT_UNIT)
    totals: dict[str, list[int]] = {}
    for row in rows:
        if row.unit == COUNT_UNIT:
            continue
        sums = totals.setdefault(row.unit, [0, 0, 0, 0, 0])
        for i, value in enumerate(
            (row.locked, row.charged, row.refunded, row.protocol_fees, row.tx_fees)
        ):
            sums[i] += value
    lines = [
        BalanceLine(
            unit=unit,
            locked=str(s[0]),
            charged=str(s[1]),
            refunded=str(s[2]),
            protocol_fees=str(s[3]),
            tx_fees=str(s[4]),
        )
        for unit, s in sorted(totals.items())
    ]
    return BalanceSide(requests=str(requests), amounts=lines)


def _cursor(session: Session, network: str, cursor_id: str | None) -> tuple[int, str] | None:
    if cursor_id is None:
        return None
    row = session.get(EscrowMirror, cursor_id)
    if row is None or row.network != network:
        raise not_found("cursorId")
    return row.locked_at, row.id


def usage(
    session: Session,
    network: str,
    peer_agent_id: str | None,
    limit: int,
    cursor_id: str | None = None,
) -> UsageList:
    """Our requests (with one agent, or all), most recent lock first."""
    query = select(EscrowMirror).where(
        EscrowMirror.network == network, col(EscrowMirror.listed).is_(True)
    )
    if peer_agent_id is not None:
        query = query.where(EscrowMirror.agent_identifier == peer_agent_id)
    after = _cursor(session, network, cursor_id)
    if after is not None:
        query = query.where(
            tuple_(col(EscrowMirror.locked_at), col(EscrowMirror.id))
            < tuple_(literal(after[0]), literal(after[1]))
        )
    query = query.order_by(col(EscrowMirror.locked_at).desc(), col(EscrowMirror.id).desc())
    rows = session.exec(query.limit(limit)).all()
    next_cursor = rows[-1].id if len(rows) == limit else None
    return UsageList(items=[usage_row(row) for row in rows], next_cursor_id=next_cursor)


def _amounts(values: dict[str, int]) -> list[BillingAmount]:
    return [BillingAmount(unit=unit, amount=str(q)) for unit, q in sorted(values.items())]


def usage_row(row: EscrowMirror) -> UsageRow:
    return UsageRow(
        id=row.id,
        request_id=row.request_id,
        blockchain_identifier=row.blockchain_identifier,
        agent_identifier=row.agent_identifier,
        role=row.role,
        validity=row.validity,
        invalid_reason=row.invalid_reason,
        on_chain_state=row.state,
        reserved=_amounts(row.reserved),
        charged=_amounts(row.charged),
        refunded=_amounts(row.refunded),
        protocol_fees=_amounts(row.protocol_fee),
        buyer_tx_fees=str(row.buyer_tx_fees),
        seller_tx_fees=str(row.seller_tx_fees),
        result_hash=row.result_hash,
        buyer_address=row.buyer_address,
        seller_address=row.seller_address,
        lock_tx_hash=row.lock_tx_hash,
        tx_hashes=list(row.tx_hashes),
        locked_at=row.locked_at,
        updated_on_chain_at=row.updated_on_chain_at,
        pay_by_time=row.pay_by_time,
        submit_result_time=row.submit_result_time,
        unlock_time=row.unlock_time,
        external_dispute_unlock_time=row.external_dispute_unlock_time,
    )
