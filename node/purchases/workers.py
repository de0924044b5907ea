"""The buyer's worker steps (masumi-protocol.md §8, §11):

- `lock_purchases`: every FundsLockingRequested purchase of a Purchasing wallet, up to 10 per
  transaction, in one batched lock; the intended tx hash is stored (→ FundsLockingInitiated)
  before the transaction is sent.
- `run_refund_actions`: SetRefundRequested, UnSetRefundRequested and WithdrawRefund, one escrow
  per transaction, once their time has come (cooldowns, submit-result time).
- `follow_chain`: the next action after the mirror's state of the escrow changed (§11's matrix).
- `request_automatic_refunds`: no result 10 minutes after the submit-result time → the buyer
  takes its funds back (WithdrawRefundRequested).
- `time_out_unpaid`: never locked 5 minutes after the pay-by time → WaitingForManualAction.
- `resolve_transactions`: our transactions that expired, were refused or never left.

Each claims its rows with row locks (FOR UPDATE SKIP LOCKED on PostgreSQL) and moves a row only
from the state it read (an UPDATE … WHERE next_action = …), so replicas can share a database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pycardano import UTxO
from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from contracts.datums import EscrowDatum, PlutusAddress
from node.chain.blockfrost import value_of
from node.chain.builders import Actor, BuiltTx, EscrowBuilders, LockRequest
from node.chain.context import PortChainContext
from node.chain.port import ChainError, ChainUnavailable
from node.chain.submitter import REJECTED, UNRESOLVED, Outcome
from node.clock import now_ms
from node.config import NetworkProfile
from node.payments.identifier import decode_blockchain_identifier
from node.purchases import checks as _checks  # noqa: F401  (registers the lock check)
from node.purchases import events
from node.purchases.models import Purchase, PurchaseAction, PurchaseErrorType
from node.purchases.service import event_data, history_entry, mirror_of, on_chain_state, set_error
from node.runtime import Runtime
from node.sync.models import TERMINAL_STATES, EscrowMirror, OnChainState, RowStatus, Validity
from node.sync.service import escrow_utxo
from node.wallets.models import HotWallet, TxStatus, WalletTransaction
from node.wallets.service import (
    WalletBusy,
    pending_inputs,
    resolve_journals,
    spend_from_wallet,
    wallet_actor,
)
from node.wallets.workers import PROCESS_STARTED_MS

logger = logging.getLogger(__name__)

Clock = Callable[[], int]
A = PurchaseAction
BATCH_SIZE = 10
ROWS_PER_TICK = 20
WALLET_WAIT_MS = 2_000
LOCK_MARGIN_MS = 60_000  # a lock needs this much time before the pay-by time to land
AUTO_REFUND_AFTER_MS = 10 * 60_000  # §11: no result 10 minutes after the submit-result time
UNPAID_AFTER_MS = 5 * 60_000  # §11: never locked 5 minutes after the pay-by time
RESOLVE_AFTER_MS = 60_000  # ask the chain about a sent transaction after this long
NEVER_SENT_MS = 120_000  # Initiated without a journal row this long: it never left

INITIATED_OF = {
    A.FUNDS_LOCKING_REQUESTED: A.FUNDS_LOCKING_INITIATED,
    A.SET_REFUND_REQUESTED_REQUESTED: A.SET_REFUND_REQUESTED_INITIATED,
    A.UNSET_REFUND_REQUESTED_REQUESTED: A.UNSET_REFUND_REQUESTED_INITIATED,
    A.WITHDRAW_REFUND_REQUESTED: A.WITHDRAW_REFUND_INITIATED,
}
REQUESTED_OF = {initiated: requested for requested, initiated in INITIATED_OF.items()}


class _Later(Exception):
    """Nothing is wrong with the purchase; the wallet or the chain is not available now."""


class _Taken(Exception):
    """Another worker moved the rows while this one built: nothing was recorded or sent."""


def _clock(runtime: Runtime, clock: Clock | None) -> Clock:
    return clock or runtime.clock


def _stamp(purchase: Purchase) -> int:
    return max(now_ms(), purchase.updated_at + 1)


# spending from a purchasing wallet -------------------------------------------------------------


def _buyer(runtime: Runtime, wallet: HotWallet) -> Actor:
    return wallet_actor(runtime.secrets, wallet, runtime.network.network_id)


def _spend(
    runtime: Runtime,
    wallet: HotWallet,
    make: Callable[[EscrowBuilders, Actor], BuiltTx],
    record: Callable[[BuiltTx], None],
    clock: Clock,
) -> Outcome:
    """Build with the wallet's lock held, `record` the intended hash, then send."""
    assert runtime.chain is not None
    profile = runtime.network
    slots = profile.slot_config
    assert slots is not None
    buyer, contract = _buyer(runtime, wallet), runtime.escrow

    def build(context: PortChainContext) -> BuiltTx:
        built = make(EscrowBuilders(context, contract, slots, clock), buyer)
        record(built)  # before the transaction is sent
        return built

    try:
        return spend_from_wallet(
            runtime.engine,
            runtime.chain,
            wallet.id,
            profile.network_id,
            build,
            lock_timeout_ms=runtime.settings.wallet_lock_timeout_s * 1000,
            wait_ms=WALLET_WAIT_MS,
        )
    except (WalletBusy, ChainUnavailable) as error:
        raise _Later(str(error)) from error


