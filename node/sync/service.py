"""The sync: follow the escrow address oldest first from its checkpoint, classify each
transaction, move the mirror, detect rollbacks, and commit each transaction together with the
checkpoint (a crash between two transactions neither skips nor repeats one).

Per synced transaction it asks Blockfrost once: /txs/{hash}/cbor (fee, validity, inputs, outputs
with their datums, redeemers, signers). What a spent escrow output held comes from sync_output,
recorded when the transaction that made it was synced; only a WithdrawDisputed, which pays each
party its net gain, also asks /txs/{hash}/utxos for the parties' own inputs. Block height and time
come with the address history; each run also asks for the tip (and stops there when it already
read all history under that tip). A rollback shows as the checkpoint's transaction no longer at
its position, height and block time in the history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pycardano import Address, RawPlutusData, TransactionInput, TransactionOutput, UTxO
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from contracts.datums import EscrowDatum
from node import failpoints
from node.billing.ledger import Contribution, apply_change, contribution, settled_amounts
from node.chain.blockfrost import value_of
from node.chain.port import AddressTx, ChainPort, Tip, TxIo, TxUtxos
from node.clock import now_ms
from node.config import NetworkProfile
from node.ids import new_id
from node.payments.identifier import (
    agent_identifier_of,
    blockchain_identifier_from_datum,
    request_id_of,
)
from node.runtime import Runtime
from node.sync.classify import (
    KIND_OF_ACTION,
    Classified,
    Lock,
    Move,
    TxFacts,
    classify,
    needs_all_inputs,
)
from node.sync.decode import (
    CborFacts,
    bech32_of,
    key_hash_of,
    payment_key_hash,
    raw_bytes,
    read_cbor,
)
from node.sync.hooks import run_lock_checks
from node.sync.models import (
    EscrowEvent,
    EscrowMirror,
    OnChainState,
    Role,
    RowStatus,
    SyncCheckpoint,
    SyncOutput,
    SyncTransaction,
    TxKind,
    Validity,
)
from node.wallets.models import TxStatus, WalletTransaction

PAGE_SIZE = 100
FORK_SEARCH_LIMIT = 2_000  # recorded transactions compared with the history after a rollback
Progress = Callable[[int, int], None]  # (height reached, tip height)


logger = logging.getLogger(__name__)


class ConcurrentSync(Exception):
    """Another sync moved the checkpoint meanwhile; this run stops and the next one goes on."""


@dataclass(frozen=True)
class SyncTarget:
    network: str
    network_id: int
    address: str
    required_confirmations: int
    our_key_hashes: frozenset[str]


@dataclass
class SyncReport:
    processed: int = 0
    rolled_back: int = 0
    position: int = 0
    tip_height: int = 0
    checkpoint_height: int | None = None
    requests: int = 0
    duration_ms: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def lag_blocks(self) -> int:
        return max(0, self.tip_height - (self.checkpoint_height or 0))


def key_hashes(addresses: Iterable[str]) -> frozenset[str]:
    """Payment key hashes of bech32 addresses (56-hex key hashes are taken as they are)."""
    hashes = set()
    for address in addresses:
        if len(address) == 56 and all(c in "0123456789abcdef" for c in address):
            hashes.add(address)
        elif (found := payment_key_hash(address)) is not None:
            hashes.add(found)
    return frozenset(hashes)


def target_of(profile: NetworkProfile, our_addresses: Iterable[str]) -> SyncTarget:
    if profile.escrow.address is None:
        raise ValueError("the profile has no escrow address: resolve it first")
    return SyncTarget(
        network=profile.name,
        network_id=profile.network_id,
        address=profile.escrow.address,
        required_confirmations=profile.required_confirmations,
        our_key_hashes=key_hashes(our_addresses),
    )


def _requests(chain: ChainPort) -> int:
    counter = getattr(chain, "requests", None)
    return int(counter.total) if counter is not None else 0


# the run ----------------------------------------------------------------------------------------


def sync_once(
    engine: Engine,
    chain: ChainPort,
    profile: NetworkProfile,
    our_addresses: Iterable[str],
    *,
    progress: Progress | None = None,
    max_txs: int | None = None,
) -> SyncReport:
    return sync_target(
        engine, chain, target_of(profile, our_addresses), progress=progress, max_txs=max_txs
    )


def sync_target(
    engine: Engine,
    chain: ChainPort,
    target: SyncTarget,
    *,
    progress: Progress | None = None,
    max_txs: int | None = None,
) -> SyncReport:
    started, requests_before = time.monotonic_ns(), _requests(chain)
    report = SyncReport()
    run = _Run(engine, chain, target, report)
    run.execute(progress, max_txs)
    report.requests = _requests(chain) - requests_before
    report.duration_ms = (time.monotonic_ns() - started) // 1_000_000
    return report


class _Run:
    """One pass: check the checkpoint, then process the history after it, page by page."""

    def __init__(
        self, engine: Engine, chain: ChainPort, target: SyncTarget, report: SyncReport
    ) -> None:
        self.engine, self.chain, self.target, self.report = engine, chain, target, report
        self.pages: dict[int, list[AddressTx]] = {}

    def page(self, number: int) -> list[AddressTx]:
        if number not in self.pages:
            self.pages[number] = self.chain.address_transactions(
                self.target.address, page=number, count=PAGE_SIZE, newest_first=False
            )
        return self.pages[number]

    def entry(self, position: int) -> AddressTx | None:
        """The `position`-th transaction of the history (1-based), if there is one."""
        rows = self.page((position - 1) // PAGE_SIZE + 1)
        offset = (position - 1) % PAGE_SIZE
        return rows[offset] if offset < len(rows) else None

    def execute(self, progress: Progress | None, max_txs: int | None) -> None:
        tip = self.chain.tip()
        self.report.tip_height = tip.height
        checkpoint = load_checkpoint(self.engine, self.target)
        if _nothing_new(checkpoint, tip):
            self.report.position = checkpoint.position
            self.report.checkpoint_height = checkpoint.block_height
            if checkpoint.caught_up_tip_hash != tip.hash:
                self._finish(checkpoint.position, tip.height, tip.hash, drained=True)
            return
        if not checkpoint.outputs_tracked:
            checkpoint = _start_tracking_outputs(self.engine, self.target, checkpoint)
        position = self._check_for_rollback(checkpoint)
        limit = tip.height - self.target.required_confirmations
        caught_up = drained = False
        while max_txs is None or self.report.processed < max_txs:
            entry = self.entry(position + 1)
            if entry is None or entry.block_height > limit:
                caught_up, drained = True, entry is None
                break
            process_transaction(self.engine, self.chain, self.target, entry, position + 1)
            position += 1
            self.report.processed += 1
            if progress is not None:
                progress(entry.block_height, tip.height)
        self._finish(position, tip.height, tip.hash if caught_up else None, drained=drained)

    def _check_for_rollback(self, checkpoint: SyncCheckpoint) -> int:
        """The checkpoint's transaction still at its position, height and block time: nothing the
        mirror holds was rolled back (a fork that kept every transaction of the address where it
        was changes no fact of the mirror). Otherwise revert to the last one that is."""
        if checkpoint.position == 0:
            return 0
        if _same(self.entry(checkpoint.position), checkpoint.last_tx_hash, checkpoint):
            return checkpoint.position
        fork = self._fork_position()
        self.report.rolled_back = revert_after(
            self.engine, self.target, fork, rollback=True, expect=checkpoint
        )
        self.pages.clear()
        return fork

    def _fork_position(self) -> int:
        """The last recorded transaction still where it was in the history."""
        with Session(self.engine) as session:
            recorded = session.exec(
                select(SyncTransaction)
                .where(
                    SyncTransaction.network == self.target.network,
                    SyncTransaction.address == self.target.address,
                    SyncTransaction.status == RowStatus.CONFIRMED,
                )
                .order_by(col(SyncTransaction.position).desc())
                .limit(FORK_SEARCH_LIMIT)
            ).all()
        for tx in recorded:
            if _same(self.entry(tx.position), tx.tx_hash, tx):
                return tx.position
        return 0

    def _finish(
        self, position: int, tip_height: int, caught_up_at: str | None, *, drained: bool
    ) -> None:
        """`caught_up_at`: the tip's hash when the run read all history under it (a run at the
        same tip then stops after asking for the tip); None when it stopped at max_txs.
        `drained`: no transaction of the history waited for confirmations either (an empty block
        on top of that tip then brings nothing new)."""
        with Session(self.engine) as session:
            checkpoint = _checkpoint_row(session, self.target)
            checkpoint.tip_height, checkpoint.caught_up_tip_hash = tip_height, caught_up_at
            checkpoint.caught_up_drained = drained
            checkpoint.updated_at = now_ms()
            session.add(checkpoint)
            session.commit()
            self.report.position = checkpoint.position
            self.report.checkpoint_height = checkpoint.block_height


def _nothing_new(checkpoint: SyncCheckpoint, tip: Tip) -> bool:
    """All history under `tip` is read: it is the tip the last run read all history under, or
    one empty block on top of it when nothing waited for confirmations (idle polling then costs
    one request per run, not two)."""
    caught_up = checkpoint.caught_up_tip_hash
    if caught_up is None:
        return False
    empty_on_top = tip.previous_hash == caught_up and tip.tx_count == 0
    return caught_up == tip.hash or (empty_on_top and checkpoint.caught_up_drained)


def _same(entry: AddressTx | None, tx_hash: str | None, recorded: object) -> bool:
    if entry is None or entry.tx_hash != tx_hash:
        return False
    return bool(
        entry.block_height == getattr(recorded, "block_height", None)
        and entry.block_time_ms == getattr(recorded, "block_time_ms", None)
    )


# the checkpoint ----------------------------------------------------------------------------------


def _checkpoint_row(session: Session, target: SyncTarget, lock: bool = False) -> SyncCheckpoint:
    query = select(SyncCheckpoint).where(
        SyncCheckpoint.network == target.network, SyncCheckpoint.address == target.address
    )
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise ConcurrentSync("the checkpoint row is missing")
    return row


def load_checkpoint(engine: Engine, target: SyncTarget) -> SyncCheckpoint:
    with Session(engine, expire_on_commit=False) as session:
        query = select(SyncCheckpoint).where(
            SyncCheckpoint.network == target.network, SyncCheckpoint.address == target.address
        )
        row = session.exec(query).first()
        if row is None:
            row = SyncCheckpoint(
                id=new_id(), network=target.network, address=target.address, updated_at=now_ms()
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another replica's first sync made it at the same moment
                session.rollback()
                return session.exec(query).one()
        return row


def _start_tracking_outputs(
    engine: Engine, target: SyncTarget, read: SyncCheckpoint
) -> SyncCheckpoint:
    """A mirror from before sync_output: run the history again from the start to fill it."""
    revert_after(engine, target, 0, rollback=False, expect=read)
    with Session(engine, expire_on_commit=False) as session:
        checkpoint = _checkpoint_row(session, target, lock=True)
        checkpoint.outputs_tracked = True
        session.add(checkpoint)
        session.commit()
        return checkpoint


# one transaction ---------------------------------------------------------------------------------


def process_transaction(
    engine: Engine, chain: ChainPort, target: SyncTarget, entry: AddressTx, position: int
) -> Classified:
    """Fetch, classify and record one transaction with the checkpoint, in one DB transaction."""
    cbor = read_cbor(chain.transaction_cbor(entry.tx_hash), entry.tx_hash)
    if needs_all_inputs(cbor):
        utxos = chain.transaction_utxos(entry.tx_hash)
    else:
        utxos = TxUtxos(entry.tx_hash, _spent_outputs(engine, target, cbor), list(cbor.outputs))
    facts = TxFacts(entry, utxos, cbor, target.address, target.network_id)
    classified = classify(facts)
    failpoints.hit("before_sync", classified.kind)
    with Session(engine, expire_on_commit=False) as session:
        checkpoint = _checkpoint_row(session, target, lock=True)
        if checkpoint.position != position - 1:
            raise ConcurrentSync(f"checkpoint at {checkpoint.position}, expected {position - 1}")
        kind, note = _record_effects(session, target, facts, classified, position)
        _record_tx(session, target, facts, position, kind, note)
        _record_outputs(session, target, facts, position)
        checkpoint.position, checkpoint.last_tx_hash = position, entry.tx_hash
        checkpoint.block_height, checkpoint.block_time_ms = entry.block_height, entry.block_time_ms
        checkpoint.block_hash = None
        checkpoint.txs_synced += 1
        checkpoint.updated_at = now_ms()
        session.add(checkpoint)
        session.flush()
        failpoints.hit("in_sync", classified.kind)
        session.commit()
    return classified


def _spent_outputs(engine: Engine, target: SyncTarget, cbor: CborFacts) -> list[TxIo]:
    """The inputs that spend outputs of the watched address, as the sync recorded them. Every such
    output was made by an earlier transaction of the same history, so none is missing."""
    wanted = set(cbor.inputs)
    hashes = sorted({tx_hash for tx_hash, _ in wanted})
    with Session(engine) as session:
        rows = session.exec(
            select(SyncOutput).where(
                SyncOutput.network == target.network,
                SyncOutput.address == target.address,
                col(SyncOutput.tx_hash).in_(hashes),
                SyncOutput.status == RowStatus.CONFIRMED,
            )
        ).all()
    return [_io_of(row) for row in rows if (row.tx_hash, row.output_index) in wanted]


def _io_of(row: SyncOutput) -> TxIo:
    return TxIo(
        address=row.address,
        amount=dict(row.amount),
        tx_hash=row.tx_hash,
        output_index=row.output_index,
        data_hash=row.data_hash,
        inline_datum=row.inline_datum,
    )


def _record_outputs(session: Session, target: SyncTarget, facts: TxFacts, position: int) -> None:
    if not facts.cbor.is_valid:
        return  # a failed script transaction creates only its collateral return
    for output in facts.cbor.outputs:
        if output.address != target.address:
            continue
        row = session.exec(
            select(SyncOutput).where(
                SyncOutput.network == target.network,
                SyncOutput.tx_hash == output.tx_hash,
                SyncOutput.output_index == output.output_index,
            )
        ).first() or SyncOutput(
            id=new_id(),
            network=target.network,
            address=target.address,
            tx_hash=output.tx_hash,
            output_index=output.output_index,
            position=position,
            amount={},
            status=RowStatus.CONFIRMED,
        )
        row.position, row.amount, row.status = position, dict(output.amount), RowStatus.CONFIRMED
        row.inline_datum, row.data_hash = output.inline_datum, output.data_hash
        row.reference_script = output.reference_script_hash is not None
        session.add(row)


def _record_tx(
    session: Session,
    target: SyncTarget,
    facts: TxFacts,
    position: int,
    kind: TxKind,
    note: str | None,
) -> None:
    entry = facts.entry
    row = session.exec(
        select(SyncTransaction).where(
            SyncTransaction.network == target.network, SyncTransaction.tx_hash == entry.tx_hash
        )
    ).first()
    if row is None:
        row = SyncTransaction(
            id=new_id(),
            network=target.network,
            address=target.address,
            tx_hash=entry.tx_hash,
            position=position,
            block_height=entry.block_height,
            block_time_ms=entry.block_time_ms,
            tx_index=entry.tx_index,
            fee=facts.cbor.fee,
            kind=kind,
            status=RowStatus.CONFIRMED,
            note=note,
            updated_at=now_ms(),
        )
    row.position, row.block_height, row.block_time_ms = (
        position,
        entry.block_height,
        entry.block_time_ms,
    )
    row.tx_index, row.block_hash, row.kind, row.note = entry.tx_index, None, kind, note
    row.status, row.updated_at = RowStatus.CONFIRMED, now_ms()
    session.add(row)


def _record_effects(
    session: Session, target: SyncTarget, facts: TxFacts, classified: Classified, position: int
) -> tuple[TxKind, str | None]:
    for lock in classified.locks:
        _record_lock(session, target, facts, lock, position)
    for move in classified.moves:
        row = _escrow_at(session, target, move.spent)
        if row is None:
            return TxKind.FOREIGN, "spends an escrow output the mirror does not know"
        _record_move(session, facts, row, move, position)
    return classified.kind, classified.note


def _escrow_at(session: Session, target: SyncTarget, ref: tuple[str, int]) -> EscrowMirror | None:
    return session.exec(
        select(EscrowMirror).where(
            EscrowMirror.network == target.network,
            EscrowMirror.utxo_tx_hash == ref[0],
            EscrowMirror.utxo_output_index == ref[1],
            EscrowMirror.status == RowStatus.CONFIRMED,
        )
    ).first()


def role_of(target: SyncTarget, datum: EscrowDatum) -> Role:
    buyer = key_hash_of(datum.buyer) in target.our_key_hashes
    seller = key_hash_of(datum.seller) in target.our_key_hashes
    if buyer and seller:
        return Role.BOTH
    return Role.BUYER if buyer else Role.SELLER if seller else Role.NEITHER


def _record_lock(
    session: Session, target: SyncTarget, facts: TxFacts, lock: Lock, position: int
) -> None:
    entry, datum = facts.entry, lock.datum
    row = session.exec(
        select(EscrowMirror).where(
            EscrowMirror.network == target.network,
            EscrowMirror.lock_tx_hash == entry.tx_hash,
            EscrowMirror.lock_output_index == lock.output_index,
        )
    ).first()
    before = contribution(row) if row is not None else {}
    if row is None:
        row = _new_escrow(target, facts, lock)
    problems = list(lock.problems)
    if row.role != Role.NEITHER:
        problems += run_lock_checks(session, row, datum)
    row.validity = Validity.FUNDS_OR_DATUM_INVALID if problems else Validity.VALID
    row.invalid_reason = "; ".join(problems)[:500] or None
    session.add(row)
    after = _after_datum(datum, OnChainState.FUNDS_LOCKED, (entry.tx_hash, lock.output_index))
    _put_event(session, row, facts, position, TxKind.LOCK, "buyer", lock.fee_share, after)
    recompute(session, row, before)


def _new_escrow(target: SyncTarget, facts: TxFacts, lock: Lock) -> EscrowMirror:
    datum, entry = lock.datum, facts.entry
    nonce = raw_bytes(datum.seller_nonce)
    role = role_of(target, datum)
    collateral = datum.collateral_return_lovelace
    reserved = dict(lock.value)
    reserved["lovelace"] = reserved.get("lovelace", 0) - collateral
    return EscrowMirror(
        id=new_id(),
        network=target.network,
        status=RowStatus.CONFIRMED,
        listed=role != Role.NEITHER,
        role=role,
        validity=Validity.VALID,
        request_id=request_id_of(nonce),
        blockchain_identifier=blockchain_identifier_from_datum(datum),
        agent_identifier=agent_identifier_of(nonce)[:200],
        purchaser_id=raw_bytes(datum.buyer_nonce).hex()[:200],
        buyer_address=bech32_of(datum.buyer, target.network_id),
        seller_address=bech32_of(datum.seller, target.network_id),
        buyer_key_hash=key_hash_of(datum.buyer) or "",
        seller_key_hash=key_hash_of(datum.seller) or "",
        input_hash=raw_bytes(datum.input_hash).hex()[:200],
        pay_by_time=datum.pay_by_time,
        submit_result_time=datum.submit_result_time,
        unlock_time=datum.unlock_time,
        external_dispute_unlock_time=datum.external_dispute_unlock_time,
        collateral_return=collateral,
        locked=dict(lock.value),
        reserved={unit: q for unit, q in reserved.items() if q > 0},
        lock_tx_hash=entry.tx_hash,
        lock_output_index=lock.output_index,
        locked_at=entry.block_time_ms,
        updated_at=now_ms(),
    )


def _after_datum(
    datum: EscrowDatum, state: OnChainState, utxo: tuple[str, int] | None
) -> dict[str, object]:
    return {
        "state": state.value,
        "result_hash": datum.result.hex(),
        "seller_cooldown_time": datum.seller_cooldown_time,
        "buyer_cooldown_time": datum.buyer_cooldown_time,
        "utxo": list(utxo) if utxo is not None else None,
        "withdrawn_seller": {},
        "withdrawn_buyer": {},
        "protocol_fee": {},
    }


def _record_move(
    session: Session, facts: TxFacts, row: EscrowMirror, move: Move, position: int
) -> None:
    before = contribution(row)
    utxo = (facts.entry.tx_hash, move.continuation) if move.continuation is not None else None
    after = _after_datum(move.datum, move.state, utxo)
    after["withdrawn_seller"] = move.withdrawn_seller
    after["withdrawn_buyer"] = move.withdrawn_buyer
    after["protocol_fee"] = move.protocol_fee
    kind = KIND_OF_ACTION[move.action]
    _put_event(session, row, facts, position, kind, move.fee_side, move.fee_share, after)
    recompute(session, row, before)


def _put_event(
    session: Session,
    row: EscrowMirror,
    facts: TxFacts,
    position: int,
    kind: TxKind,
    fee_side: str,
    fee_share: int,
    after: dict[str, object],
) -> None:
    entry = facts.entry
    event = session.exec(
        select(EscrowEvent).where(
            EscrowEvent.escrow_id == row.id, EscrowEvent.tx_hash == entry.tx_hash
        )
    ).first()
    if event is None:
        event = EscrowEvent(
            id=new_id(),
            escrow_id=row.id,
            tx_hash=entry.tx_hash,
            position=position,
            block_height=entry.block_height,
            block_time_ms=entry.block_time_ms,
            kind=kind,
            status=RowStatus.CONFIRMED,
            fee_side=fee_side,
            fee_share=fee_share,
            after=after,
        )
    event.position, event.block_height = position, entry.block_height
    event.block_time_ms, event.kind, event.status = entry.block_time_ms, kind, RowStatus.CONFIRMED
    event.fee_side, event.fee_share, event.after = fee_side, fee_share, after
    session.add(event)
    session.flush()


# recomputing an escrow from its confirmed events ----------------------------------------------


def recompute(session: Session, row: EscrowMirror, before: Contribution) -> None:
    """The escrow's mutable fields from its confirmed events, and the balances moved with it."""
    events = session.exec(
        select(EscrowEvent)
        .where(EscrowEvent.escrow_id == row.id, EscrowEvent.status == RowStatus.CONFIRMED)
        .order_by(col(EscrowEvent.position))
    ).all()
    alive = bool(events) and events[0].kind == TxKind.LOCK
    row.status = RowStatus.CONFIRMED if alive else RowStatus.ROLLED_BACK
    row.listed = alive and row.role != Role.NEITHER
    _apply_after(row, events[-1].after if alive else None)
    row.buyer_tx_fees = sum(e.fee_share for e in events if e.fee_side == "buyer")
    row.seller_tx_fees = sum(e.fee_share for e in events if e.fee_side == "seller")
    row.tx_hashes = [e.tx_hash for e in events]
    row.last_tx_hash = events[-1].tx_hash if events else None
    row.updated_on_chain_at = events[-1].block_time_ms if events else None
    row.updated_at = now_ms()
    session.add(row)
    apply_change(session, before, contribution(row))


