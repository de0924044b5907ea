"""The escrow lifecycle end to end: a buyer node, an agent built with the agent kit and a seller
node, talking over HTTP, on one devnet. Every test asserts both nodes' states, the amounts as the
chain has them, and that nothing was locked twice or collected twice."""

from __future__ import annotations

from typing import Any

from pycardano import Address

from contracts.datums import EscrowDatum, PlutusAddress
from node.chain.builders import EscrowBuilders, LockRequest
from node.chain.context import PortChainContext
from node.client import Amount, BuyerQuote, Purchase
from node.payments.identifier import blockchain_identifier_from_datum, decode_blockchain_identifier
from node.payments.signing import PaymentTimes, verify_blockchain_identifier
from node.payments.workers import slot_config_of, unit_value
from node.sync.decode import raw_bytes
from node.sync.models import EscrowMirror, Validity
from tests.e2e.conftest import E2E, FIXED_PRICE, MINUTE_MS, SPOOFER, TIERS

TEXT = (
    "Cardano escrow lets a buyer agent lock stablecoins for a seller agent, who submits a "
    "result hash and collects after the unlock time; refunds and disputes follow the contract."
)
FEE_PERMILLE = 50  # the devnet profile's protocol fee: 5 %
END_KINDS = {
    "Withdrawn": "Withdraw",
    "RefundWithdrawn": "WithdrawRefund",
    "DisputedWithdrawn": "WithdrawDisputed",
}


def fee_of(locked: int) -> int:
    return locked * FEE_PERMILLE // 1000


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def locked_once(world: E2E, identifier: str, end: str | None, kinds: list[str]) -> None:
    """One lock of `identifier` on chain and, when it ended, one transaction ending it; both
    nodes' mirrors hold one row for it, with the same transactions (of `kinds`, in order)."""
    locks, ends = world.escrow_history(identifier)
    assert len(locks) == 1, locks
    assert len(ends) == (0 if end is None else 1), ends
    rows: list[EscrowMirror] = []
    for side in (world.seller, world.buyer):
        row = side.mirror(identifier)
        assert row.lock_tx_hash == locks[0]
        assert len(set(row.tx_hashes)) == len(row.tx_hashes)
        assert side.tx_kinds(row.tx_hashes) == kinds
        if end is not None:
            assert row.tx_hashes[-1] == ends[0] and kinds[-1] == END_KINDS[end]
        rows.append(row)
    seller_row, buyer_row = rows
    assert (seller_row.role, buyer_row.role) == ("Seller", "Buyer")
    assert seller_row.tx_hashes == buyer_row.tx_hashes
    for name in ("request_id", "locked", "withdrawn_seller", "withdrawn_buyer", "protocol_fee"):
        assert getattr(seller_row, name) == getattr(buyer_row, name), name