def _initiate(session: Session, rows: Sequence[Purchase], tx_hash: str, *, lock: bool) -> None:
    """*Requested → *Initiated with the intended tx hash, each row only if it is still where it
    was read; otherwise nothing is kept and the transaction is abandoned before it is recorded."""
    for row in rows:
        initiated = INITIATED_OF[row.next_action]
        values: dict[str, object] = {
            "next_action": initiated,
            "next_action_changed_at": now_ms(),
            "intended_tx_hash": tx_hash,
            "updated_at": _stamp(row),
            "action_history": [
                *row.action_history,
                history_entry(initiated, None, None, now_ms()),
            ],
        }
        if lock:
            values["lock_tx_hash"] = tx_hash
        statement = (
            update(Purchase)
            .where(col(Purchase.id) == row.id)
            .where(col(Purchase.next_action) == row.next_action)
            .where(col(Purchase.updated_at) == row.updated_at)
            .values(**values)
        )
        if session.exec(statement).rowcount != 1:
            session.rollback()
            raise _Taken(row.id)
    session.commit()


def _kind_of(error: Exception) -> PurchaseErrorType:
    name = type(error).__name__
    if "UTxO" in name or "Insufficient" in name:
        return PurchaseErrorType.INSUFFICIENT_FUNDS
    if isinstance(error, ChainError):
        return PurchaseErrorType.NETWORK_ERROR
    return PurchaseErrorType.UNKNOWN


def _fail(
    runtime: Runtime,
    ids: Sequence[str],
    expected: PurchaseAction,
    error_type: PurchaseErrorType,
    note: str,
) -> int:
    """The rows still at `expected` → WaitingForManualAction with the error (and an event)."""
    moved = 0
    with Session(runtime.engine, expire_on_commit=False) as session:
        for purchase_id in ids:
            purchase = session.get(Purchase, purchase_id)
            if purchase is None or purchase.next_action != expected:
                continue
            previous = REQUESTED_OF.get(expected, expected)
            set_error(purchase, error_type, note, _stamp(purchase), previous)
            if expected == A.FUNDS_LOCKING_INITIATED:
                purchase.lock_tx_hash = None
            session.add(purchase)
            session.flush()
            events.emit(
                session, events.PURCHASE_ON_ERROR, event_data(session, runtime.network, purchase)
            )
            moved += 1
        session.commit()
    return moved


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


# batched locks ----------------------------------------------------------------------------------


def lock_purchases(runtime: Runtime, *, clock: Clock | None = None) -> int:
    """One batched lock per Purchasing wallet with FundsLockingRequested purchases."""
    if runtime.chain is None:
        return 0
    tick = _clock(runtime, clock)
    with Session(runtime.engine) as session:
        wallet_ids = session.exec(
            select(Purchase.purchasing_wallet_id)
            .where(Purchase.network == runtime.network.name)
            .where(Purchase.next_action == A.FUNDS_LOCKING_REQUESTED)
            .where(col(Purchase.error_type).is_(None))
            .distinct()
        ).all()
    moved = 0
    for wallet_id in sorted(wallet_ids):
        try:
            moved += _lock_batch(runtime, wallet_id, tick)
        except _Later as error:
            logger.info("purchase locks of wallet %s wait: %s", wallet_id, error)
    return moved


