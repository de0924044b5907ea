"""Whose escrow is it: a stranger's lock mirrored as foreign and never billed, a spoofed lock
marked FundsOrDatumInvalid, and the buyer's and the seller's nodes agreeing on request ids and
amounts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pycardano import Value
from sqlmodel import Session

from node.billing import service as billing
from node.chain.builders import MIN_COLLATERAL_RETURN
from node.sync.models import Role, Validity
from tests.node.chain.escrow_world import ADA, BUYER, HOUR_MS, SELLER, Escrow
from tests.node.sync.world import (
    AGENT,
    OTHER_AGENT,
    STRANGER,
    Mirror,
    fresh_engine,
    purchase,
    raw_lock,
)


def test_a_strangers_lock_is_mirrored_but_never_billed(mirror: Mirror, escrow: Escrow) -> None:
    theirs = purchase(escrow, "stranger", 1, agent=OTHER_AGENT, buyer=STRANGER, seller=STRANGER)
    datum = theirs.datum.replace(collateral_return_lovelace=0)
    raw_lock(escrow, STRANGER, datum, Value(3 * ADA))
    mirror.sync()
    row = mirror.by_request(theirs.request_id)
    assert (row.role, row.listed, row.validity) == (Role.NEITHER, False, Validity.VALID)
    with Session(mirror.engine) as session:
        assert billing.usage(session, "devnet", OTHER_AGENT.hex(), 10).items == []
        balance = billing.balance(session, "devnet", OTHER_AGENT.hex())
    assert balance.as_buyer.amounts == [] and balance.as_seller.amounts == []


def test_spoofed_locks_are_funds_or_datum_invalid(mirror: Mirror, escrow: Escrow) -> None:
    now = escrow.devnet.ledger.now_ms
    spoofs = {
        "cooldown": {"seller_cooldown_time": now + HOUR_MS},
        "result": {"result_hash": hashlib.sha256(b"early").digest()},
        "collateral": {"collateral_return_lovelace": MIN_COLLATERAL_RETURN - 1},
    }
    ids = {}
    for name, changes in spoofs.items():
        fake = purchase(escrow, f"spoof-{name}", **changes)
        raw_lock(escrow, BUYER, fake.datum, Value(3 * ADA, escrow.usdm(1_000_000)))
        ids[name] = fake.request_id
    honest = purchase(escrow, "spoof-none")
    raw_lock(escrow, STRANGER, honest.datum, Value(3 * ADA))  # the buyer did not pay it
    mirror.sync()
    reasons = {name: mirror.by_request(rid).invalid_reason or "" for name, rid in ids.items()}
    assert "cooldowns" in reasons["cooldown"]
    assert "result hash" in reasons["result"]
    assert "collateral return" in reasons["collateral"]
    unpaid = mirror.by_request(honest.request_id)
    assert unpaid.validity == Validity.FUNDS_OR_DATUM_INVALID
    assert "buyer's key did not sign" in (unpaid.invalid_reason or "")
    with Session(mirror.engine) as session:
        usage = billing.usage(session, "devnet", AGENT.hex(), 100).items
    invalid = {u.request_id for u in usage if u.validity == Validity.FUNDS_OR_DATUM_INVALID}
    assert set(ids.values()) | {honest.request_id} <= invalid


def test_buyer_and_seller_nodes_agree(escrow: Escrow, backend: str, tmp_path: Path) -> None:
    b = escrow.builders
    job = purchase(escrow, "two-nodes")
    lock = escrow.submit(b.lock(BUYER, [job]))
    escrow.submit(b.submit_result(SELLER, escrow.escrow_utxo(lock), b"r" * 32, job.request_id))
    views = {}
    for role, wallet in (("buyer", BUYER), ("seller", SELLER)):
        with fresh_engine(backend, tmp_path / role) as engine:
            node = Mirror(engine, escrow, [str(wallet.address)])
            node.sync()
            with Session(engine) as session:
                rows = billing.usage(session, "devnet", AGENT.hex(), 100).items
            views[role] = {
                (r.request_id, r.blockchain_identifier, str(r.reserved), str(r.charged),
                 str(r.refunded), r.on_chain_state)
                for r in rows
                if r.validity == Validity.VALID
            }  # fmt: skip
            assert {r.role for r in rows} == {"Buyer" if role == "buyer" else "Seller"}
    assert views["buyer"] == views["seller"]
    assert job.request_id in {key[0] for key in views["buyer"]}
