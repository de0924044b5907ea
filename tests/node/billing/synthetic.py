"""Synthetic mirror rows for the billing tests and bench/sync.py: valid, ours, with running
balances kept as the sync keeps them."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine
from sqlmodel import Session

from node.billing.ledger import apply_change, contribution
from node.ids import new_id
from node.sync.models import EscrowMirror, OnChainState, Role, RowStatus, Validity

USDM = "a0" * 28 + "0014df105553444d"


def mirror_row(
    network: str, agent: str, n: int, *, role: Role = Role.BUYER, settled: bool = True
) -> EscrowMirror:
    digest = hashlib.sha256(f"{agent}/{n}".encode()).hexdigest()
    state = OnChainState.WITHDRAWN if settled else OnChainState.FUNDS_LOCKED
    row = EscrowMirror(
        id=new_id(), network=network, status=RowStatus.CONFIRMED, listed=True, role=role,
        validity=Validity.VALID, request_id=digest, blockchain_identifier="00" + digest,
        agent_identifier=agent, purchaser_id="0011", buyer_address="addr_test1buyer",
        seller_address="addr_test1seller", buyer_key_hash="b" * 56, seller_key_hash="5" * 56,
        input_hash=digest, pay_by_time=n, submit_result_time=n, unlock_time=n,
        external_dispute_unlock_time=n, collateral_return=0,
        locked={USDM: 10_000_000, "lovelace": 1_500_000}, reserved={USDM: 10_000_000},
        lock_tx_hash=digest, lock_output_index=0, locked_at=1_700_000_000_000 + n * 1000,
        state=state, buyer_tx_fees=200_000, seller_tx_fees=300_000 if settled else 0,
        tx_hashes=[digest], updated_at=0,
    )  # fmt: skip
    if settled:
        row.withdrawn_buyer = {USDM: 4_000_000}
        row.withdrawn_seller = {USDM: 5_500_000}
        row.protocol_fee = {USDM: 500_000}
        row.charged, row.refunded = {USDM: 6_000_000}, {USDM: 4_000_000}
    return row


def insert_rows(engine: Engine, rows: list[EscrowMirror]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        for row in rows:
            session.add(row)
            apply_change(session, {}, contribution(row))
            session.flush()
        session.commit()
