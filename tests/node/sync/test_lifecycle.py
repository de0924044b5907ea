"""Every escrow action mirrored with its state and amounts; terminal rollbacks; the mirror rebuilt
from an empty database equals the one kept along the way."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pycardano import Address, Value
from sqlalchemy import delete
from sqlmodel import Session, select

from node.billing import service as billing
from node.chain.contracts import deploy_reference_script
from node.chain.port import TxIo
from node.sync.decode import read_cbor
from node.sync.models import (
    OnChainState,
    Role,
    SyncCheckpoint,
    SyncOutput,
    SyncTransaction,
    TxKind,
    Validity,
)
from tests.node.chain.escrow_world import ADMINS, BUYER, HOUR_MS, SELLER, Escrow
from tests.node.sync.world import AGENT, Mirror, fresh_engine, profile_for, purchase

RESULT = hashlib.sha256(b"result").digest()


def test_each_action_is_mirrored_with_its_state_and_amounts(
    mirror: Mirror, escrow: Escrow, backend: str, tmp_path: Path
) -> None:
    b = escrow.builders
    collect, refund, dispute = (purchase(escrow, f"life-{n}") for n in ("c", "r", "d"))
    lock = escrow.submit(b.lock(BUYER, [collect, refund, dispute]))
    report = mirror.sync()
    # one request per transaction (its CBOR), plus the run's tip, history page and block check
    assert report.processed >= 1 and report.requests <= report.processed + 4
    row = mirror.by_request(collect.request_id)
    assert (row.state, row.validity, row.role) == (
        OnChainState.FUNDS_LOCKED,
        Validity.VALID,
        Role.BOTH,
    )
    assert row.agent_identifier == AGENT.hex() and row.reserved == {escrow.unit: 10_000_000}
    assert row.buyer_tx_fees > 0 and row.utxo_tx_hash == str(lock.id)

    submitted = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock, 0), RESULT, collect.request_id)
    )
    asked = escrow.submit(
        b.set_refund_requested(BUYER, escrow.escrow_utxo(lock, 1), refund.request_id)
    )
    d_result = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock, 2), RESULT, dispute.request_id)
    )
    disputed = escrow.submit(
        b.set_refund_requested(BUYER, escrow.escrow_utxo(d_result), dispute.request_id)
    )
    mirror.sync()
    assert mirror.by_request(collect.request_id).state == OnChainState.RESULT_SUBMITTED
    assert mirror.by_request(collect.request_id).result_hash == RESULT.hex()
    assert mirror.by_request(refund.request_id).state == OnChainState.REFUND_REQUESTED
    assert mirror.by_request(dispute.request_id).state == OnChainState.DISPUTED

    authorized = escrow.submit(
        b.authorize_refund(SELLER, escrow.escrow_utxo(disputed), dispute.request_id)
    )
    escrow.advance(30 * 60_000)  # the buyer's cooldown after asking for a refund
    cancelled = escrow.submit(
        b.unset_refund_requested(BUYER, escrow.escrow_utxo(asked), refund.request_id)
    )
    mirror.sync()
    assert mirror.by_request(dispute.request_id).state == OnChainState.REFUND_REQUESTED
    assert mirror.by_request(dispute.request_id).result_hash == ""
    assert mirror.by_request(refund.request_id).state == OnChainState.FUNDS_LOCKED

    escrow.advance(3 * HOUR_MS)
    escrow.submit(b.withdraw(SELLER, escrow.escrow_utxo(submitted), collect.request_id,
                             returned_to_buyer=Value(0, escrow.usdm(4_000_000))))  # fmt: skip
    escrow.submit(b.withdraw_refund(BUYER, escrow.escrow_utxo(cancelled), refund.request_id))
    escrow.submit(b.withdraw_refund(BUYER, escrow.escrow_utxo(authorized), dispute.request_id))
    mirror.sync()
    collected = mirror.by_request(collect.request_id)
    assert collected.state == OnChainState.WITHDRAWN and collected.utxo_tx_hash is None
    assert collected.protocol_fee[escrow.unit] == 500_000  # and the ADA minimum
    assert collected.refunded == {escrow.unit: 4_000_000}
    assert collected.charged == {escrow.unit: 6_000_000}
    assert collected.seller_tx_fees > 0
    refunded = mirror.by_request(refund.request_id)
    assert refunded.state == OnChainState.REFUND_WITHDRAWN
    assert refunded.refunded == {escrow.unit: 10_000_000} and refunded.charged == {}
    kinds = {tx for row in mirror.rows() for tx in row.tx_hashes}
    assert len(kinds) >= 9

    with fresh_engine(backend, tmp_path / "rebuilt") as engine:
        rebuilt = Mirror(engine, escrow, mirror.ours)
        rebuilt.sync()
        assert rebuilt.snapshot() == mirror.snapshot()


def test_withdraw_disputed_and_rollback_of_terminal_spends(
    mirror: Mirror, escrow: Escrow, backend: str, tmp_path: Path
) -> None:
    b = escrow.builders
    job = purchase(escrow, "admins")
    lock = escrow.submit(b.lock(BUYER, [job]))
    result = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock), RESULT, job.request_id)
    )
    disputed = escrow.submit(
        b.set_refund_requested(BUYER, escrow.escrow_utxo(result), job.request_id)
    )
    escrow.advance(4 * HOUR_MS)
    mirror.sync()
    split = b.withdraw_disputed(
        ADMINS[:2], escrow.escrow_utxo(disputed), job.request_id,
        to_buyer=Value(2_000_000, escrow.usdm(7_000_000)),
        to_seller=Value(1_500_000, escrow.usdm(3_000_000)),
    )  # fmt: skip
    escrow.submit(split)
    mirror.sync()
    row = mirror.by_request(job.request_id)
    assert row.state == OnChainState.DISPUTED_WITHDRAWN
    assert row.withdrawn_seller[escrow.unit] == 3_000_000
    assert row.refunded == {escrow.unit: 7_000_000} and row.charged == {escrow.unit: 3_000_000}

    # the terminal spend rolled back and re-included, then rolled back and dropped
    escrow.http.post("/devnet/rollback", json={"blocks": 1, "drop": False}).raise_for_status()
    escrow.http.post("/devnet/blocks", json={"count": 1}).raise_for_status()
    mirror.sync()
    assert mirror.by_request(job.request_id).state == OnChainState.DISPUTED_WITHDRAWN
    escrow.http.post("/devnet/rollback", json={"blocks": 1, "drop": True}).raise_for_status()
    report = mirror.sync()
    assert report.rolled_back == 1
    row = mirror.by_request(job.request_id)
    assert row.state == OnChainState.DISPUTED and row.refunded == {}
    assert row.utxo_tx_hash == str(disputed.id)
    with fresh_engine(backend, tmp_path / "rebuilt") as engine:
        rebuilt = Mirror(engine, escrow, mirror.ours)
        rebuilt.sync()
        assert rebuilt.snapshot() == mirror.snapshot()


def test_balance_usage_and_kinds_after_a_collection(mirror: Mirror, escrow: Escrow) -> None:
    from sqlmodel import Session, select

    from node.sync.models import SyncTransaction

    mirror.sync()
    with Session(mirror.engine) as session:
        kinds = {tx.kind for tx in session.exec(select(SyncTransaction))}
        assert set(TxKind) - {TxKind.WITHDRAW_DISPUTED, TxKind.INVALID, TxKind.FOREIGN} <= kinds
        out = billing.balance(session, mirror.profile.name, AGENT.hex())
        usage = billing.usage(session, mirror.profile.name, AGENT.hex(), 2)
    assert int(out.as_buyer.requests) == int(out.as_seller.requests) >= 1
    assert len(usage.items) == 2 and usage.next_cursor_id == usage.items[-1].id
    assert usage.items[0].locked_at >= usage.items[1].locked_at


def test_outputs_read_from_the_cbor_equal_blockfrosts_utxos(mirror: Mirror, escrow: Escrow) -> None:
    """The sync reads outputs (address, value with tokens, inline datum) from the CBOR alone: they
    must be exactly what Blockfrost's /txs/{hash}/utxos shows, datum bytes included."""
    b = escrow.builders
    job = purchase(escrow, "cbor-outputs")
    lock = escrow.submit(b.lock(BUYER, [job]))
    result = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock), RESULT, job.request_id)
    )
    deployed = escrow.submit(
        deploy_reference_script(
            b.context, SELLER, b.contract.script, Address.from_primitive(str(SELLER.address))
        )
    )
    seen: list[TxIo] = []
    for tx_hash in (str(lock.id), str(result.id), str(deployed.id)):
        from_cbor = read_cbor(escrow.chain.transaction_cbor(tx_hash), tx_hash).outputs
        shown = escrow.chain.transaction_utxos(tx_hash).outputs
        assert [_output_facts(o) for o in from_cbor] == [_output_facts(o) for o in shown]
        seen += from_cbor
    assert any(o.inline_datum for o in seen) and any(len(o.amount) > 1 for o in seen)
    assert any(o.reference_script_hash for o in seen)