def _apply_after(row: EscrowMirror, after: dict[str, object] | None) -> None:
    after = after or {}
    state = after.get("state")
    row.state = OnChainState(str(state)) if state else None
    row.result_hash = str(after.get("result_hash", ""))
    row.seller_cooldown_time = int(str(after.get("seller_cooldown_time", 0)))
    row.buyer_cooldown_time = int(str(after.get("buyer_cooldown_time", 0)))
    utxo = after.get("utxo")
    if isinstance(utxo, list):
        row.utxo_tx_hash, row.utxo_output_index = str(utxo[0]), int(utxo[1])
    else:
        row.utxo_tx_hash, row.utxo_output_index = None, None
    row.withdrawn_seller = _amounts(after.get("withdrawn_seller"))
    row.withdrawn_buyer = _amounts(after.get("withdrawn_buyer"))
    row.protocol_fee = _amounts(after.get("protocol_fee"))
    row.charged, row.refunded = settled_amounts(row)


def _amounts(value: object) -> dict[str, int]:
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}


# rollbacks and rescans -----------------------------------------------------------------------


def revert_after(
    engine: Engine,
    target: SyncTarget,
    position: int,
    *,
    rollback: bool,
    expect: SyncCheckpoint | None = None,
) -> int:
    """Mark every recorded transaction after `position` RolledBack, recompute the escrows they
    touched, and move the checkpoint to `position`. Returns how many transactions were reverted.
    `expect`: the checkpoint as the run read it; if another replica's sync moved it meanwhile,
    ConcurrentSync (the decision was made on what is no longer there)."""
    with Session(engine, expire_on_commit=False) as session:
        checkpoint = _checkpoint_row(session, target, lock=True)
        if expect is not None and _moved(checkpoint, expect):
            raise ConcurrentSync(f"checkpoint at {checkpoint.position}, read {expect.position}")
        txs = session.exec(
            select(SyncTransaction).where(
                SyncTransaction.network == target.network,
                SyncTransaction.address == target.address,
                SyncTransaction.status == RowStatus.CONFIRMED,
                SyncTransaction.position > position,
            )
        ).all()
        hashes = [tx.tx_hash for tx in txs]
        for tx in txs:
            tx.status, tx.updated_at = RowStatus.ROLLED_BACK, now_ms()
            session.add(tx)
        _revert_outputs(session, target, position)
        _revert_events(session, hashes)
        _unconfirm_journals(session, hashes)
        _move_checkpoint(session, target, checkpoint, position, rollback)
        session.commit()
        return len(txs)