def _claim_locks(session: Session, network: str, wallet_id: str, now: int) -> list[Purchase]:
    query = (
        select(Purchase)
        .where(Purchase.network == network, Purchase.purchasing_wallet_id == wallet_id)
        .where(Purchase.next_action == A.FUNDS_LOCKING_REQUESTED)
        .where(col(Purchase.error_type).is_(None))
        .where(col(Purchase.pay_by_time) > now + LOCK_MARGIN_MS)
        .order_by(col(Purchase.id))
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(query))


def _batch_ready(rows: Sequence[Purchase], gather_ms: int, chain_now: int) -> bool:
    """Lock now: the batch is full, its oldest purchase has waited `gather_ms` (wall clock: the
    gathering is the node's own pace), or waiting longer could miss a pay-by time."""
    if len(rows) >= BATCH_SIZE or now_ms() - min(row.updated_at for row in rows) >= gather_ms:
        return True
    return min(row.pay_by_time for row in rows) <= chain_now + LOCK_MARGIN_MS + gather_ms


def lock_request(purchase: Purchase, buyer_address: str) -> LockRequest:
    """The escrow output of one purchase: the datum the seller signed, the funds we confirmed."""
    identifier = decode_blockchain_identifier(purchase.blockchain_identifier)
    datum = EscrowDatum.make(
        buyer=PlutusAddress.from_address(buyer_address),
        seller=PlutusAddress.from_address(purchase.seller_address),
        reference_key=bytes.fromhex(identifier.key),
        reference_signature=bytes.fromhex(identifier.signature),
        seller_nonce=bytes.fromhex(identifier.seller_id),
        buyer_nonce=bytes.fromhex(identifier.purchaser_id),
        collateral_return_lovelace=0,
        input_hash=bytes.fromhex(purchase.input_hash),
        pay_by_time=purchase.pay_by_time,
        submit_result_time=purchase.submit_result_time,
        unlock_time=purchase.unlock_time,
        external_dispute_unlock_time=purchase.external_dispute_unlock_time,
    )
    funds: list[Mapping[str, Any]] = [
        {"unit": "lovelace" if item["unit"] in ("", "lovelace") else item["unit"],
         "quantity": item["amount"]}
        for item in purchase.paid_funds
    ]  # fmt: skip
    return LockRequest(datum, value_of(funds), purchase.request_id)


def _lock_batch(runtime: Runtime, wallet_id: str, clock: Clock) -> int:
    with Session(runtime.engine, expire_on_commit=False) as session:
        chain_now = clock()
        rows = _claim_locks(session, runtime.network.name, wallet_id, chain_now)
        wallet = session.get(HotWallet, wallet_id)
        gather_ms = runtime.settings.lock_gather_ms
        if not rows or wallet is None or not _batch_ready(rows, gather_ms, chain_now):
            return 0
        ids = [row.id for row in rows]
        try:
            requests = [lock_request(row, wallet.address) for row in rows]
            outcome = _spend(
                runtime,
                wallet,
                lambda builders, buyer: builders.lock(buyer, requests),
                lambda built: _initiate(session, rows, built.tx_hash, lock=True),
                clock,
            )
        except _Taken:
            return 0
        except _Later:
            session.rollback()
            raise
        except Exception as error:
            session.rollback()
            return _build_failed(runtime, wallet_id, ids, A.FUNDS_LOCKING_REQUESTED, error)
    if outcome.status == REJECTED:
        note = f"the ledger refused the lock: {outcome.error}"
        _fail(runtime, ids, A.FUNDS_LOCKING_INITIATED, PurchaseErrorType.UNKNOWN, note)
    return len(ids)