def _output_facts(output: TxIo) -> tuple[object, ...]:
    return (
        output.address,
        output.amount,
        output.output_index,
        output.inline_datum,
        output.data_hash,
        output.reference_script_hash,
    )


def test_a_mirror_from_before_sync_outputs_rescans_once(mirror: Mirror, escrow: Escrow) -> None:
    """A checkpoint without recorded outputs (a database migrated from before 0010) runs its
    history again from the start; spends are then classified from the recorded outputs."""
    b = escrow.builders
    job = purchase(escrow, "upgrade")
    lock = escrow.submit(b.lock(BUYER, [job]))
    mirror.sync()
    before = mirror.snapshot()
    with Session(mirror.engine) as session:
        session.execute(delete(SyncOutput))
        for checkpoint in session.exec(select(SyncCheckpoint)).all():
            checkpoint.outputs_tracked = False
            session.add(checkpoint)
        session.commit()
    escrow.submit(b.submit_result(SELLER, escrow.escrow_utxo(lock), RESULT, job.request_id))
    report = mirror.sync()
    assert report.processed == len(before["txs"]) + 1  # all again, and the new one
    assert mirror.by_request(job.request_id).state == OnChainState.RESULT_SUBMITTED
    with Session(mirror.engine) as session:
        kinds = [t.kind for t in session.exec(select(SyncTransaction)).all()]
        assert kinds.count(TxKind.SUBMIT_RESULT) >= 1 and TxKind.FOREIGN not in kinds
        assert session.exec(select(SyncOutput)).first() is not None
    after = mirror.snapshot()
    assert after["balances"] != [] and set(before["txs"]) <= set(after["txs"])


