"""Builders for every escrow and registry transaction, signed and ready for the submitter.

Conventions (masumi-protocol.md §8): validity windows around "now" clipped by the action's
deadlines and cooldowns, new cooldowns written as upper bound + cooldown + a 10-minute buffer,
the acting wallet as required signer and collateral, the escrow script inline or by reference,
and metadata 674 `{"msg": ["Masumi", <type>]}` on every transaction, as Masumi's node writes it
(the request ids are in the datums; 66 bytes each in the metadata would cost fees for nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pycardano import (
    Address,
    AlonzoMetadata,
    AuxiliaryData,
    ExecutionUnits,
    ExtendedSigningKey,
    Metadata,
    PaymentSigningKey,
    PlutusV3Script,
    Redeemer,
    Transaction,
    TransactionBuilder,
    TransactionOutput,
    UTxO,
    Value,
    VerificationKeyHash,
    min_lovelace_post_alonzo,
)

from contracts.datums import (
    Action,
    EscrowDatum,
    OutputReference,
    State,
    redeemer_data,
)
from node.chain.context import COLLATERAL_LOVELACE, PortChainContext
from node.clock import now_ms
from node.config import SlotConfig

MINUTE_MS = 60_000
WINDOW_MS = 5 * MINUTE_MS  # the node's validity window reaches 5 minutes either side of now
COOLDOWN_BUFFER_MS = 10 * MINUTE_MS
MIN_COLLATERAL_RETURN = 1_435_230  # Masumi: a collateral return is 0 or at least this
LOCK_MIN_UTXO_MARGIN = 200_000  # the datum grows on SubmitResult; lovelace may only grow
SPLIT_MARGIN_LOVELACE = 10_000_000  # a fresh collateral output only from a well-funded one


class BuildError(Exception):
    """The action cannot be built now (too early, too late, wrong state); the message says why."""


@dataclass(frozen=True)
class Actor:
    """A hot wallet acting in a transaction: it signs, pays fees and collateral, gets change."""

    signing_key: ExtendedSigningKey | PaymentSigningKey
    address: Address

    @property
    def key_hash(self) -> VerificationKeyHash:
        return self.signing_key.to_verification_key().hash()


@dataclass(frozen=True)
class EscrowContract:
    """The escrow a network uses: its script, where it lives, and its parameters."""

    script: PlutusV3Script
    address: Address
    fee_address: Address
    fee_permille: int
    cooldown_ms: int
    reference: UTxO | None = None  # an output carrying the script as a reference script


@dataclass(frozen=True)
class LockRequest:
    """One purchase to lock: the datum (state FundsLocked) and what the buyer pays."""

    datum: EscrowDatum
    value: Value
    request_id: str


@dataclass(frozen=True)
class BuiltTx:
    tx: Transaction
    kind: str
    request_ids: tuple[str, ...]
    spent: tuple[tuple[str, int], ...] = field(default=())

    @property
    def tx_hash(self) -> str:
        return str(self.tx.id.payload.hex())

    @property
    def cbor(self) -> bytes:
        return bytes(self.tx.to_cbor())

    @property
    def fee(self) -> int:
        return int(self.tx.transaction_body.fee)


# pycardano adds 20 % to the execution units the evaluator measured, and the fee pays for them.
# The evaluator runs the transaction as it will be sent except for the fee and change amounts,
# which our validators only compare (a cost that does not depend on the amounts below 2^64): 5 %
# is margin enough and saves about 3,000 lovelace per script spend.
EXECUTION_MARGIN = 0.05


def script_builder(context: PortChainContext) -> TransactionBuilder:
    builder = TransactionBuilder(context)
    builder.execution_memory_buffer = builder.execution_step_buffer = EXECUTION_MARGIN
    return builder


def message_metadata(kind: str) -> AuxiliaryData:
    """CIP-20 message, Masumi's: `["Masumi", <type>]`."""
    return AuxiliaryData(AlonzoMetadata(Metadata({674: {"msg": ["Masumi", kind]}})))