def _build_failed(
    runtime: Runtime, wallet_id: str, ids: Sequence[str], expected: PurchaseAction, error: Exception
) -> int:
    """A build that failed while the wallet waits for its own transactions is retried later;
    otherwise the purchases get the error."""
    if pending_inputs(runtime.engine, wallet_id):
        logger.info("wallet %s: build waits for its pending transactions: %s", wallet_id, error)
        return 0
    logger.warning("purchases %s: %s", ",".join(ids), error)
    return _fail(runtime, ids, expected, _kind_of(error), _describe(error))


# refund requests, their cancellation and refund withdrawals ----------------------------------


@dataclass(frozen=True)
class _Move:
    make: Callable[[EscrowBuilders, Actor, UTxO, str], BuiltTx]
    ready: Callable[[Purchase, EscrowMirror, int], bool]  # its time has come
    too_late: Callable[[Purchase, EscrowMirror, int], bool]


MOVES = {
    A.SET_REFUND_REQUESTED_REQUESTED: _Move(
        lambda b, actor, utxo, rid: b.set_refund_requested(actor, utxo, rid),
        lambda p, m, now: now >= m.buyer_cooldown_time,
        lambda p, m, now: now >= p.unlock_time - LOCK_MARGIN_MS,
    ),
    A.UNSET_REFUND_REQUESTED_REQUESTED: _Move(
        lambda b, actor, utxo, rid: b.unset_refund_requested(actor, utxo, rid),
        lambda p, m, now: now >= m.buyer_cooldown_time,
        lambda p, m, now: False,
    ),
    A.WITHDRAW_REFUND_REQUESTED: _Move(
        lambda b, actor, utxo, rid: b.withdraw_refund(actor, utxo, rid),
        lambda p, m, now: now >= p.submit_result_time,
        lambda p, m, now: False,
    ),
}


def run_refund_actions(runtime: Runtime, *, clock: Clock | None = None) -> int:
    """Build and send the requested refund actions whose time has come."""
    if runtime.chain is None:
        return 0
    tick = _clock(runtime, clock)
    with Session(runtime.engine) as session:
        ids = session.exec(
            select(Purchase.id)
            .where(Purchase.network == runtime.network.name)
            .where(col(Purchase.next_action).in_(list(MOVES)))
            .where(col(Purchase.error_type).is_(None))
            .order_by(col(Purchase.updated_at))
            .limit(ROWS_PER_TICK)
        ).all()
    moved = 0
    for purchase_id in ids:
        try:
            moved += _refund_action(runtime, purchase_id, tick)
        except _Later as error:
            logger.info("purchase %s waits: %s", purchase_id, error)
    return moved


def _claim(session: Session, purchase_id: str) -> Purchase | None:
    query = (
        select(Purchase)
        .where(col(Purchase.id) == purchase_id)
        .where(col(Purchase.next_action).in_(list(MOVES)))
        .where(col(Purchase.error_type).is_(None))
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).first()


def _refund_action(runtime: Runtime, purchase_id: str, clock: Clock) -> int:
    with Session(runtime.engine, expire_on_commit=False) as session:
        purchase = _claim(session, purchase_id)
        if purchase is None:
            return 0
        requested = purchase.next_action
        move, mirror, now = MOVES[requested], mirror_of(session, purchase), clock()
        if mirror is None or mirror.status != RowStatus.CONFIRMED or mirror.utxo_tx_hash is None:
            return 0  # the mirror has not caught up, or the escrow is gone: follow_chain decides
        if move.too_late(purchase, mirror, now):
            session.rollback()
            note = f"too late for {requested}: the unlock time has passed"
            return _fail(runtime, [purchase_id], requested, PurchaseErrorType.UNKNOWN, note)
        if not move.ready(purchase, mirror, now):
            return 0
        wallet = session.get(HotWallet, purchase.purchasing_wallet_id)
        if wallet is None:
            return 0
        try:
            utxo = escrow_utxo(runtime, mirror)
            outcome = _spend(
                runtime,
                wallet,
                lambda builders, buyer: move.make(builders, buyer, utxo, purchase.request_id),
                lambda built: _initiate(session, [purchase], built.tx_hash, lock=False),
                clock,
            )
        except _Taken:
            return 0
        except _Later:
            session.rollback()
            raise
        except Exception as error:
            session.rollback()
            return _build_failed(runtime, wallet.id, [purchase_id], requested, error)
    if outcome.status == REJECTED:
        note = f"the ledger refused {requested}: {outcome.error}"
        _fail(runtime, [purchase_id], INITIATED_OF[requested], PurchaseErrorType.UNKNOWN, note)
    return 1