def test_a_run_at_the_tip_it_caught_up_under_asks_only_for_the_tip(
    mirror: Mirror, escrow: Escrow
) -> None:
    b = escrow.builders
    escrow.submit(b.lock(BUYER, [purchase(escrow, "idle")]))
    assert mirror.sync().processed >= 1
    idle = mirror.sync()
    assert (idle.processed, idle.requests) == (0, 1)
    assert idle.position > 0 and idle.checkpoint_height is not None
    escrow.submit(b.lock(BUYER, [purchase(escrow, "idle-2")]))  # a new block
    assert mirror.sync().processed == 1
    # a partial run (max_txs) does not count as caught up under its tip
    escrow.submit(b.lock(BUYER, [purchase(escrow, "idle-3")]))
    escrow.submit(b.lock(BUYER, [purchase(escrow, "idle-4")]))
    assert mirror.sync(max_txs=1).processed == 1
    assert mirror.sync().processed == 1


def test_an_empty_block_on_a_drained_tip_asks_only_for_the_tip(
    mirror: Mirror, escrow: Escrow
) -> None:
    b = escrow.builders
    mirror.profile = profile_for(escrow, confirmations=1)
    escrow.submit(b.lock(BUYER, [purchase(escrow, "empty-1")]))  # its block: 1 confirmation short
    first = mirror.sync()
    empty = {"count": 1}
    escrow.http.post("/devnet/blocks", json=empty).raise_for_status()
    confirmed = mirror.sync()  # the empty block confirms the lock: it must be read
    assert confirmed.processed == 1 and confirmed.requests > 1
    escrow.http.post("/devnet/blocks", json=empty).raise_for_status()
    idle = mirror.sync()  # nothing waits any more: the empty block brings nothing new
    assert (idle.processed, idle.requests) == (0, 1)
    assert idle.position == confirmed.position >= first.position
