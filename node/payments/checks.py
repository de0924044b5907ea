"""The seller's check of a lock (masumi-protocol.md §12 point 6): a lock that names one of our
Selling wallets as seller must carry one of our payment requests with exactly its terms, else it
is FundsOrDatumInvalid and never served. Registered with node.sync.hooks on import."""

from __future__ import annotations

from sqlmodel import Session, select

from contracts.datums import EscrowDatum
from node.chain.builders import MIN_COLLATERAL_RETURN
from node.payments.models import PaymentRequest
from node.sync.hooks import register_lock_check
from node.sync.models import EscrowMirror
from node.wallets.models import HotWalletType
from node.wallets.service import find_by_key_hash

LOVELACE = "lovelace"


def _unit(unit: str) -> str:
    return LOVELACE if unit in ("", LOVELACE) else unit.lower()


def _totals(funds: list[dict[str, str]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in funds:
        unit = _unit(item["unit"])
        totals[unit] = totals.get(unit, 0) + int(item["amount"])
    return totals


def _ours(session: Session, row: EscrowMirror) -> bool:
    wallet = find_by_key_hash(session, row.network, row.seller_key_hash, HotWalletType.SELLING)
    return wallet is not None


def amount_problems(row: EscrowMirror, payment: PaymentRequest) -> list[str]:
    """Tokens exactly as requested, lovelace at least, no other token; a sane collateral return."""
    wanted = _totals(payment.requested_funds)
    locked = {_unit(u): q for u, q in row.locked.items() if q > 0}
    reserved = {_unit(u): q for u, q in row.reserved.items() if q > 0}
    problems = []
    collateral = row.collateral_return
    if collateral and not MIN_COLLATERAL_RETURN <= collateral <= locked.get(LOVELACE, 0):
        problems.append(f"collateral return {collateral} out of range")
    for unit, amount in wanted.items():
        have = reserved.get(unit, 0)
        if (have < amount) if unit == LOVELACE else (have != amount):
            problems.append(f"amount of {unit or LOVELACE}: locked {have}, requested {amount}")
    extra = set(locked) - set(wanted) - {LOVELACE}
    if extra:
        problems.append(f"tokens not requested: {', '.join(sorted(extra))}")
    return problems


def problems_of(row: EscrowMirror, payment: PaymentRequest) -> list[str]:
    expected = (
        ("seller", payment.seller_vkey, row.seller_key_hash),
        ("input hash", payment.input_hash.lower(), row.input_hash.lower()),
        ("payByTime", payment.pay_by_time, row.pay_by_time),
        ("submitResultTime", payment.submit_result_time, row.submit_result_time),
        ("externalDisputeUnlockTime", payment.external_dispute_unlock_time,
         row.external_dispute_unlock_time),
    )  # fmt: skip
    problems = [
        f"{name}: locked {got}, agreed {want}" for name, want, got in expected if want != got
    ]
    if row.unlock_time < payment.unlock_time:
        problems.append(f"unlockTime: locked {row.unlock_time}, agreed {payment.unlock_time}")
    if row.locked_at > payment.pay_by_time:
        problems.append(f"locked at {row.locked_at}, after payByTime {payment.pay_by_time}")
    return problems + amount_problems(row, payment)


def check_lock(session: Session, row: EscrowMirror, datum: EscrowDatum) -> str | None:
    """None when the lock is not to one of our Selling wallets, or matches our payment request."""
    if not _ours(session, row):
        return None
    payment = session.exec(
        select(PaymentRequest).where(
            PaymentRequest.network == row.network,
            PaymentRequest.blockchain_identifier == row.blockchain_identifier,
        )
    ).first()
    if payment is None:
        return "seller: no payment request of this node has this blockchainIdentifier"
    problems = problems_of(row, payment)
    return "seller: " + "; ".join(problems) if problems else None


register_lock_check(check_lock)