class EscrowBuilders:
    def __init__(
        self,
        context: PortChainContext,
        contract: EscrowContract,
        slot_config: SlotConfig,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.context = context
        self.contract = contract
        self.slots = slot_config
        self.clock = clock

    # windows --------------------------------------------------------------------------------

    def _window(self, *, not_before_ms: int = 0, before_ms: int | None = None) -> tuple[int, int]:
        """(validity_start, ttl) slots: around now, at or after `not_before_ms`, ending strictly
        before `before_ms` (the contracts read the upper bound as "now")."""
        now = self.clock()
        if not_before_ms > now:
            raise BuildError(f"too early: allowed from {not_before_ms} (now {now})")
        earliest = max(self.slots.zero_slot, self.slots.posix_ms_to_slot(now - WINDOW_MS))
        start = max(earliest, self._slot_at_or_after(not_before_ms))
        ttl = self.slots.posix_ms_to_slot(now + WINDOW_MS)
        if before_ms is not None:
            ttl = min(ttl, self.slots.posix_ms_to_slot(before_ms - 1))
        current = self.slots.posix_ms_to_slot(now)
        if ttl <= current:
            raise BuildError(f"too late: the deadline {before_ms} leaves no validity window")
        return start, ttl

    def _slot_at_or_after(self, posix_ms: int) -> int:
        slot = self.slots.posix_ms_to_slot(posix_ms)
        return slot if self.slots.slot_to_posix_ms(slot) >= posix_ms else slot + 1

    def _upper_ms(self, ttl: int) -> int:
        return self.slots.slot_to_posix_ms(ttl)

    def _new_cooldown(self, ttl: int) -> int:
        return self._upper_ms(ttl) + self.contract.cooldown_ms + COOLDOWN_BUFFER_MS

    # building -------------------------------------------------------------------------------

    def _builder(self, actor: Actor, kind: str) -> TransactionBuilder:
        builder = script_builder(self.context)
        builder.add_input_address(actor.address)
        builder.auxiliary_data = message_metadata(kind)
        builder.required_signers = [actor.key_hash]
        return builder

    def _spend_escrow(
        self,
        builder: TransactionBuilder,
        escrow: UTxO,
        action: Action,
        ex_units: ExecutionUnits | None,
    ) -> None:
        """With `ex_units` given pycardano does not evaluate the spend (no round trip)."""
        script: Any = self.contract.reference or self.contract.script
        units = None if ex_units is None else ExecutionUnits(ex_units.mem, ex_units.steps)
        redeemer = Redeemer(redeemer_data(action), units)
        builder.add_script_input(escrow, script=script, redeemer=redeemer)

    def _finish(
        self,
        builder: TransactionBuilder,
        signers: Sequence[Actor],
        change: Actor,
        kind: str,
        request_ids: Sequence[str],
    ) -> BuiltTx:
        keys = [signer.signing_key for signer in signers]
        if builder.all_scripts:  # a script runs: the payer's best collateral, not pycardano's
            self._set_collateral(builder, change)
        tx = builder.build_and_sign(keys, change_address=change.address)
        spent = tuple(
            (txin.transaction_id.payload.hex(), int(txin.index))
            for txin in tx.transaction_body.inputs
        )
        return BuiltTx(tx, kind, tuple(request_ids), spent)

    def _set_collateral(self, builder: TransactionBuilder, payer: Actor) -> None:
        """A confirmed UTxO no pending transaction spends. The context keeps it out of coin
        selection while the wallet has other ADA, so the transactions chained after this one
        (in the same block) find it again; when it must pay too, this transaction leaves the
        wallet a fresh collateral output for the next ones."""
        collateral = self.context.collateral_for(payer.address)
        if collateral is None:
            raise BuildError(
                "no collateral: the wallet has no confirmed UTxO that its pending transactions "
                "do not spend (a collateral from the mempool is refused); wait for them"
            )
        builder.collaterals = [collateral]
        selectable = {utxo.input for utxo in self.context.utxos(str(payer.address))}
        rich = collateral.output.amount.coin >= COLLATERAL_LOVELACE + SPLIT_MARGIN_LOVELACE
        if collateral.input in selectable and rich:
            builder.add_output(TransactionOutput(payer.address, Value(COLLATERAL_LOVELACE)))

    def _continue(self, builder: TransactionBuilder, escrow: UTxO, new_datum: EscrowDatum) -> None:
        """The continuing output: same address and tokens, lovelace topped up if the datum grew."""
        output = TransactionOutput(escrow.output.address, escrow.output.amount, datum=new_datum)
        needed = min_lovelace_post_alonzo(output, self.context)
        if needed > output.amount.coin:
            output.amount = Value(needed, output.amount.multi_asset)
        builder.add_output(output)

    # the buyer ------------------------------------------------------------------------------

    def lock(self, buyer: Actor, purchases: Sequence[LockRequest]) -> BuiltTx:
        """One output per purchase at the escrow address; several purchases batched in one tx."""
        if not purchases:
            raise BuildError("nothing to lock")
        request_ids = [purchase.request_id for purchase in purchases]
        builder = self._builder(buyer, "PaymentBatched")
        earliest_pay_by = min(purchase.datum.pay_by_time for purchase in purchases)
        builder.validity_start, builder.ttl = self._window(before_ms=earliest_pay_by)
        for purchase in purchases:
            builder.add_output(self.lock_output(purchase))
        return self._finish(builder, [buyer], buyer, "PaymentBatched", request_ids)

    def lock_output(self, purchase: LockRequest) -> TransactionOutput:
        """The escrow output with lovelace for the largest datum it will carry; the extra
        lovelace is the datum's collateral return (0 or at least 1,435,230)."""
        paid = purchase.value.coin
        grown = purchase.datum.replace(
            result_hash=bytes(32),
            seller_cooldown_time=2**40,
            buyer_cooldown_time=2**40,
            collateral_return_lovelace=2**40,
            state=State.DISPUTED,
        )
        probe = TransactionOutput(self.contract.address, purchase.value, datum=grown)
        needed = min_lovelace_post_alonzo(probe, self.context) + LOCK_MIN_UTXO_MARGIN
        extra = max(0, needed - paid)
        if 0 < extra < MIN_COLLATERAL_RETURN:
            extra = MIN_COLLATERAL_RETURN
        datum = purchase.datum.replace(collateral_return_lovelace=extra)
        value = Value(paid + extra, purchase.value.multi_asset)
        return TransactionOutput(self.contract.address, value, datum=datum)

    def set_refund_requested(
        self,
        buyer: Actor,
        escrow: UTxO,
        request_id: str,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        old = datum_of(escrow)
        self._require_state(old, {State.FUNDS_LOCKED, State.RESULT_SUBMITTED, State.DISPUTED})
        start, ttl = self._window(not_before_ms=old.buyer_cooldown_time, before_ms=old.unlock_time)
        state = State.DISPUTED if old.result else State.REFUND_REQUESTED
        new = old.replace(
            buyer_cooldown_time=self._new_cooldown(ttl), seller_cooldown_time=0, state=state
        )
        return self._transition(
            buyer,
            escrow,
            Action.SET_REFUND_REQUESTED,
            new,
            (start, ttl),
            "RequestRefund",
            request_id,
            ex_units,
        )

    def unset_refund_requested(
        self,
        buyer: Actor,
        escrow: UTxO,
        request_id: str,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        old = datum_of(escrow)
        self._require_state(old, {State.REFUND_REQUESTED, State.DISPUTED})
        start, ttl = self._window(not_before_ms=old.buyer_cooldown_time)
        state = State.RESULT_SUBMITTED if old.result else State.FUNDS_LOCKED
        new = old.replace(
            buyer_cooldown_time=self._new_cooldown(ttl), seller_cooldown_time=0, state=state
        )
        return self._transition(
            buyer,
            escrow,
            Action.UNSET_REFUND_REQUESTED,
            new,
            (start, ttl),
            "CancelRefund",
            request_id,
            ex_units,
        )

    def withdraw_refund(
        self,
        buyer: Actor,
        escrow: UTxO,
        request_id: str,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        old = datum_of(escrow)
        self._require_state(old, {State.FUNDS_LOCKED, State.REFUND_REQUESTED})
        if old.result:
            raise BuildError("a result was submitted: the refund goes through a dispute")
        builder = self._builder(buyer, "CollectRefund")
        builder.validity_start, builder.ttl = self._window(not_before_ms=old.submit_result_time)
        self._spend_escrow(builder, escrow, Action.WITHDRAW_REFUND, ex_units)
        builder.add_output(TransactionOutput(buyer.address, escrow.output.amount))
        return self._finish(builder, [buyer], buyer, "CollectRefund", [request_id])

    # the seller -----------------------------------------------------------------------------

    def submit_result(
        self,
        seller: Actor,
        escrow: UTxO,
        result_hash: bytes,
        request_id: str,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        old = datum_of(escrow)
        if len(result_hash) == 0:
            raise BuildError("result_hash must not be empty")
        deadline = old.external_dispute_unlock_time if old.result else old.submit_result_time
        start, ttl = self._window(not_before_ms=old.seller_cooldown_time, before_ms=deadline)
        keeps_state = old.current_state in (State.FUNDS_LOCKED, State.RESULT_SUBMITTED)
        new = old.replace(
            result_hash=result_hash,
            seller_cooldown_time=self._new_cooldown(ttl),
            buyer_cooldown_time=0,
            state=State.RESULT_SUBMITTED if keeps_state else State.DISPUTED,
        )
        return self._transition(
            seller,
            escrow,
            Action.SUBMIT_RESULT,
            new,
            (start, ttl),
            "SubmitResult",
            request_id,
            ex_units,
        )

    def authorize_refund(
        self,
        seller: Actor,
        escrow: UTxO,
        request_id: str,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        old = datum_of(escrow)
        self._require_state(old, {State.DISPUTED})
        start, ttl = self._window(not_before_ms=old.seller_cooldown_time)
        new = old.replace(
            result_hash=b"",
            seller_cooldown_time=self._new_cooldown(ttl),
            buyer_cooldown_time=0,
            state=State.REFUND_REQUESTED,
        )
        return self._transition(
            seller,
            escrow,
            Action.AUTHORIZE_REFUND,
            new,
            (start, ttl),
            "AuthorizeRefund",
            request_id,
            ex_units,
        )

    def withdraw(
        self,
        seller: Actor,
        escrow: UTxO,
        request_id: str,
        *,
        returned_to_buyer: Value | None = None,
        collection_address: Address | None = None,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        """Collect after the unlock time: the protocol fee and the buyer's collateral return in
        tagged outputs; `returned_to_buyer` (metered settlement) rides in the buyer's output."""
        old = datum_of(escrow)
        self._require_state(old, {State.RESULT_SUBMITTED})
        builder = self._builder(seller, "CollectCompleted")
        builder.validity_start, builder.ttl = self._window(not_before_ms=old.unlock_time)
        self._spend_escrow(builder, escrow, Action.WITHDRAW, ex_units)
        tag = OutputReference.of(escrow.input)
        fee = self._fee_value(escrow.output.amount)
        builder.add_output(TransactionOutput(self.contract.fee_address, fee, datum=tag))
        to_buyer = Value(old.collateral_return_lovelace) + (returned_to_buyer or Value(0))
        buyer_address = old.buyer.to_address(self.context.network)
        if to_buyer.coin > 0 or to_buyer.multi_asset:
            buyer_out = TransactionOutput(buyer_address, to_buyer, datum=tag)
            buyer_out.amount = Value(
                max(to_buyer.coin, min_lovelace_post_alonzo(buyer_out, self.context)),
                to_buyer.multi_asset,
            )
            builder.add_output(buyer_out)
        if collection_address is not None:
            remainder = escrow.output.amount - fee - to_buyer
            builder.add_output(TransactionOutput(collection_address, remainder))
        return self._finish(builder, [seller], seller, "CollectCompleted", [request_id])

    def _fee_value(self, locked: Value) -> Value:
        permille = self.contract.fee_permille
        fee = Value(max(locked.coin * permille // 1000, MIN_COLLATERAL_RETURN))
        for policy, assets in locked.multi_asset.items():
            for name, quantity in assets.items():
                share = quantity * permille // 1000
                if share > 0:
                    fee.multi_asset.setdefault(policy, type(assets)())[name] = share
        return fee

    # the admins -----------------------------------------------------------------------------

    def withdraw_disputed(
        self,
        admins: Sequence[Actor],
        escrow: UTxO,
        request_id: str,
        *,
        to_buyer: Value,
        to_seller: Value,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        """After the external dispute unlock time, the admins' split; the first admin pays fees."""
        old = datum_of(escrow)
        self._require_state(old, {State.DISPUTED})
        payer = admins[0]
        builder = self._builder(payer, "CollectDisputed")
        builder.required_signers = [admin.key_hash for admin in admins]
        builder.validity_start, builder.ttl = self._window(
            not_before_ms=old.external_dispute_unlock_time
        )
        self._spend_escrow(builder, escrow, Action.WITHDRAW_DISPUTED, ex_units)
        network = self.context.network
        for address, value in (
            (old.buyer.to_address(network), to_buyer),
            (old.seller.to_address(network), to_seller),
        ):
            if value.coin or value.multi_asset:
                builder.add_output(TransactionOutput(address, value))
        return self._finish(builder, admins, payer, "CollectDisputed", [request_id])

    # shared ---------------------------------------------------------------------------------

    def _transition(
        self,
        actor: Actor,
        escrow: UTxO,
        action: Action,
        new_datum: EscrowDatum,
        window: tuple[int, int],
        kind: str,
        request_id: str,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        builder = self._builder(actor, kind)
        builder.validity_start, builder.ttl = window
        self._spend_escrow(builder, escrow, action, ex_units)
        self._continue(builder, escrow, new_datum)
        return self._finish(builder, [actor], actor, kind, [request_id])

    @staticmethod
    def _require_state(datum: EscrowDatum, allowed: set[State]) -> None:
        if datum.current_state not in allowed:
            names = ", ".join(sorted(state.name for state in allowed))
            raise BuildError(f"escrow is {datum.current_state.name}; this needs one of {names}")


def datum_of(escrow: UTxO) -> EscrowDatum:
    raw = escrow.output.datum
    if raw is None:
        raise BuildError("the escrow output carries no inline datum")
    if isinstance(raw, EscrowDatum):
        return raw
    decoded: EscrowDatum = EscrowDatum.from_cbor(raw.to_cbor())
    return decoded