# following the chain ----------------------------------------------------------------------------

REFUNDABLE = frozenset({OnChainState.FUNDS_LOCKED, OnChainState.RESULT_SUBMITTED})
REFUND_ASKED = frozenset({OnChainState.REFUND_REQUESTED, OnChainState.DISPUTED})
WITHDRAWABLE = frozenset({OnChainState.FUNDS_LOCKED, OnChainState.REFUND_REQUESTED})

# Initiated action → (the states our transaction leads to, the states that call for a retry)
LANDED = {
    A.FUNDS_LOCKING_INITIATED: (frozenset(OnChainState), frozenset[OnChainState]()),
    A.SET_REFUND_REQUESTED_INITIATED: (REFUND_ASKED, REFUNDABLE),
    A.UNSET_REFUND_REQUESTED_INITIATED: (REFUNDABLE, REFUND_ASKED),
    A.WITHDRAW_REFUND_INITIATED: (frozenset({OnChainState.REFUND_WITHDRAWN}), WITHDRAWABLE),
}


def decide(purchase: Purchase, mirror: EscrowMirror) -> tuple[PurchaseAction, str | None]:
    """§11's transition matrix: the next action once the escrow's state changed, and an error
    note when it calls for a person."""
    action = purchase.next_action
    if mirror.status != RowStatus.CONFIRMED or mirror.state is None:
        return A.WAITING_FOR_MANUAL_ACTION, "the lock transaction was rolled back"
    if mirror.validity == Validity.FUNDS_OR_DATUM_INVALID:
        return A.WAITING_FOR_MANUAL_ACTION, f"FundsOrDatumInvalid: {mirror.invalid_reason}"
    state, terminal = mirror.state, mirror.state in TERMINAL_STATES
    if action in LANDED:
        return _after_initiated(purchase, mirror, state, terminal)
    if action in (A.WAITING_FOR_EXTERNAL_ACTION, A.NONE, A.WAITING_FOR_MANUAL_ACTION):
        return (A.NONE if terminal and action != A.WAITING_FOR_MANUAL_ACTION else action), None
    if terminal:  # a requested action the escrow was closed before
        return (
            A.WAITING_FOR_MANUAL_ACTION,
            f"the escrow reached {state} before {action}",
        )
    if action == A.WITHDRAW_REFUND_REQUESTED and (state not in WITHDRAWABLE or mirror.result_hash):
        return A.WAITING_FOR_EXTERNAL_ACTION, None  # a result came in: it is a dispute now
    return action, None


def _after_initiated(
    purchase: Purchase, mirror: EscrowMirror, state: OnChainState, terminal: bool
) -> tuple[PurchaseAction, str | None]:
    action = purchase.next_action
    expected, retry = LANDED[action]
    ours = purchase.intended_tx_hash in mirror.tx_hashes
    if ours and state in expected:
        return (A.NONE if terminal else A.WAITING_FOR_EXTERNAL_ACTION), None
    if ours:  # ours landed and something else moved the escrow on since
        return (A.NONE if terminal else A.WAITING_FOR_EXTERNAL_ACTION), None
    if terminal:
        return (
            A.WAITING_FOR_MANUAL_ACTION,
            f"the escrow reached {state} before {action}",
        )
    if state in retry:
        return REQUESTED_OF[action], None  # our transaction lost the race: build it again
    return A.WAITING_FOR_EXTERNAL_ACTION, None


def follow_chain(runtime: Runtime) -> int:
    """Purchases whose escrow moved since they last looked: the next action, and events."""
    profile = runtime.network
    moved = 0
    with Session(runtime.engine, expire_on_commit=False) as session:
        pairs = session.exec(
            select(Purchase, EscrowMirror)
            .join(
                EscrowMirror,
                (col(EscrowMirror.network) == col(Purchase.network))
                & (col(EscrowMirror.request_id) == col(Purchase.request_id))
                & (col(EscrowMirror.lock_tx_hash) == col(Purchase.lock_tx_hash)),
            )
            .where(Purchase.network == profile.name)
            .where(
                func.coalesce(col(Purchase.seen_tx_hash), "")
                != func.coalesce(col(EscrowMirror.last_tx_hash), "")
            )
            .order_by(col(Purchase.id))
            .limit(100)
        ).all()
        for purchase, mirror in pairs:
            moved += _apply(session, profile, purchase, mirror)
    return moved


