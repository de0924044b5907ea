"""Classify one transaction of the escrow address from chain facts alone (masumi-protocol.md §12
points 4 to 6): a lock (each escrow output checked), a redeemer paired with its script input and its
continuation, Invalid, or Foreign. Pure: no database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.datums import Action, EscrowDatum, OutputReference, State
from node.chain.builders import MIN_COLLATERAL_RETURN
from node.chain.port import AddressTx, TxIo, TxUtxos
from node.sync.decode import (
    CborFacts,
    add,
    bech32_of,
    escrow_datum,
    key_hash_of,
    payment_key_hash,
    raw_bytes,
    spent,
    total,
)
from node.sync.models import Amounts, OnChainState, TxKind

TERMINAL_ACTIONS = frozenset({Action.WITHDRAW, Action.WITHDRAW_REFUND, Action.WITHDRAW_DISPUTED})
SELLER_ACTIONS = frozenset({Action.WITHDRAW, Action.SUBMIT_RESULT, Action.AUTHORIZE_REFUND})
BUYER_ACTIONS = frozenset(
    {Action.SET_REFUND_REQUESTED, Action.UNSET_REFUND_REQUESTED, Action.WITHDRAW_REFUND}
)
KIND_OF_ACTION = {
    Action.WITHDRAW: TxKind.WITHDRAW,
    Action.SET_REFUND_REQUESTED: TxKind.SET_REFUND_REQUESTED,
    Action.UNSET_REFUND_REQUESTED: TxKind.UNSET_REFUND_REQUESTED,
    Action.WITHDRAW_REFUND: TxKind.WITHDRAW_REFUND,
    Action.WITHDRAW_DISPUTED: TxKind.WITHDRAW_DISPUTED,
    Action.SUBMIT_RESULT: TxKind.SUBMIT_RESULT,
    Action.AUTHORIZE_REFUND: TxKind.AUTHORIZE_REFUND,
}


@dataclass(frozen=True)
class Lock:
    """A new escrow output; `problems` are the anti-spoofing checks it failed."""

    output_index: int
    datum: EscrowDatum
    value: Amounts
    fee_share: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Move:
    """A redeemer spending an escrow output, and what came of it."""

    spent: tuple[str, int]
    action: Action
    state: OnChainState
    continuation: int | None  # output index of the continuing escrow output
    datum: EscrowDatum  # the new datum (the old one for a terminal spend)
    withdrawn_seller: Amounts = field(default_factory=dict)
    withdrawn_buyer: Amounts = field(default_factory=dict)
    protocol_fee: Amounts = field(default_factory=dict)
    fee_side: str = "none"
    fee_share: int = 0


@dataclass(frozen=True)
class Classified:
    kind: TxKind
    note: str | None = None
    locks: tuple[Lock, ...] = ()
    moves: tuple[Move, ...] = ()


@dataclass(frozen=True)
class TxFacts:
    """`utxos` holds the outputs and at least every spent output of the escrow address; all the
    inputs (a party's too) only where `needs_all_inputs` asked for them."""

    entry: AddressTx
    utxos: TxUtxos
    cbor: CborFacts
    escrow_address: str
    network_id: int


def needs_all_inputs(cbor: CborFacts) -> bool:
    """WithdrawDisputed pays each party its net gain: their own inputs count."""
    return Action.WITHDRAW_DISPUTED.value in cbor.spend_redeemers.values()


def classify(facts: TxFacts) -> Classified:
    if not facts.cbor.is_valid:
        return Classified(TxKind.INVALID, "phase-2 validation failed: only collateral was taken")
    outputs = [o for o in facts.utxos.outputs if o.address == facts.escrow_address]
    if any(o.reference_script_hash for o in outputs):
        return Classified(TxKind.INVALID, "an escrow output carries a reference script")
    inputs = [i for i in spent(facts.utxos) if i.address == facts.escrow_address]
    if not inputs:
        return _locks(facts, outputs)
    return _spends(facts, inputs, outputs)


# locks ----------------------------------------------------------------------------------------


def _locks(facts: TxFacts, outputs: list[TxIo]) -> Classified:
    decoded = [(o, escrow_datum(o.inline_datum)) for o in outputs]
    escrows = [(o, d) for o, d in decoded if d is not None]
    if not escrows:
        return Classified(TxKind.FOREIGN, "no escrow datum in the outputs at the escrow address")
    shares = _split(facts.cbor.fee, len(escrows))
    locks = tuple(
        Lock(o.output_index, d, dict(o.amount), share, lock_problems(facts, d, o.amount))
        for (o, d), share in zip(escrows, shares, strict=True)
    )
    return Classified(TxKind.LOCK, None, locks=locks)


def _split(fee: int, parts: int) -> list[int]:
    """Even shares of the fee; the remainder on the first."""
    share, rest = divmod(fee, parts)
    return [share + rest] + [share] * (parts - 1)


def lock_problems(facts: TxFacts, datum: EscrowDatum, value: Amounts) -> tuple[str, ...]:
    """§12 point 6, the checks chain facts can decide."""
    problems = []
    if datum.current_state != State.FUNDS_LOCKED:
        problems.append(f"datum state is {datum.current_state.name}, not FundsLocked")
    if datum.result:
        problems.append("result hash is set")
    if datum.seller_cooldown_time != 0 or datum.buyer_cooldown_time != 0:
        problems.append("cooldowns are not 0")
    if facts.entry.block_time_ms > datum.pay_by_time:
        problems.append("locked after pay_by_time")
    collateral = datum.collateral_return_lovelace
    if collateral != 0 and not MIN_COLLATERAL_RETURN <= collateral <= value.get("lovelace", 0):
        problems.append(f"collateral return {collateral} is neither 0 nor in range")
    problems.extend(_party_problems(facts, datum))
    return tuple(problems)


def _party_problems(facts: TxFacts, datum: EscrowDatum) -> list[str]:
    if key_hash_of(datum.buyer) is None or key_hash_of(datum.seller) is None:
        return ["buyer and seller must have key payment credentials"]
    # Masumi asks for the buyer's address among the inputs; a key address's input needs its
    # key's witness, so the buyer's signature is the check readable from the CBOR (ADR 0012).
    if key_hash_of(datum.buyer) not in facts.cbor.signers:
        return ["the buyer's key did not sign the lock"]
    return []


# spends ---------------------------------------------------------------------------------------


def _spends(facts: TxFacts, inputs: list[TxIo], outputs: list[TxIo]) -> Classified:
    by_ref = {(i.tx_hash, i.output_index): i for i in inputs}
    unpaired = {o.output_index: o for o in outputs}
    moves = []
    for index, constructor in sorted(facts.cbor.spend_redeemers.items()):
        ref = facts.cbor.inputs[index] if index < len(facts.cbor.inputs) else None
        script_input = by_ref.pop(ref, None) if ref is not None else None
        if script_input is None:
            continue  # another script's input
        move = _move(facts, script_input, constructor, unpaired)
        if isinstance(move, str):
            return Classified(TxKind.INVALID, move)
        moves.append(move)
    if by_ref or unpaired or not moves:
        return Classified(TxKind.INVALID, "escrow inputs or outputs without a redeemer pairing")
    kind = KIND_OF_ACTION[moves[0].action] if len(moves) == 1 else TxKind.INVALID
    return Classified(kind, None, moves=tuple(moves))


def _move(
    facts: TxFacts, script_input: TxIo, constructor: int, unpaired: dict[int, TxIo]
) -> Move | str:
    old = escrow_datum(script_input.inline_datum)
    if old is None:
        return "spends an escrow input without an escrow datum"
    try:
        action = Action(constructor)
    except ValueError:
        return f"unknown redeemer {constructor}"
    ref = (script_input.tx_hash, script_input.output_index)
    side = "seller" if action in SELLER_ACTIONS else "buyer" if action in BUYER_ACTIONS else "none"
    if action in TERMINAL_ACTIONS:
        return _terminal(facts, script_input, old, action, side)
    found = _continuation(old, unpaired)
    if found is None:
        return f"{action.name} without a continuing escrow output"
    index, new = found
    del unpaired[index]
    state = _next_state(action, new)
    return Move(ref, action, state, index, new, fee_side=side, fee_share=facts.cbor.fee)


def _continuation(old: EscrowDatum, outputs: dict[int, TxIo]) -> tuple[int, EscrowDatum] | None:
    signature = raw_bytes(old.reference_signature)
    for index, output in outputs.items():
        new = escrow_datum(output.inline_datum)
        if new is not None and raw_bytes(new.reference_signature) == signature:
            return index, new
    return None


def _next_state(action: Action, new: EscrowDatum) -> OnChainState:
    """§12 point 5 for the continuing redeemers (V1)."""
    if action == Action.SET_REFUND_REQUESTED:
        return OnChainState.DISPUTED if new.result else OnChainState.REFUND_REQUESTED
    if action == Action.UNSET_REFUND_REQUESTED:
        return OnChainState.RESULT_SUBMITTED if new.result else OnChainState.FUNDS_LOCKED
    if action == Action.SUBMIT_RESULT:
        disputed = new.current_state in (State.REFUND_REQUESTED, State.DISPUTED)
        return OnChainState.DISPUTED if disputed else OnChainState.RESULT_SUBMITTED
    return OnChainState.REFUND_REQUESTED  # AuthorizeRefund (V1)


def _terminal(
    facts: TxFacts, script_input: TxIo, old: EscrowDatum, action: Action, side: str
) -> Move:
    ref = (script_input.tx_hash, script_input.output_index)
    value = dict(script_input.amount)
    fee = facts.cbor.fee
    if action == Action.WITHDRAW_REFUND:
        return Move(ref, action, OnChainState.REFUND_WITHDRAWN, None, old, {}, value, {}, side, fee)
    if action == Action.WITHDRAW:
        to_buyer, to_fee = _tagged(facts, ref, bech32_of(old.buyer, facts.network_id))
        to_seller = _clamped(add(add(value, to_buyer, -1), to_fee, -1))
        return Move(
            ref, action, OnChainState.WITHDRAWN, None, old, to_seller, to_buyer, to_fee, side, fee
        )
    to_buyer = _net_to(facts, key_hash_of(old.buyer))
    to_seller = _net_to(facts, key_hash_of(old.seller))
    return Move(
        ref, action, OnChainState.DISPUTED_WITHDRAWN, None, old, to_seller, to_buyer, {}, side, fee
    )


def _tagged(facts: TxFacts, ref: tuple[str, int], buyer: str) -> tuple[Amounts, Amounts]:
    """Outputs tagged with the spent escrow's reference: to the buyer, and the others (fee)."""
    tag = OutputReference(bytes.fromhex(ref[0]), ref[1]).to_cbor_hex().lower()
    tagged = [o for o in facts.utxos.outputs if (o.inline_datum or "").lower() == tag]
    to_buyer = total(o.amount for o in tagged if o.address == buyer)
    to_fee = total(o.amount for o in tagged if o.address != buyer)
    return to_buyer, to_fee


def _net_to(facts: TxFacts, key_hash: str | None) -> Amounts:
    """What a party's key gained in the transaction (outputs minus its own inputs)."""
    if key_hash is None:
        return {}
    received = total(
        o.amount for o in facts.utxos.outputs if payment_key_hash(o.address) == key_hash
    )
    paid = total(i.amount for i in spent(facts.utxos) if payment_key_hash(i.address) == key_hash)
    return _clamped(add(received, paid, -1))


def _clamped(amounts: Amounts) -> Amounts:
    return {unit: quantity for unit, quantity in amounts.items() if quantity > 0}