def _moved(checkpoint: SyncCheckpoint, read: SyncCheckpoint) -> bool:
    now = (checkpoint.position, checkpoint.last_tx_hash, checkpoint.outputs_tracked)
    return now != (read.position, read.last_tx_hash, read.outputs_tracked)


def _revert_outputs(session: Session, target: SyncTarget, position: int) -> None:
    session.execute(
        update(SyncOutput)
        .where(
            col(SyncOutput.network) == target.network,
            col(SyncOutput.address) == target.address,
            col(SyncOutput.position) > position,
        )
        .values(status=RowStatus.ROLLED_BACK)
    )


def _unconfirm_journals(session: Session, hashes: list[str]) -> None:
    """Our wallets' transactions a rollback took off the chain are unresolved again: their
    outputs are no longer there to spend, and the submitter re-sends them (back in a block:
    Confirmed again) or, once their validity runs out, marks them Expired with what chains on
    them."""
    for chunk in range(0, len(hashes), 500):
        session.execute(
            update(WalletTransaction)
            .where(col(WalletTransaction.tx_hash).in_(hashes[chunk : chunk + 500]))
            .where(col(WalletTransaction.status) == TxStatus.CONFIRMED)
            .values(status=TxStatus.SUBMITTED, last_error="rolled back", updated_at=now_ms())
        )