def _apply(
    session: Session, profile: NetworkProfile, purchase: Purchase, mirror: EscrowMirror
) -> int:
    before_state, before_action = purchase.seen_state, purchase.next_action
    action, note = decide(purchase, mirror)
    state = on_chain_state(mirror)
    statement = (
        update(Purchase)
        .where(col(Purchase.id) == purchase.id)
        .where(col(Purchase.updated_at) == purchase.updated_at)
        .values(seen_tx_hash=mirror.last_tx_hash, seen_state=state, updated_at=_stamp(purchase))
    )  # a change of the escrow is a change of the purchase (GET /purchase/diff)
    if session.exec(statement).rowcount != 1:
        session.rollback()
        return 0  # moved meanwhile: the next pass sees it again
    session.refresh(purchase)
    if note is not None:
        previous = REQUESTED_OF.get(before_action, before_action)
        set_error(purchase, PurchaseErrorType.UNKNOWN, note, _stamp(purchase), previous)
    elif action != before_action:
        purchase.next_action, purchase.next_action_changed_at = action, now_ms()
        entry = history_entry(action, None, None, now_ms())
        purchase.action_history = [*purchase.action_history, entry]
        purchase.updated_at = _stamp(purchase)
    session.add(purchase)
    session.flush()
    data = event_data(session, profile, purchase)
    if state != before_state:
        events.emit(session, events.PURCHASE_ON_CHAIN_STATUS_CHANGED, data)
    if note is not None:
        events.emit(session, events.PURCHASE_ON_ERROR, data)
    session.commit()
    return 1


# automatic decisions and timeouts --------------------------------------------------------------


def request_automatic_refunds(runtime: Runtime, *, clock: Clock | None = None) -> int:
    """§11 AUTO_WITHDRAW_REFUNDS: locked (or refund requested), no result, and the submit-result
    time 10 minutes past → WithdrawRefundRequested."""
    now = _clock(runtime, clock)()
    with Session(runtime.engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(Purchase)
            .join(
                EscrowMirror,
                (col(EscrowMirror.network) == col(Purchase.network))
                & (col(EscrowMirror.request_id) == col(Purchase.request_id))
                & (col(EscrowMirror.lock_tx_hash) == col(Purchase.lock_tx_hash)),
            )
            .where(Purchase.network == runtime.network.name)
            .where(Purchase.next_action == A.WAITING_FOR_EXTERNAL_ACTION)
            .where(col(Purchase.error_type).is_(None))
            .where(col(Purchase.submit_result_time) <= now - AUTO_REFUND_AFTER_MS)
            .where(col(Purchase.seen_tx_hash) == col(EscrowMirror.last_tx_hash))
            .where(EscrowMirror.status == RowStatus.CONFIRMED)
            .where(EscrowMirror.validity == Validity.VALID)
            .where(col(EscrowMirror.state).in_([s.value for s in WITHDRAWABLE]))
            .where(EscrowMirror.result_hash == "")
            .limit(ROWS_PER_TICK)
        ).all()
        return sum(
            _move_to(session, row, A.WAITING_FOR_EXTERNAL_ACTION, A.WITHDRAW_REFUND_REQUESTED)
            for row in rows
        )


def _move_to(session: Session, row: Purchase, expected: PurchaseAction, to: PurchaseAction) -> int:
    statement = (
        update(Purchase)
        .where(col(Purchase.id) == row.id)
        .where(col(Purchase.next_action) == expected)
        .where(col(Purchase.updated_at) == row.updated_at)
        .values(
            next_action=to,
            next_action_changed_at=now_ms(),
            action_history=[*row.action_history, history_entry(to, None, None, now_ms())],
            updated_at=_stamp(row),
        )
    )
    moved = session.exec(statement).rowcount
    session.commit()
    return int(moved)


