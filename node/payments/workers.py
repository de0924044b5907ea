"""The seller's worker steps (masumi-protocol.md §11):

- `follow_chain`: a new on-chain state in the mirror → the next action by the transition matrix
  (and a webhook); a lock that fails our checks → WaitingForManualAction; an unpaid request
  whose payByTime passed 5 minutes ago → FundsOrDatumInvalid + WaitingForManualAction; an
  Initiated action whose transaction the ledger refused or let expire → WaitingForManualAction.
- `decide`: ResultSubmitted after the unlock time → WithdrawRequested (automatic collection).
- `carry_out`: SubmitResult / Withdraw / AuthorizeRefund requested → the transaction built and
  signed by the selling wallet, the intended hash stored (→ *Initiated) before it is sent.
- `resolve_transactions`: an Initiated action whose transaction never left (Blockfrost answered
  only 429/5xx) or was sent with its answer lost → the submitter asks the chain, re-sends the same
  bytes, or marks it expired / refused (which `follow_chain` then reports).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pycardano import Address, Asset, AssetName, MultiAsset, ScriptHash, UTxO, Value
from sqlalchemy import update
from sqlmodel import Session, col, select

from node.chain.builders import Actor, BuildError, BuiltTx, EscrowBuilders
from node.chain.context import PortChainContext
from node.chain.port import ChainUnavailable
from node.chain.submitter import REJECTED, UNRESOLVED, Outcome
from node.clock import now_ms
from node.config import SlotConfig
from node.payments import checks as _checks  # noqa: F401  (registers the lock check)
from node.payments import events
from node.payments.models import ErrorType, NextAction, PaymentRequest
from node.payments.service import (
    INVALID_STATE,
    mirror_of,
    on_chain_state,
    record_action,
    set_action,
)
from node.runtime import Runtime
from node.sync.models import EscrowMirror, OnChainState, RowStatus, Validity
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

A = NextAction
S = OnChainState
ROWS_PER_TICK = 200
UNPAID_GRACE_MS = 5 * 60_000
WALLET_WAIT_MS = 2_000
CARRY_OUT_BUDGET_MS = 20_000  # building per tick, at most (then the next steps run)
RESOLVE_AFTER_MS = 60_000  # ask the chain about a sent transaction after this long
TERMINAL = {S.WITHDRAWN.value, S.REFUND_WITHDRAWN.value, S.DISPUTED_WITHDRAWN.value}
MANUAL = None  # in the matrix: WaitingForManualAction

# §11: (previous action, new on-chain state) → next action; a missing pair keeps the action
MATRIX: dict[NextAction, dict[str, NextAction | None]] = {
    A.WAITING_FOR_EXTERNAL_ACTION: {
        **{
            s: A.WAITING_FOR_EXTERNAL_ACTION
            for s in ("ResultSubmitted", "Disputed", "RefundRequested", "FundsLocked")
        },
        **{s: A.NONE for s in TERMINAL},
    },
    A.SUBMIT_RESULT_INITIATED: {
        "ResultSubmitted": A.WAITING_FOR_EXTERNAL_ACTION,
        "Disputed": A.WAITING_FOR_EXTERNAL_ACTION,
        "RefundRequested": A.SUBMIT_RESULT_REQUESTED,
        "FundsLocked": A.SUBMIT_RESULT_REQUESTED,
        **{s: MANUAL for s in TERMINAL},
    },
    A.WITHDRAW_INITIATED: {
        "ResultSubmitted": MANUAL,
        "Disputed": A.WITHDRAW_REQUESTED,
        "RefundRequested": MANUAL,
        "FundsLocked": MANUAL,
        "Withdrawn": A.NONE,
        "RefundWithdrawn": MANUAL,
        "DisputedWithdrawn": MANUAL,
    },
    A.AUTHORIZE_REFUND_INITIATED: {
        "ResultSubmitted": A.AUTHORIZE_REFUND_REQUESTED,
        "Disputed": A.AUTHORIZE_REFUND_REQUESTED,
        "RefundRequested": A.WAITING_FOR_EXTERNAL_ACTION,
        "FundsLocked": MANUAL,
        **{s: MANUAL for s in TERMINAL},
    },
    A.SUBMIT_RESULT_REQUESTED: {s: MANUAL for s in TERMINAL},
    A.WITHDRAW_REQUESTED: {
        s: MANUAL for s in ("ResultSubmitted", "RefundRequested", "FundsLocked", *TERMINAL)
    },
    A.AUTHORIZE_REFUND_REQUESTED: {
        s: MANUAL for s in ("RefundRequested", "FundsLocked", *TERMINAL)
    },
}


def next_action(previous: NextAction, state: str) -> NextAction | None:
    """The matrix's answer; None means WaitingForManualAction. DisputedWithdrawn after the
    admins' resolution ends every action."""
    if state == S.DISPUTED_WITHDRAWN.value and previous not in (A.WITHDRAW_INITIATED,):
        return A.NONE
    return MATRIX.get(previous, {}).get(state, previous)