def _revert_events(session: Session, hashes: list[str]) -> None:
    escrow_ids: set[str] = set()
    for chunk in range(0, len(hashes), 500):
        events = session.exec(
            select(EscrowEvent).where(col(EscrowEvent.tx_hash).in_(hashes[chunk : chunk + 500]))
        ).all()
        for event in events:
            event.status = RowStatus.ROLLED_BACK
            session.add(event)
            escrow_ids.add(event.escrow_id)
    session.flush()
    for escrow_id in sorted(escrow_ids):
        row = session.get(EscrowMirror, escrow_id)
        if row is not None:
            recompute(session, row, contribution(row))


def _move_checkpoint(
    session: Session, target: SyncTarget, checkpoint: SyncCheckpoint, position: int, rollback: bool
) -> None:
    last = session.exec(
        select(SyncTransaction).where(
            SyncTransaction.network == target.network,
            SyncTransaction.address == target.address,
            SyncTransaction.position == position,
            SyncTransaction.status == RowStatus.CONFIRMED,
        )
    ).first()
    checkpoint.position = position
    checkpoint.last_tx_hash = last.tx_hash if last else None
    checkpoint.block_height = last.block_height if last else None
    checkpoint.block_time_ms = last.block_time_ms if last else None
    checkpoint.block_hash = last.block_hash if last else None
    checkpoint.rollbacks += 1 if rollback else 0
    checkpoint.caught_up_tip_hash, checkpoint.caught_up_drained = None, False
    checkpoint.updated_at = now_ms()
    session.add(checkpoint)


