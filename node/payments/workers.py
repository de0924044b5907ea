"""The seller's worker steps (masumi-protocol.md §11):

- `follow_chain`: a new on-chain state in the mirror → the next action by the transition matrix
  (and a webhook); a lock that fails our checks → WaitingForManualAction; an unpaid request
  whose payByTime passed 5 minutes ago → FundsOrDatumInvalid + WaitingForManualAction; an
  Initiated action whose transaction the ledger refused or let expire → WaitingForManualAction.
- `decide`: ResultSubmitted after the unlock time → WithdrawRequested (automatic collection).
- `carry_out`: SubmitResult / Withdraw / AuthorizeRefund requested → the transaction built and
  signed by the selling wallet, the intended hash stored (→ *Initiated) before it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pycardano import Address, Asset, AssetName, MultiAsset, ScriptHash, UTxO, Value
from sqlalchemy import update
from sqlmodel import Session, col, select

from node.chain.builders import Actor, BuildError, BuiltTx, EscrowBuilders
from node.chain.context import PortChainContext
from node.chain.port import ChainUnavailable
from node.chain.submitter import REJECTED, Outcome
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
    spend_from_wallet,
    wallet_actor,
)

logger = logging.getLogger(__name__)

A = NextAction
S = OnChainState
ROWS_PER_TICK = 200
UNPAID_GRACE_MS = 5 * 60_000
WALLET_WAIT_MS = 2_000
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
        if state is not None and state != row.seen_state:
            _changed(session, row, mirror, state)
        elif mirror is None and _unpaid_too_long(row, now):
            _timed_out(session, row)
        elif not _tx_failed(session, row):
            return 0
        session.commit()
        return 1


def _changed(
    session: Session, row: PaymentRequest, mirror: EscrowMirror | None, state: str
) -> None:
    row.seen_state = state
    if state == INVALID_STATE:
        note = (mirror.invalid_reason if mirror else None) or "the lock is not what was agreed"
        set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
    elif row.next_action != A.WAITING_FOR_MANUAL_ACTION:
        action = next_action(row.next_action, state)
        if action is MANUAL:
            note = f"unexpected on-chain state {state} during {row.next_action!s}"
            set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.UNKNOWN, note))
        elif action != row.next_action:
            set_action(session, row, action)
    row.updated_at = now_ms()
    session.add(row)
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
    if entry is None or entry.status not in (TxStatus.REJECTED, TxStatus.EXPIRED):
        return False
    note = f"transaction {row.intended_tx_hash} {entry.status!s}: {entry.last_error or ''}"
    set_action(session, row, A.WAITING_FOR_MANUAL_ACTION, error=(ErrorType.NETWORK_ERROR, note))
    return True


# --- automatic decisions ----------------------------------------------------------------------


def decide(runtime: Runtime) -> int:
    """ResultSubmitted and nothing else to do once the unlock time passed → WithdrawRequested."""
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
    """Build, record and send every requested escrow action (one per payment per tick)."""
    if runtime.chain is None:
        return 0
    with Session(runtime.engine) as session:
        ids = session.exec(
            select(PaymentRequest.id)
            .where(PaymentRequest.network == runtime.profile.name)
            .where(col(PaymentRequest.next_action).in_(list(MOVES)))
            .where(col(PaymentRequest.error_type).is_(None))
            .order_by(col(PaymentRequest.updated_at))
            .limit(ROWS_PER_TICK)
        ).all()
    moved = 0
    for payment_id in ids:
        try:
            moved += _carry_out_one(runtime, payment_id)
        except (WalletBusy, ChainUnavailable) as error:
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