# --- following the chain ----------------------------------------------------------------------


def follow_chain(runtime: Runtime) -> int:
    """Apply every on-chain change the mirror shows to its payment request's next action."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        ids = session.exec(
            select(PaymentRequest.id)
            .where(PaymentRequest.network == runtime.profile.name)
            .where(col(PaymentRequest.next_action) != A.NONE)
            .order_by(col(PaymentRequest.updated_at))
            .limit(ROWS_PER_TICK)
        ).all()
    now = runtime.clock() if runtime.chain is not None else now_ms()
    return sum(_follow_one(runtime, payment_id, now) for payment_id in ids)


def _claim(session: Session, payment_id: str) -> PaymentRequest | None:
    query = (
        select(PaymentRequest)
        .where(col(PaymentRequest.id) == payment_id)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).first()


def _follow_one(runtime: Runtime, payment_id: str, now: int) -> int:
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = _claim(session, payment_id)
        if row is None:
            return 0
        mirror = mirror_of(session, row)
        state = on_chain_state(row, mirror)
        if state is not None and (state != row.seen_state or _landed(row, mirror)):
            _changed(session, row, mirror, state)
        elif mirror is None and _unpaid_too_long(row, now):
            _timed_out(session, row)
        elif not _tx_failed(session, row):
            return 0
        session.commit()
        return 1


def _landed(row: PaymentRequest, mirror: EscrowMirror | None) -> bool:
    """An Initiated action whose own transaction is the escrow's last: done, even when the
    state did not change (a result submitted again on ResultSubmitted stays ResultSubmitted)."""
    initiated = str(row.next_action).endswith("Initiated") and row.intended_tx_hash is not None
    return initiated and mirror is not None and mirror.last_tx_hash == row.intended_tx_hash


def _changed(
    session: Session, row: PaymentRequest, mirror: EscrowMirror | None, state: str
) -> None:
    first_sight, moved = row.seen_state is None, state != row.seen_state
    row.seen_state = state
    if state == INVALID_STATE:
        note = (mirror.invalid_reason if mirror else None) or "the lock is not what was agreed"
        set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
    elif row.next_action != A.WAITING_FOR_MANUAL_ACTION:
        action = next_action(row.next_action, state)
        if first_sight and row.next_action == A.SUBMIT_RESULT_INITIATED and state == "FundsLocked":
            # the lock seen here only after the agent (reading the mirror) sent its result: not
            # a change back to FundsLocked, the result's transaction is still on its way
            action = row.next_action
        if action is MANUAL:
            note = f"unexpected on-chain state {state} during {row.next_action!s}"
            set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
        elif action != row.next_action:
            set_action(session, row, action)
    row.updated_at = now_ms()
    session.add(row)
    if moved:
        events.payment_event(session, events.PAYMENT_ON_CHAIN_STATUS_CHANGED, row, state)


def _unpaid_too_long(row: PaymentRequest, now: int) -> bool:
    return (
        row.next_action == A.WAITING_FOR_EXTERNAL_ACTION
        and row.seen_state is None
        and now > row.pay_by_time + UNPAID_GRACE_MS
    )


def _timed_out(session: Session, row: PaymentRequest) -> None:
    row.seen_state = INVALID_STATE
    note = "no lock arrived before payByTime + 5 minutes"
    set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
    events.payment_event(session, events.PAYMENT_ON_CHAIN_STATUS_CHANGED, row, INVALID_STATE)


def _tx_failed(session: Session, row: PaymentRequest) -> bool:
    """An Initiated action whose transaction the journal found rejected or expired."""
    if not str(row.next_action).endswith("Initiated") or row.intended_tx_hash is None:
        return False
    entry = session.exec(
        select(WalletTransaction).where(WalletTransaction.tx_hash == row.intended_tx_hash)
    ).first()
    if entry is None and row.updated_at < max(PROCESS_STARTED_MS, now_ms() - NEVER_SENT_MS):
        # Initiated, and the process died before the journal kept the transaction: it was never
        # signed into the journal, so never sent; build it again (failpoint before_journal)
        set_action(session, row, REQUESTED_OF[row.next_action])
        return True
    if entry is None or entry.status not in (TxStatus.REJECTED, TxStatus.EXPIRED):
        return False
    if entry.status == TxStatus.EXPIRED:
        # it can never land and spent nothing (a rollback took it off the chain and its validity
        # ran out, or its parent expired): the escrow still waits for the action, build it anew
        logger.info("payment %s: %s expired, requested again", row.id, row.intended_tx_hash)
        set_action(session, row, REQUESTED_OF[row.next_action])
        return True
    note = f"transaction {row.intended_tx_hash} {entry.status!s}: {entry.last_error or ''}"
    set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.NETWORK_ERROR, note))
    return True


# --- automatic decisions ----------------------------------------------------------------------


def decide(runtime: Runtime) -> int:
    """ResultSubmitted and nothing else to do once the unlock time passed → WithdrawRequested.
    The rows are claimed: an unlocked read would, at its commit, write WithdrawRequested over the
    WithdrawInitiated another replica's carry_out set meanwhile (then the collection, landed, is
    "unexpected on-chain state Withdrawn during WithdrawRequested")."""
    if runtime.chain is None:
        return 0
    now = runtime.clock()
    moved = 0
    with Session(runtime.engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(PaymentRequest)
            .where(PaymentRequest.network == runtime.profile.name)
            .where(PaymentRequest.next_action == A.WAITING_FOR_EXTERNAL_ACTION)
            .where(col(PaymentRequest.error_type).is_(None))
            .where(PaymentRequest.seen_state == S.RESULT_SUBMITTED.value)
            .limit(ROWS_PER_TICK)
            .with_for_update(skip_locked=True)  # a replica's carry_out or decide has it: skip
        ).all()
        for row in rows:
            mirror = mirror_of(session, row)
            ready = mirror is not None and mirror.state == S.RESULT_SUBMITTED
            if ready and mirror is not None and mirror.unlock_time <= now:
                set_action(session, row, A.WITHDRAW_REQUESTED)
                moved += 1
        session.commit()
    return moved


# --- carrying out the requested actions ---------------------------------------------------------


@dataclass(frozen=True)
class Move:
    initiated: NextAction
    build: Callable[[EscrowBuilders, Actor, UTxO, PaymentRequest, HotWallet], BuiltTx]


def _submit(b: EscrowBuilders, a: Actor, u: UTxO, r: PaymentRequest, _w: HotWallet) -> BuiltTx:
    return b.submit_result(a, u, bytes.fromhex(r.result_hash), r.request_id)


def _authorize(b: EscrowBuilders, a: Actor, u: UTxO, r: PaymentRequest, _w: HotWallet) -> BuiltTx:
    return b.authorize_refund(a, u, r.request_id)


def _withdraw(b: EscrowBuilders, a: Actor, u: UTxO, r: PaymentRequest, w: HotWallet) -> BuiltTx:
    collection = Address.from_primitive(w.collection_address) if w.collection_address else None
    returned = buyer_split(r, u, b.contract.fee_permille)
    return b.withdraw(a, u, r.request_id, returned_to_buyer=returned, collection_address=collection)


MOVES = {
    A.SUBMIT_RESULT_REQUESTED: Move(A.SUBMIT_RESULT_INITIATED, _submit),
    A.WITHDRAW_REQUESTED: Move(A.WITHDRAW_INITIATED, _withdraw),
    A.AUTHORIZE_REFUND_REQUESTED: Move(A.AUTHORIZE_REFUND_INITIATED, _authorize),
}
REQUESTED_OF = {move.initiated: requested for requested, move in MOVES.items()}
NEVER_SENT_MS = 120_000  # Initiated without a journal row this long: it never left


def unit_value(unit: str, quantity: int) -> Value:
    if unit in ("", "lovelace"):
        return Value(quantity)
    policy, name = ScriptHash(bytes.fromhex(unit[:56])), AssetName(bytes.fromhex(unit[56:]))
    return Value(0, MultiAsset({policy: Asset({name: quantity})}))


def buyer_split(row: PaymentRequest, escrow: UTxO, fee_permille: int) -> Value | None:
    """Metered settlement: what of the locked reserve the charge leaves, back to the buyer. The
    contract takes its fee from the whole locked amount, so the seller keeps at least that fee
    (a charge below the protocol fee costs the buyer the fee)."""
    if row.charge is None or row.charge_unit is None:
        return None
    unit = row.charge_unit
    amount = escrow.output.amount
    if unit in ("", "lovelace"):
        locked = int(amount.coin)
    else:
        policy, name = ScriptHash(bytes.fromhex(unit[:56])), AssetName(bytes.fromhex(unit[56:]))
        locked = int(amount.multi_asset.get(policy, {}).get(name, 0))
    reserve = sum(int(f["amount"]) for f in row.requested_funds if f["unit"] == unit)
    fee = locked * fee_permille // 1000
    rest = min(min(reserve, locked) - row.charge, locked - fee)
    return unit_value(unit, rest) if rest > 0 else None


def slot_config_of(runtime: Runtime) -> SlotConfig:
    slots = runtime.network.slot_config
    if slots is None:
        raise BuildError("the network profile has no slot config")
    return slots


def carry_out(runtime: Runtime) -> int:
    """Build, record and send every requested escrow action (one per payment per tick). A wallet
    another replica is spending from is left for the next tick after its first WalletBusy (not
    waited for once per payment), and a tick stops building after CARRY_OUT_BUDGET_MS, so the
    node's other steps (the sync first) run between long runs of transactions."""
    if runtime.chain is None:
        return 0
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(PaymentRequest.id, PaymentRequest.selling_wallet_id)
            .where(PaymentRequest.network == runtime.profile.name)
            .where(col(PaymentRequest.next_action).in_(list(MOVES)))
            .where(col(PaymentRequest.error_type).is_(None))
            .order_by(col(PaymentRequest.updated_at))
            .limit(ROWS_PER_TICK)
        ).all()
    moved = 0
    busy: set[str] = set()
    deadline = time.monotonic() + CARRY_OUT_BUDGET_MS / 1000
    for payment_id, wallet_id in rows:
        if time.monotonic() > deadline:
            break
        if wallet_id in busy:
            continue
        try:
            moved += _carry_out_one(runtime, payment_id)
        except WalletBusy as error:
            busy.add(wallet_id)
            logger.info("payment %s waits: %s", payment_id, error)
        except ChainUnavailable as error:
            logger.info("payment %s waits: %s", payment_id, error)
    return moved