def rescan(engine: Engine, target: SyncTarget, from_tx: str | None = None) -> int:
    """Go back to the start of the history, or to just before `from_tx`; the next sync runs the
    transactions again (their rows are updated, not duplicated)."""
    load_checkpoint(engine, target)
    position = 0
    if from_tx is not None:
        with Session(engine) as session:
            tx = session.exec(
                select(SyncTransaction).where(
                    SyncTransaction.network == target.network, SyncTransaction.tx_hash == from_tx
                )
            ).first()
        if tx is None:
            raise ValueError(f"transaction {from_tx} is not in the mirror")
        position = tx.position - 1
    return revert_after(engine, target, position, rollback=False)


# what the mirror knows of an escrow's output ------------------------------------------------------


def escrow_utxo(runtime: Runtime, mirror: EscrowMirror) -> UTxO:
    """The UTxO holding the escrow now, as the sync recorded it (value and inline datum): no
    request, and none of the escrow address's other outputs listed. A mirror row whose output was
    not recorded (synced before migration 0010) reads it from its transaction instead."""
    if runtime.chain is None or mirror.utxo_tx_hash is None or mirror.utxo_output_index is None:
        raise ValueError("the escrow has no output on chain")
    ref = (mirror.utxo_tx_hash, mirror.utxo_output_index)
    with Session(runtime.engine) as session:
        row = session.exec(
            select(SyncOutput).where(
                SyncOutput.network == mirror.network,
                SyncOutput.tx_hash == ref[0],
                SyncOutput.output_index == ref[1],
                SyncOutput.status == RowStatus.CONFIRMED,
            )
        ).first()
    if row is not None:
        io = _io_of(row)
    else:
        outputs = runtime.chain.transaction_utxos(ref[0]).outputs
        io = next(o for o in outputs if o.output_index == ref[1] and not o.collateral)
    return utxo_of(io)