def time_out_unpaid(runtime: Runtime, *, clock: Clock | None = None) -> int:
    """§11: never locked and the pay-by time 5 minutes past → WaitingForManualAction."""
    now = _clock(runtime, clock)()
    with Session(runtime.engine) as session:
        ids = session.exec(
            select(Purchase.id)
            .where(Purchase.network == runtime.network.name)
            .where(Purchase.next_action == A.FUNDS_LOCKING_REQUESTED)
            .where(col(Purchase.lock_tx_hash).is_(None))
            .where(col(Purchase.pay_by_time) < now - UNPAID_AFTER_MS)
            .limit(100)
        ).all()
    note = "Timeout: the pay-by time passed and the funds were never locked"
    return _fail(runtime, list(ids), A.FUNDS_LOCKING_REQUESTED, PurchaseErrorType.UNKNOWN, note)


# our transactions that never made it -----------------------------------------------------------


def resolve_transactions(runtime: Runtime) -> int:
    """Initiated purchases whose transaction is not on chain: re-send the same bytes of those
    sent a while ago (the submitter decides), retry those that expired or never left, and
    report those the ledger refused."""
    if runtime.chain is None:
        return 0
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(Purchase, WalletTransaction)
            .join(
                WalletTransaction,
                col(WalletTransaction.tx_hash) == col(Purchase.intended_tx_hash),
                isouter=True,
            )
            .where(Purchase.network == runtime.network.name)
            .where(col(Purchase.next_action).in_(list(REQUESTED_OF)))
            .where(
                or_(
                    col(WalletTransaction.id).is_(None),
                    col(WalletTransaction.status) != TxStatus.CONFIRMED,
                )
            )
            .limit(100)
        ).all()
    _resend(runtime, [tx for _, tx in rows if tx is not None])
    return sum(_settle(runtime, purchase.id) for purchase, _ in rows)


def _resend(runtime: Runtime, txs: Sequence[WalletTransaction]) -> None:
    assert runtime.chain is not None
    stale = now_ms() - RESOLVE_AFTER_MS
    wallets = {tx.wallet_id for tx in txs if tx.status in UNRESOLVED and tx.updated_at < stale}
    resolve_journals(runtime.chain, runtime.engine, wallets, "its transactions")


def _settle(runtime: Runtime, purchase_id: str) -> int:
    with Session(runtime.engine, expire_on_commit=False) as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or purchase.next_action not in REQUESTED_OF:
            return 0
        tx = session.exec(
            select(WalletTransaction).where(WalletTransaction.tx_hash == purchase.intended_tx_hash)
        ).first()
        initiated = purchase.next_action
        never_sent = max(PROCESS_STARTED_MS, now_ms() - NEVER_SENT_MS)  # or left by a dead process
        if tx is None and purchase.updated_at >= never_sent:
            return 0
        if tx is None or tx.status == TxStatus.EXPIRED:
            return _retry(session, purchase)
    if tx.status == TxStatus.REJECTED:
        note = f"the ledger refused {initiated}: {tx.last_error or 'no reason given'}"
        return _fail(runtime, [purchase_id], initiated, PurchaseErrorType.UNKNOWN, note)
    return 0


def _retry(session: Session, purchase: Purchase) -> int:
    """The transaction can never land: request the action again (a new transaction)."""
    requested = REQUESTED_OF[purchase.next_action]
    values: dict[str, object] = {
        "next_action": requested,
        "next_action_changed_at": now_ms(),
        "intended_tx_hash": None,
        "updated_at": _stamp(purchase),
        "action_history": [
            *purchase.action_history,
            history_entry(requested, None, "the transaction expired or never left", now_ms()),
        ],
    }
    if purchase.next_action == A.FUNDS_LOCKING_INITIATED:
        values["lock_tx_hash"] = None
    statement = (
        update(Purchase)
        .where(col(Purchase.id) == purchase.id)
        .where(col(Purchase.updated_at) == purchase.updated_at)
        .values(**values)
    )
    moved = session.exec(statement).rowcount
    session.commit()
    return int(moved)