class _Taken(Exception):
    """Another worker moved the row while this one built."""


def _carry_out_one(runtime: Runtime, payment_id: str) -> int:
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = _claim(session, payment_id)
        if row is None or row.next_action not in MOVES or row.error_type is not None:
            return 0
        mirror = mirror_of(session, row)
        wallet = session.get(HotWallet, row.selling_wallet_id)
        usable = mirror is not None and mirror.validity == Validity.VALID
        if not usable or mirror is None or mirror.utxo_tx_hash is None or wallet is None:
            return 0
        if mirror.status != RowStatus.CONFIRMED:
            return 0
        requested = row.next_action
        try:
            outcome = _spend(runtime, session, row, wallet, mirror, MOVES[requested])
        except (WalletBusy, ChainUnavailable):
            session.rollback()
            raise
        except _Taken:
            return 0
        except Exception as error:  # pycardano's coin selection raises its own exceptions
            session.rollback()
            return _build_failed(runtime, session, row, wallet.id, requested, error)
        if outcome.status == REJECTED:
            session.refresh(row)
            note = f"the ledger refused {outcome.tx_hash}: {outcome.error or ''}"
            error_info = (ErrorType.NETWORK_ERROR, note)
            set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=error_info)
            session.commit()
        return 1


def _build_failed(
    runtime: Runtime,
    session: Session,
    row: PaymentRequest,
    wallet_id: str,
    requested: NextAction,
    error: Exception,
) -> int:
    """Too early (a cooldown or the unlock time), or the selling wallet's funds are tied up in
    its own pending transactions (several results in one block): try again next tick; anything
    else: manual."""
    session.refresh(row)
    if row.next_action != requested:
        return 0
    if str(error).startswith("too early") or pending_inputs(runtime.engine, wallet_id):
        logger.info("payment %s waits: %s", row.id, error)
        return 0
    note = f"{requested!s} could not be built: {error}"
    set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
    session.commit()
    return 1