def utxo_of(io: TxIo) -> UTxO:
    amounts: list[Mapping[str, Any]] = [
        {"unit": unit, "quantity": quantity} for unit, quantity in io.amount.items()
    ]
    output = TransactionOutput(Address.from_primitive(io.address), value_of(amounts))
    if io.inline_datum is not None:
        output.datum = RawPlutusData.from_cbor(bytes.fromhex(io.inline_datum))
    txin = TransactionInput.from_primitive([bytes.fromhex(io.tx_hash), io.output_index])
    return UTxO(txin, output)


# the node's runtime -----------------------------------------------------------------------------


def our_addresses(engine: Engine, network: str) -> list[str]:
    """Our hot wallets' payment key hashes: what makes an escrow ours."""
    from node.wallets.models import HotWallet

    with Session(engine) as session:
        wallets = session.exec(select(HotWallet).where(HotWallet.network == network)).all()
        return [wallet.payment_key_hash for wallet in wallets]


def sync_runtime(runtime: Runtime, *, progress: Progress | None = None) -> SyncReport:
    if runtime.chain is None:
        raise ValueError("the node has no chain to follow")
    profile = runtime.network
    addresses = our_addresses(runtime.engine, profile.name)
    return sync_once(runtime.engine, runtime.chain, profile, addresses, progress=progress)


def sync_step(runtime: Runtime) -> int:
    """The worker step: one pass, the number of transactions it synced. Replicas sharing one
    database race for the same transactions: the one that finds the checkpoint moved by another
    stops (nothing of its pass was written) and the next tick goes on from there."""
    try:
        return sync_runtime(runtime).processed
    except ConcurrentSync as moved:
        logger.debug("sync: another replica synced meanwhile (%s)", moved)
        return 0


def sync_metrics(session: Session, network: str) -> list[dict[str, object]]:
    """Per watched address: transactions synced, position, lag at the last run, rollbacks."""
    rows = session.exec(select(SyncCheckpoint).where(SyncCheckpoint.network == network)).all()
    return [
        {
            "address": row.address,
            "transactions_synced": row.txs_synced,
            "position": row.position,
            "lag_blocks": None
            if row.tip_height is None
            else max(0, row.tip_height - (row.block_height or 0)),
            "rollbacks": row.rollbacks,
            "updated_at": row.updated_at,
        }
        for row in rows
    ]