def usage_rows(world: E2E, request_id: str) -> tuple[dict[str, object], dict[str, object]]:
    """The billing usage row of the request on the seller node, then on the buyer node."""
    found = []
    for side in (world.seller, world.buyer):
        answer = side.http.get("/api/v1/billing/usage", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        (row,) = [r for r in answer.json()["data"]["items"] if r["requestId"] == request_id]
        found.append(row)
    return found[0], found[1]


def test_happy_path_fixed(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier
    assert quote.verified and [a.amount for a in quote.amounts] == [FIXED_PRICE]
    assert world.payment(identifier).on_chain_state is None  # nothing locked yet

    world.tick_until(world.both(identifier, "FundsLocked"), "FundsLocked on both")
    assert delta(before, world.usdm_balances())["escrow"] == FIXED_PRICE
    world.tick_until(world.both(identifier, "ResultSubmitted"), "ResultSubmitted on both")
    request_id = purchase.request_id
    assert request_id is not None
    assert world.runs.request_ids.count(request_id) == 1  # the agent ran the job once
    job = world.kits["fixed"].status(request_id)
    assert job.status == "completed" and job.result_hash == world.payment(identifier).result_hash
    assert world.purchase(identifier).result_hash == job.result_hash

    world.advance_past(purchase.unlock_time, margin_ms=MINUTE_MS)
    world.tick_until(world.both(identifier, "Withdrawn"), "Withdrawn on both")
    world.tick()  # one more tick: nothing moves again
    payment, bought = world.payment(identifier), world.purchase(identifier)
    assert payment.next_action.requested_action == bought.next_action.requested_action == "None"

    moved = delta(before, world.usdm_balances())
    fee = fee_of(FIXED_PRICE)
    assert moved == {
        "seller": FIXED_PRICE - fee,
        "buyer": -FIXED_PRICE,
        "fees": fee,
        "escrow": 0,
    }
    locked_once(world, identifier, "Withdrawn", ["Lock", "SubmitResult", "Withdraw"])
    row = world.seller.mirror(identifier)
    assert row.withdrawn_seller == {world.usdm: FIXED_PRICE - fee}
    assert row.protocol_fee.get(world.usdm) == fee
    for spend in row.tx_hashes[1:]:  # the seller node's SubmitResult and Withdraw
        referenced_not_carried(world, spend)


def referenced_not_carried(world: E2E, tx_hash: str) -> None:
    """The escrow spend references the deployed script and carries no Plutus script itself."""
    tx = world.signed(tx_hash)
    assert world.escrow_reference.input in (tx.transaction_body.reference_inputs or []), tx_hash
    witnesses = tx.transaction_witness_set
    assert witnesses.redeemer, tx_hash  # a script spend indeed
    scripts = (witnesses.plutus_v1_script, witnesses.plutus_v2_script, witnesses.plutus_v3_script)
    assert not any(scripts), tx_hash


# --- helpers of the later paths ---------------------------------------------------------------


def locked(world: E2E, agent: str, text: str, **extra: Any) -> tuple[BuyerQuote, Purchase]:
    """Quote → confirm → purchase → the buyer node's lock → FundsLocked on both nodes."""
    quote, purchase = world.buy(agent, text, **extra)
    world.tick_until(world.both(purchase.blockchain_identifier, "FundsLocked"), "FundsLocked")
    return quote, purchase


def with_result(world: E2E, identifier: str) -> None:
    world.tick_until(world.both(identifier, "ResultSubmitted"), "ResultSubmitted on both")


def collected(world: E2E, purchase: Purchase) -> None:
    """After the unlock time the seller node collects by itself; nothing moves afterwards."""
    identifier = purchase.blockchain_identifier
    world.advance_past(purchase.unlock_time, margin_ms=MINUTE_MS)
    world.tick_until(world.both(identifier, "Withdrawn"), "Withdrawn on both")
    world.tick()
    assert world.payment(identifier).next_action.requested_action == "None"
    assert world.purchase(identifier).next_action.requested_action == "None"


def disputed(world: E2E, agent: str) -> Purchase:
    """A job with a result, then the buyer's refund request: Disputed on both nodes."""
    _quote, purchase = locked(world, agent, TEXT)
    identifier = purchase.blockchain_identifier
    with_result(world, identifier)
    asked = world.buyer.client.request_refund(identifier)
    assert asked.next_action.requested_action == "SetRefundRequestedRequested"
    world.tick_until(world.both(identifier, "Disputed"), "Disputed on both")
    return purchase


def ran(world: E2E, purchase: Purchase) -> int:
    assert purchase.request_id is not None
    return world.runs.request_ids.count(purchase.request_id)


# --- 2. Fixed+prices and Dynamic ----------------------------------------------------------------


def test_happy_path_fixed_prices_the_buyer_picks_a_tier(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    quote, purchase = locked(world, "tiers", TEXT, option=1)
    identifier = purchase.blockchain_identifier
    price = TIERS[1]
    assert quote.pricing_mode == "Fixed+prices"
    assert [(a.amount, a.unit) for a in quote.amounts] == [(price, world.usdm)]
    payment = world.payment(identifier)
    assert [(a.amount, a.unit) for a in payment.requested_funds or []] == [(price, world.usdm)]
    assert [(a.amount, a.unit) for a in purchase.paid_funds] == [(price, world.usdm)]
    with_result(world, identifier)
    assert ran(world, purchase) == 1
    collected(world, purchase)

    fee = fee_of(price)
    assert delta(before, world.usdm_balances()) == {
        "seller": price - fee,
        "buyer": -price,
        "fees": fee,
        "escrow": 0,
    }
    locked_once(world, identifier, "Withdrawn", ["Lock", "SubmitResult", "Withdraw"])


def test_happy_path_dynamic_reserve_then_settle(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    quote, purchase = locked(world, "dynamic", TEXT)
    identifier = purchase.blockchain_identifier
    assert quote.pricing_mode == "Dynamic" and quote.seller_quote is not None
    reserve = int(quote.seller_quote["reserve"])
    assert [(a.amount, a.unit) for a in quote.amounts] == [(reserve, world.usdm)]
    assert [(a.amount, a.unit) for a in purchase.paid_funds] == [(reserve, world.usdm)]
    payment = world.payment(identifier)
    assert payment.quote_id == quote.seller_quote["id"]
    assert [(a.amount, a.unit) for a in payment.requested_funds or []] == [(reserve, world.usdm)]
    assert delta(before, world.usdm_balances())["escrow"] == reserve

    with_result(world, identifier)
    assert ran(world, purchase) == 1
    charge = world.payment(identifier).charge
    assert charge is not None and charge.unit == world.usdm
    charged = charge.amount
    assert 0 < charged < reserve  # the summary is shorter than the quote's estimate
    collected(world, purchase)

    fee = fee_of(reserve)  # the contract takes its fee from the whole locked amount
    assert delta(before, world.usdm_balances()) == {
        "seller": charged - fee,
        "buyer": -charged,  # the rest of the reserve came back in the collection
        "fees": fee,
        "escrow": 0,
    }
    locked_once(world, identifier, "Withdrawn", ["Lock", "SubmitResult", "Withdraw"])
    ends = world.escrow_history(identifier)[1]
    outputs = world.tx(ends[0]).outputs
    to_buyer = [o for o in outputs if o.address == world.buyer_address]
    assert [o.amount.get(world.usdm, 0) for o in to_buyer] == [reserve - charged]

    assert purchase.request_id is not None
    seller_row, buyer_row = usage_rows(world, purchase.request_id)
    usdm = [{"unit": world.usdm, "amount": str(reserve)}]
    for row, role in ((seller_row, "Seller"), (buyer_row, "Buyer")):
        assert row["role"] == role and row["onChainState"] == "Withdrawn"
        assert row["reserved"] == usdm
        assert row["charged"] == [{"unit": world.usdm, "amount": str(charged)}]
        assert row["refunded"] == [{"unit": world.usdm, "amount": str(reserve - charged)}]
    for name in ("requestId", "blockchainIdentifier", "reserved", "charged", "refunded",
                 "protocolFees", "txHashes"):  # fmt: skip
        assert seller_row[name] == buyer_row[name], name


# --- 3. a refund before a result ----------------------------------------------------------------


def test_refund_before_a_result_then_the_automatic_refund_withdrawal(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    _quote, purchase = locked(world, "fixed", "this job fails", mode="fail")
    identifier = purchase.blockchain_identifier
    assert purchase.request_id is not None
    world.tick()
    job = world.kits["fixed"].status(purchase.request_id)
    assert job.status == "failed" and ran(world, purchase) == 1  # no result to submit

    asked = world.buyer.client.request_refund(identifier)
    assert asked.next_action.requested_action == "SetRefundRequestedRequested"
    world.tick_until(world.both(identifier, "RefundRequested"), "RefundRequested on both")
    world.advance_past(purchase.submit_result_time, margin_ms=5 * MINUTE_MS)
    world.tick()
    assert world.states(identifier) == ("RefundRequested", "RefundRequested")  # not yet: + 10 min
    world.advance_past(purchase.submit_result_time)
    world.tick_until(world.both(identifier, "RefundWithdrawn"), "RefundWithdrawn on both")
    world.tick()
    assert world.purchase(identifier).next_action.requested_action == "None"
    assert world.payment(identifier).next_action.requested_action == "None"

    assert delta(before, world.usdm_balances()) == {"seller": 0, "buyer": 0, "fees": 0, "escrow": 0}
    kinds = ["Lock", "SetRefundRequested", "WithdrawRefund"]
    locked_once(world, identifier, "RefundWithdrawn", kinds)


# --- 4. disputes ----------------------------------------------------------------------------------


def test_a_dispute_resolved_by_the_seller_authorizing_the_refund(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    purchase = disputed(world, "fixed")
    identifier = purchase.blockchain_identifier
    authorized = world.seller.client.authorize_refund(identifier)
    assert authorized.next_action.requested_action == "AuthorizeRefundRequested"
    world.tick_until(world.both(identifier, "RefundRequested"), "RefundRequested on both")
    assert world.purchase(identifier).result_hash in (None, "")

    world.advance_past(purchase.submit_result_time)
    world.tick_until(world.both(identifier, "RefundWithdrawn"), "RefundWithdrawn on both")
    world.tick()
    assert delta(before, world.usdm_balances()) == {"seller": 0, "buyer": 0, "fees": 0, "escrow": 0}
    kinds = ["Lock", "SubmitResult", "SetRefundRequested", "AuthorizeRefund", "WithdrawRefund"]
    locked_once(world, identifier, "RefundWithdrawn", kinds)
    assert ran(world, purchase) == 1


def test_a_dispute_resolved_by_the_admins(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    purchase = disputed(world, "tiers")
    identifier = purchase.blockchain_identifier
    price = TIERS[0]
    half = Amount(amount=price // 2, unit=world.usdm)
    rest = Amount(amount=price - half.amount, unit=world.usdm)
    early = world.seller.http.post(
        "/api/v1/payment/resolve-dispute",
        json={"network": "Devnet", "blockchainIdentifier": identifier,
              "sellerAmounts": [half.wire()], "buyerAmounts": [rest.wire()]},
    )  # fmt: skip
    assert early.status_code in (409, 422), early.text  # before the external dispute unlock time

    world.advance_past(purchase.external_dispute_unlock_time, margin_ms=MINUTE_MS)
    resolution = world.seller.client.resolve_dispute(identifier, [half], [rest])
    assert resolution.tx_hash and resolution.request_id == purchase.request_id
    world.tick_until(world.both(identifier, "DisputedWithdrawn"), "DisputedWithdrawn on both")
    world.tick()
    assert world.payment(identifier).next_action.requested_action == "None"
    assert world.purchase(identifier).next_action.requested_action == "None"
    assert delta(before, world.usdm_balances()) == {
        "seller": half.amount,
        "buyer": -half.amount,
        "fees": 0,
        "escrow": 0,
    }
    kinds = ["Lock", "SubmitResult", "SetRefundRequested", "WithdrawDisputed"]
    locked_once(world, identifier, "DisputedWithdrawn", kinds)
    assert world.escrow_history(identifier)[1] == [resolution.tx_hash]


# --- 5. an unpaid request -------------------------------------------------------------------------


def test_an_unpaid_request_times_out_on_both_sides(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    _quote, purchase = world.buy("fixed", TEXT)  # no tick: the buyer node never gets to lock
    identifier = purchase.blockchain_identifier
    world.advance_past(purchase.pay_by_time, margin_ms=MINUTE_MS)
    world.tick()
    assert world.purchase(identifier).next_action.requested_action == "FundsLockingRequested"
    assert world.payment(identifier).next_action.requested_action == "WaitingForExternalAction"
    world.advance_past(purchase.pay_by_time, margin_ms=6 * MINUTE_MS)
    world.tick()
    world.tick()

    bought, payment = world.purchase(identifier), world.payment(identifier)
    assert bought.on_chain_state is None
    assert bought.next_action.requested_action == "WaitingForManualAction"
    assert "never locked" in (bought.next_action.error_note or "")
    assert payment.on_chain_state == "FundsOrDatumInvalid"
    assert payment.next_action.requested_action == "WaitingForManualAction"
    assert "no lock arrived" in (payment.next_action.error_note or "")
    assert world.escrow_history(identifier) == ([], [])
    assert world.seller.mirrors(identifier) == world.buyer.mirrors(identifier) == []
    assert delta(before, world.usdm_balances()) == {"seller": 0, "buyer": 0, "fees": 0, "escrow": 0}
    assert purchase.request_id is not None
    assert world.kits["fixed"].status(purchase.request_id).status == "failed"
    assert ran(world, purchase) == 0


# --- 6. a spoofed lock ---------------------------------------------------------------------------


def spoof_datum(world: E2E, quote: BuyerQuote, **changes: Any) -> EscrowDatum:
    """The datum a buyer writes for the quote's terms (§3.2), by the spoofer, with `changes`."""
    parts = decode_blockchain_identifier(quote.blockchain_identifier)
    datum = EscrowDatum.make(
        buyer=PlutusAddress.from_address(SPOOFER.address),
        seller=PlutusAddress.from_address(Address.from_primitive(world.seller_address)),
        reference_key=bytes.fromhex(parts.key),
        reference_signature=bytes.fromhex(parts.signature),
        seller_nonce=bytes.fromhex(parts.seller_id),
        buyer_nonce=bytes.fromhex(parts.purchaser_id),
        collateral_return_lovelace=0,
        input_hash=bytes.fromhex(quote.input_hash),
        pay_by_time=quote.pay_by_time,
        submit_result_time=quote.submit_result_time,
        unlock_time=quote.unlock_time,
        external_dispute_unlock_time=quote.external_dispute_unlock_time,
    )
    return datum.replace(**changes) if changes else datum


def test_spoofed_locks_are_invalid_on_the_seller_node_and_never_served(e2e: E2E) -> None:
    world = e2e
    before = world.usdm_balances()
    runtime = world.seller.runtime
    assert runtime.chain is not None
    cheap = world.quote("fixed", {"text": "a cheap lock"})
    early = world.quote("fixed", {"text": "an early unlock"})
    builders = EscrowBuilders(
        PortChainContext(runtime.chain, 0), runtime.escrow, slot_config_of(runtime),
        clock=world.now,
    )  # fmt: skip
    requests = [
        LockRequest(spoof_datum(world, cheap), unit_value(world.usdm, FIXED_PRICE // 2),
                    cheap.request_id or ""),
        LockRequest(spoof_datum(world, early, unlock_time=early.unlock_time - 60 * MINUTE_MS),
                    unit_value(world.usdm, FIXED_PRICE), early.request_id or ""),
    ]  # fmt: skip
    runtime.chain.submit(builders.lock(SPOOFER, requests).cbor)
    world.blocks()
    for _ in range(3):
        world.tick()
    spoofed = FIXED_PRICE // 2 + FIXED_PRICE
    assert delta(before, world.usdm_balances()) == {
        "seller": 0, "buyer": 0, "fees": 0, "escrow": spoofed,
    }  # fmt: skip

    for quote, reason in ((cheap, "amount"), (early, "unlockTime")):
        identifier = quote.blockchain_identifier
        assert len(world.escrow_history(identifier)[0]) == 1  # the spoofed lock is on chain
        payment = world.payment(identifier)
        assert payment.on_chain_state == "FundsOrDatumInvalid", payment
        assert payment.next_action.requested_action == "WaitingForManualAction"
        row = world.seller.mirror(identifier)
        assert row.validity == Validity.FUNDS_OR_DATUM_INVALID
        assert reason in (row.invalid_reason or "")
        assert quote.request_id is not None
        assert quote.request_id not in world.runs.request_ids  # the handler never ran
        assert world.kits["fixed"].status(quote.request_id).status == "failed"
        refused = world.seller.http.post(
            "/api/v1/payment/submit-result",
            json={"network": "Devnet", "blockchainIdentifier": identifier,
                  "submitResultHash": "ab" * 32},
        )  # fmt: skip
        assert refused.status_code == 409, refused.text
        # not the buyer node's escrow: no purchase follows it
        listed = world.buyer.client.list_purchases(limit=100).purchases
        assert identifier not in {p.blockchain_identifier for p in listed}


# --- 7. the blockchainIdentifier ----------------------------------------------------------------


def test_the_identifier_decodes_verifies_and_is_what_the_datum_rebuilds(e2e: E2E) -> None:
    world = e2e
    quote, purchase = locked(world, "tiers", TEXT, option=0)
    identifier = purchase.blockchain_identifier
    payment = world.payment(identifier)
    parts = decode_blockchain_identifier(identifier)
    assert quote.verified  # the buyer node verified it before anything was locked
    assert parts.request_id == purchase.request_id == payment.request_id == quote.job_id
    assert parts.purchaser_id == quote.identifier_from_purchaser
    assert parts.agent_identifier == world.agents["tiers"] == payment.agent_identifier
    wallet = payment.smart_contract_wallet
    assert wallet is not None and wallet.wallet_vkey == quote.seller_vkey
    times = PaymentTimes(
        payment.pay_by_time, payment.submit_result_time, payment.unlock_time,
        payment.external_dispute_unlock_time,
    )  # fmt: skip
    verified = verify_blockchain_identifier(
        identifier,
        identifier_from_purchaser=quote.identifier_from_purchaser,
        agent_identifier=world.agents["tiers"],
        seller_vkey=quote.seller_vkey,
        holder_address=world.seller_address,
        requested_funds=[a.wire() for a in payment.requested_funds or []],
        times=times,
        input_hash=payment.input_hash,
    )
    assert verified.request_id == purchase.request_id

    (lock_tx,) = world.escrow_history(identifier)[0]
    (output,) = [o for o in world.tx(lock_tx).outputs if world.carries(o, identifier)]
    assert output.inline_datum is not None
    datum = EscrowDatum.from_cbor(bytes.fromhex(output.inline_datum))
    assert blockchain_identifier_from_datum(datum) == identifier
    assert (datum.pay_by_time, datum.submit_result_time, datum.unlock_time,
            datum.external_dispute_unlock_time) == tuple(times.__dict__.values())  # fmt: skip
    assert raw_bytes(datum.input_hash).hex() == payment.input_hash == quote.input_hash
    for side in (world.seller, world.buyer):
        row = side.mirror(identifier)
        assert row.blockchain_identifier == identifier and row.request_id == parts.request_id
        assert row.seller_key_hash == quote.seller_vkey

    with_result(world, identifier)  # then to its end, so later clock moves leave it be
    collected(world, purchase)
    locked_once(world, identifier, "Withdrawn", ["Lock", "SubmitResult", "Withdraw"])