def _spend(
    runtime: Runtime,
    session: Session,
    row: PaymentRequest,
    wallet: HotWallet,
    mirror: EscrowMirror,
    move: Move,
) -> Outcome:
    assert runtime.chain is not None
    profile = runtime.network
    actor = wallet_actor(runtime.secrets, wallet, profile.network_id)
    contract = runtime.escrow
    utxo = escrow_utxo(runtime, mirror)
    requested = row.next_action

    def build(context: PortChainContext) -> BuiltTx:
        builders = EscrowBuilders(context, contract, slot_config_of(runtime), clock=runtime.clock)
        built = move.build(builders, actor, utxo, row, wallet)
        _initiate(session, row, requested, move.initiated, built.tx_hash)  # before the send
        return built

    return spend_from_wallet(
        runtime.engine, runtime.chain, wallet.id, profile.network_id, build,
        lock_timeout_ms=runtime.settings.wallet_lock_timeout_s * 1000, wait_ms=WALLET_WAIT_MS,
    )  # fmt: skip


def _initiate(
    session: Session, row: PaymentRequest, requested: NextAction, initiated: NextAction, tx: str
) -> None:
    """Requested → Initiated with the intended hash, only if still Requested (else abandoned)."""
    now = now_ms()
    moved = session.exec(
        update(PaymentRequest)
        .where(col(PaymentRequest.id) == row.id)
        .where(col(PaymentRequest.next_action) == requested)
        .values(
            next_action=initiated, intended_tx_hash=tx, updated_at=now, next_action_changed_at=now
        )
    ).rowcount
    if moved != 1:
        session.rollback()
        raise _Taken(row.id)
    row.next_action = initiated
    record_action(session, row, tx)
    session.commit()


# --- transactions whose outcome is not known ----------------------------------------------------


def resolve_transactions(runtime: Runtime) -> int:
    """Initiated actions whose journal entry is still unresolved (Signed: it never left, every
    attempt answered 429/5xx; Submitted or OutcomeUnknown: not seen on chain) a while after its
    last attempt: the submitter settles the wallet's journal from chain facts and re-sends only the
    same signed bytes. Nothing is ever re-signed here. Returns the wallets resolved."""
    if runtime.chain is None:
        return 0
    stale = now_ms() - RESOLVE_AFTER_MS
    initiated = [move.initiated for move in MOVES.values()]
    with Session(runtime.engine) as session:
        wallet_ids = session.exec(
            select(WalletTransaction.wallet_id)
            .join(
                PaymentRequest,
                col(PaymentRequest.intended_tx_hash) == col(WalletTransaction.tx_hash),
            )
            .where(PaymentRequest.network == runtime.profile.name)
            .where(col(PaymentRequest.next_action).in_(initiated))
            .where(col(WalletTransaction.status).in_(UNRESOLVED))
            .where(col(WalletTransaction.updated_at) < stale)
            .distinct()
        ).all()
    return resolve_journals(runtime.chain, runtime.engine, wallet_ids, "its transactions")
