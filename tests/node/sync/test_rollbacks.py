"""Rollbacks of 1 to 5 blocks around each kind of continuing transaction, dropped or re-included;
a crash in the middle of a catch-up; after each, the mirror equals one rebuilt from the chain."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pytest_mock import MockerFixture
from sqlmodel import Session, func, select

from node.sync import service
from node.sync.models import SyncTransaction
from tests.node.chain.escrow_world import BUYER, SELLER, Escrow
from tests.node.sync.world import Mirror, fresh_engine, purchase

RESULT = hashlib.sha256(b"rollback result").digest()


def five_kinds(escrow: Escrow, mirror: Mirror, label: str) -> None:
    """Lock, SubmitResult, SetRefundRequested (Disputed), AuthorizeRefund, SubmitResult
    (Disputed): one block each, the mirror synced after each."""
    b = escrow.builders
    job = purchase(escrow, label)
    lock = escrow.submit(b.lock(BUYER, [job]))
    mirror.sync()
    done = escrow.submit(b.submit_result(SELLER, escrow.escrow_utxo(lock), RESULT, job.request_id))
    mirror.sync()
    asked = escrow.submit(b.set_refund_requested(BUYER, escrow.escrow_utxo(done), job.request_id))
    mirror.sync()
    authorized = escrow.submit(
        b.authorize_refund(SELLER, escrow.escrow_utxo(asked), job.request_id)
    )
    mirror.sync()
    escrow.advance(30 * 60_000)  # the seller's cooldown (one more, empty, block)
    escrow.submit(b.submit_result(SELLER, escrow.escrow_utxo(authorized), RESULT, job.request_id))
    mirror.sync()


def assert_mirrors_chain(mirror: Mirror, backend: str, directory: Path) -> None:
    with fresh_engine(backend, directory) as engine:
        rebuilt = Mirror(engine, mirror.escrow, mirror.ours)
        rebuilt.sync()
        assert mirror.snapshot() == rebuilt.snapshot()


@pytest.mark.parametrize(
    ("blocks", "drop"), [(1, True), (2, False), (3, True), (4, False), (5, True)]
)
def test_rollback_then_mirror_equals_chain(
    mirror: Mirror, escrow: Escrow, backend: str, tmp_path: Path, blocks: int, drop: bool
) -> None:
    five_kinds(escrow, mirror, f"rb-{blocks}-{drop}-{backend}")
    escrow.http.post("/devnet/rollback", json={"blocks": blocks, "drop": drop}).raise_for_status()
    report = mirror.sync()
    assert report.rolled_back >= 1
    assert_mirrors_chain(mirror, backend, tmp_path / "a")
    if not drop:  # the undone transactions come back in the next block
        escrow.http.post("/devnet/blocks", json={"count": 1}).raise_for_status()
        mirror.sync()
        assert_mirrors_chain(mirror, backend, tmp_path / "b")


def _count(mirror: Mirror) -> tuple[int, int]:
    with Session(mirror.engine) as session:
        rows = session.exec(select(func.count()).select_from(SyncTransaction)).one()
        distinct = session.exec(select(func.count(func.distinct(SyncTransaction.position)))).one()
        return int(rows), int(distinct)


def test_a_crash_mid_catch_up_resumes_without_gaps_or_duplicates(
    mirror: Mirror, escrow: Escrow, backend: str, tmp_path: Path, mocker: MockerFixture
) -> None:
    five_kinds(escrow, mirror, f"crash-{backend}")  # history to catch up with, in a new node
    history = len(escrow.chain.address_transactions(mirror.profile.escrow.address or ""))
    real = service.process_transaction
    calls = {"n": 0}

    def crash_after_two(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed between two transactions")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    with fresh_engine(backend, tmp_path / "node") as engine:
        node = Mirror(engine, escrow, mirror.ours)
        mocker.patch.object(service, "process_transaction", side_effect=crash_after_two)
        with pytest.raises(RuntimeError, match="killed"):
            node.sync()
        assert _count(node) == (2, 2)
        inside = mocker.patch.object(service, "_record_tx", side_effect=RuntimeError("mid-tx"))
        mocker.patch.object(service, "process_transaction", side_effect=real)
        with pytest.raises(RuntimeError, match="mid-tx"):
            node.sync()
        assert _count(node) == (2, 2)  # the half-written transaction left nothing behind
        inside.stop()
        mocker.stopall()
        node.sync()
        assert _count(node) == (history, history)
        assert_mirrors_chain(node, backend, tmp_path / "rebuilt")
