"""The buyer's check of a lock (masumi-protocol.md §12 point 6): a lock that names one of our
Purchasing wallets as buyer must be our lock transaction of one of our purchases, with exactly
the terms and amounts we confirmed. Registered with node.sync.hooks on import."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session, select

from contracts.datums import EscrowDatum
from node.purchases.models import Purchase
from node.sync.hooks import register_lock_check
from node.sync.models import EscrowMirror
from node.wallets.models import HotWallet, HotWalletType
from node.wallets.service import find_by_key_hash
from registry.metadata import normalise_unit


def _our_purchasing_wallet(session: Session, row: EscrowMirror) -> HotWallet | None:
    return find_by_key_hash(session, row.network, row.buyer_key_hash, HotWalletType.PURCHASING)


def _funds(amounts: list[dict[str, str]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in amounts:
        unit = normalise_unit(item["unit"])
        totals[unit] = totals.get(unit, 0) + int(item["amount"])
    return totals


def _reserved(row: EscrowMirror) -> Mapping[str, int]:
    return {normalise_unit(unit): q for unit, q in row.reserved.items() if q > 0}


def problems_of(row: EscrowMirror, purchase: Purchase, wallet: HotWallet | None) -> list[str]:
    """Every way the lock differs from the purchase."""
    expected = (
        ("buyer", wallet.payment_key_hash if wallet else None, row.buyer_key_hash),
        ("seller", purchase.seller_vkey, row.seller_key_hash),
        ("purchaser id", purchase.identifier_from_purchaser, row.purchaser_id.lower()),
        ("agent", purchase.agent_identifier, row.agent_identifier.lower()),
        ("input hash", purchase.input_hash.lower(), row.input_hash.lower()),
        ("payByTime", purchase.pay_by_time, row.pay_by_time),
        ("submitResultTime", purchase.submit_result_time, row.submit_result_time),
        ("unlockTime", purchase.unlock_time, row.unlock_time),
        ("externalDisputeUnlockTime", purchase.external_dispute_unlock_time,
         row.external_dispute_unlock_time),
        ("amounts", _funds(purchase.paid_funds), dict(_reserved(row))),
    )  # fmt: skip
    return [
        f"{name}: locked {locked}, agreed {agreed}"
        for name, agreed, locked in expected
        if agreed != locked
    ]


def check_lock(session: Session, row: EscrowMirror, datum: EscrowDatum) -> str | None:
    """None when the lock is ours and as agreed, or not a lock by one of our Purchasing
    wallets; else what is wrong with it."""
    wallet = _our_purchasing_wallet(session, row)
    if wallet is None:
        return None
    purchase = session.exec(
        select(Purchase).where(
            Purchase.network == row.network,
            Purchase.request_id == row.request_id,
            Purchase.lock_tx_hash == row.lock_tx_hash,
        )
    ).first()
    if purchase is None:
        return f"buyer: no purchase of this node was locked by transaction {row.lock_tx_hash}"
    problems = problems_of(row, purchase, wallet)
    if purchase.purchasing_wallet_id != wallet.id:
        problems.append("buyer: not the purchase's wallet")
    return "buyer: " + "; ".join(problems) if problems else None


register_lock_check(check_lock)
