"""The escrow validator on the devnet: every transition of masumi-protocol.md §3.5 accepted with
the right signer, state and time, and each rule's violation rejected (one test each), by real
signed transactions. Each negative test differs from an accepted transaction in one respect."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pycardano import Address, Network, ScriptHash, TransactionOutput

from contracts.datums import Action, OutputReference, State
from devnet.errors import LedgerRejection
from tests.contracts.harness import (
    ADMINS,
    BUYER,
    COOLDOWN_MS,
    FEE_WALLET,
    HOUR_MS,
    SELLER,
    STRANGER,
    USDM_LOCKED,
    EscrowWorld,
    blake2b_256,
)


@pytest.fixture
def world() -> EscrowWorld:
    return EscrowWorld()


def rejected(action: Callable[[], object]) -> str:
    """Run a spend that must fail in phase 2 (the script said no)."""
    with pytest.raises(LedgerRejection) as info:
        action()
    assert info.value.rule == "phase2", info.value
    return str(info.value)


def to_result_submitted(world: EscrowWorld) -> object:
    return world.submit_result(world.lock())


def to_disputed(world: EscrowWorld) -> object:
    txin = to_result_submitted(world)
    return world.buyer_toggle(txin, Action.SET_REFUND_REQUESTED)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# accepted transitions (§3.6)


def test_submit_result_from_funds_locked(world: EscrowWorld) -> None:
    out = world.submit_result(world.lock())
    assert world.datum_at(out).current_state == State.RESULT_SUBMITTED


def test_submit_result_replaces_the_hash(world: EscrowWorld) -> None:
    first = world.submit_result(world.lock())
    second = world.submit_result(first, result=blake2b_256(b"second"))
    assert world.datum_at(second).result == blake2b_256(b"second")
    assert world.datum_at(second).current_state == State.RESULT_SUBMITTED


def test_submit_result_after_refund_request_disputes(world: EscrowWorld) -> None:
    requested = world.buyer_toggle(world.lock(), Action.SET_REFUND_REQUESTED)
    assert world.datum_at(requested).current_state == State.REFUND_REQUESTED
    out = world.submit_result(requested)
    assert world.datum_at(out).current_state == State.DISPUTED


def test_set_and_unset_refund_requested(world: EscrowWorld) -> None:
    requested = world.buyer_toggle(world.lock(), Action.SET_REFUND_REQUESTED)
    back = world.buyer_toggle(requested, Action.UNSET_REFUND_REQUESTED)
    assert world.datum_at(back).current_state == State.FUNDS_LOCKED


def test_refund_request_after_result_disputes_and_unset_restores(world: EscrowWorld) -> None:
    disputed = to_disputed(world)
    assert world.datum_at(disputed).current_state == State.DISPUTED  # type: ignore[arg-type]
    back = world.buyer_toggle(disputed, Action.UNSET_REFUND_REQUESTED)  # type: ignore[arg-type]
    assert world.datum_at(back).current_state == State.RESULT_SUBMITTED


def test_authorize_refund_then_withdraw_refund(world: EscrowWorld) -> None:
    disputed = to_disputed(world)
    refunded = world.authorize_refund(disputed)  # type: ignore[arg-type]
    datum = world.datum_at(refunded)
    assert (datum.current_state, datum.result) == (State.REFUND_REQUESTED, b"")
    world.advance_to(datum.submit_result_time)
    world.spend(refunded, Action.WITHDRAW_REFUND, BUYER)
    assert world.ledger.utxo(_txin(refunded)) is None


def test_withdraw_refund_from_funds_locked(world: EscrowWorld) -> None:
    txin = world.lock()
    world.advance_to(world.datum_at(txin).submit_result_time)
    world.spend(txin, Action.WITHDRAW_REFUND, BUYER)


def test_withdraw_with_fee_and_collateral_return(world: EscrowWorld) -> None:
    txin = to_result_submitted(world)
    world.advance_to(world.datum_at(txin).unlock_time)  # type: ignore[arg-type]
    world.spend(txin, Action.WITHDRAW, SELLER, outputs=world.withdraw_outputs(txin))  # type: ignore[arg-type]


def test_withdraw_disputed_by_two_of_three_admins(world: EscrowWorld) -> None:
    disputed = to_disputed(world)
    world.advance_to(world.datum_at(disputed).external_dispute_unlock_time)  # type: ignore[arg-type]
    world.spend(
        disputed,  # type: ignore[arg-type]
        Action.WITHDRAW_DISPUTED,
        ADMINS[0],
        required_signers=[ADMINS[0], ADMINS[2]],
    )


# ---------------------------------------------------------------------------------------------
# rejected


def test_wrong_signer(world: EscrowWorld) -> None:
    txin = world.lock()
    rejected(lambda: world.submit_result(txin, required_signers=[STRANGER], signers=[STRANGER]))
    world.submit_result(txin)  # the same with the seller passes


def test_wrong_state(world: EscrowWorld) -> None:
    txin = world.lock()  # FundsLocked: AuthorizeRefund needs Disputed
    rejected(lambda: world.authorize_refund(txin))


def test_too_early(world: EscrowWorld) -> None:
    txin = to_result_submitted(world)
    unlock = world.datum_at(txin).unlock_time  # type: ignore[arg-type]
    world.advance_to(unlock + 60_000)
    early = world.window(lower_ms=unlock - 1000)
    outputs = world.withdraw_outputs(txin)  # type: ignore[arg-type]
    rejected(
        lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=outputs, validity=early)  # type: ignore[arg-type]
    )
    on_time = world.window(lower_ms=unlock)
    world.spend(txin, Action.WITHDRAW, SELLER, outputs=outputs, validity=on_time)  # type: ignore[arg-type]


def test_too_late(world: EscrowWorld) -> None:
    txin = world.lock()
    deadline = world.datum_at(txin).submit_result_time
    world.advance_to(deadline - 10 * 60_000)
    late = world.window(upper_ms=deadline)  # end < submit_result_time is strict
    rejected(lambda: world.submit_result(txin, validity=late))
    world.submit_result(txin, validity=world.window(upper_ms=deadline - 1000))


def test_cooldown_not_passed(world: EscrowWorld) -> None:
    first = world.submit_result(world.lock())
    cooldown = world.datum_at(first).seller_cooldown_time
    world.advance_to(cooldown)
    before = world.window(lower_ms=cooldown - 1000)
    rejected(lambda: world.submit_result(first, validity=before))
    world.submit_result(first, validity=world.window(lower_ms=cooldown))


def test_native_tokens_not_preserved(world: EscrowWorld) -> None:
    txin = world.lock()
    amount = world.utxo(txin).output.amount
    less = world.value(amount.coin, USDM_LOCKED - 1)
    rejected(lambda: world.submit_result(txin, continuing_value=less))
    more_ada = world.value(amount.coin + 1_000_000, USDM_LOCKED)
    world.submit_result(txin, continuing_value=more_ada)  # lovelace may grow


def test_a_second_script_input(world: EscrowWorld) -> None:
    first = world.lock()
    second = world.lock()
    world.advance_to(world.datum_at(first).submit_result_time)
    rejected(
        lambda: world.spend(first, Action.WITHDRAW_REFUND, BUYER, extra_script_inputs=[second])
    )
    world.spend(first, Action.WITHDRAW_REFUND, BUYER)


def test_a_datum_field_changed(world: EscrowWorld) -> None:
    txin = world.lock()
    old = world.datum_at(txin)
    validity = world.window()
    good = old.replace(
        result_hash=blake2b_256(b"r"),
        seller_cooldown_time=world.ms(validity[1]) + COOLDOWN_MS,
        state=State.RESULT_SUBMITTED,
    )
    bad = good.replace(unlock_time=old.unlock_time + HOUR_MS)
    rejected(lambda: world.submit_result(txin, validity=validity, new_datum=bad))
    world.submit_result(txin, validity=validity, new_datum=good)


def test_a_reference_script_on_the_script_output(world: EscrowWorld) -> None:
    txin = world.lock()
    ref = world.deploy_reference_script()  # both copies of the script do not fit in one tx
    rich = world.value(45_000_000, USDM_LOCKED)  # min-ADA of an output carrying the script
    rejected(
        lambda: world.submit_result(
            txin, continuing_script=True, continuing_value=rich, reference_script=ref
        )
    )
    world.submit_result(txin, reference_script=ref)


def test_missing_fee_output(world: EscrowWorld) -> None:
    txin = to_result_submitted(world)
    world.advance_to(world.datum_at(txin).unlock_time)  # type: ignore[arg-type]
    _fee_out, collateral_out = world.withdraw_outputs(txin)  # type: ignore[arg-type]
    rejected(lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=[collateral_out]))  # type: ignore[arg-type]


def test_short_fee_output(world: EscrowWorld) -> None:
    txin = to_result_submitted(world)
    world.advance_to(world.datum_at(txin).unlock_time)  # type: ignore[arg-type]
    fee_out, collateral_out = world.withdraw_outputs(txin)  # type: ignore[arg-type]
    amount = fee_out.amount
    usdm_due = USDM_LOCKED * 50 // 1000
    short = TransactionOutput(
        fee_out.address, world.value(amount.coin, usdm_due - 1), datum=fee_out.datum
    )
    rejected(lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=[short, collateral_out]))  # type: ignore[arg-type]
    # an untagged fee output does not count either
    untagged = TransactionOutput(fee_out.address, amount)
    rejected(
        lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=[untagged, collateral_out])  # type: ignore[arg-type]
    )


def test_missing_collateral_return(world: EscrowWorld) -> None:
    txin = to_result_submitted(world)
    world.advance_to(world.datum_at(txin).unlock_time)  # type: ignore[arg-type]
    fee_out, collateral_out = world.withdraw_outputs(txin)  # type: ignore[arg-type]
    rejected(lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=[fee_out]))  # type: ignore[arg-type]
    wrong_tag = TransactionOutput(
        collateral_out.address, collateral_out.amount, datum=OutputReference(bytes(32), 0)
    )
    rejected(
        lambda: world.spend(txin, Action.WITHDRAW, SELLER, outputs=[fee_out, wrong_tag])  # type: ignore[arg-type]
    )


def test_too_few_admin_signatures(world: EscrowWorld) -> None:
    disputed = to_disputed(world)
    world.advance_to(world.datum_at(disputed).external_dispute_unlock_time)  # type: ignore[arg-type]
    rejected(
        lambda: world.spend(
            disputed,  # type: ignore[arg-type]
            Action.WITHDRAW_DISPUTED,
            ADMINS[1],
            required_signers=[ADMINS[1], STRANGER],
            signers=[ADMINS[1], STRANGER],
        )
    )


def test_continuing_output_elsewhere_is_rejected(world: EscrowWorld) -> None:
    txin = world.lock()
    other = Address(ScriptHash(world.script.hash), FEE_WALLET.stake, network=Network.TESTNET)
    rejected(lambda: world.submit_result(txin, continuing_address=other))


def _txin(txin: object) -> object:
    from tests.contracts.harness import _txin as convert

    return convert(txin)  # type: ignore[arg-type]
