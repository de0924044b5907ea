"""Quote → purchase → one batched lock of several purchases → FundsLocked after the sync; then the
refund branches: a refund request, its cancellation, and the automatic refund withdrawal after
the submit-result time; and an unpaid request timing out."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import httpx
from pycardano import Address

from contracts.datums import EscrowDatum
from node.payments.identifier import blockchain_identifier_from_datum
from node.purchases import workers
from node.sync.decode import raw_bytes
from node.sync.models import Validity
from tests.node.purchases.conftest import MINUTE_MS, USDM, BuyerWorld
from tests.node.purchases.flows import buy, refund_call, resolve, state_of

HOUR_MS = 60 * MINUTE_MS


def usdm_at(world: BuyerWorld, address: str) -> int:
    assert world.runtime.chain is not None
    total = 0
    for utxo in world.runtime.chain.utxos_at(address):
        for policy, assets in utxo.output.amount.multi_asset.items():
            for name, quantity in assets.items():
                if policy.payload.hex() + name.payload.hex() == world.usdm:
                    total += quantity
    return total


def test_several_purchases_lock_in_one_transaction_and_become_funds_locked(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    wallet = world.purchasing_wallet(admin)
    bought = [
        buy(pay, world, "fixed"),
        buy(pay, world, "tiers", option=1),
        buy(pay, world, "dynamic"),
    ]
    buyer = Address.from_primitive(wallet).payment_part
    assert buyer is not None and world.agent.last_body["buyer"] == buyer.payload.hex()
    assert [b["PaidFunds"][0]["amount"] for b in bought] == [
        str(2 * USDM),
        str(4 * USDM),
        str(3 * USDM),
    ]
    assert world.lock() == 3
    hashes = {p.intended_tx_hash for p in world.purchases()}
    assert len(hashes) == 1 and None not in hashes
    assert {p.next_action for p in world.purchases()} == {"FundsLockingInitiated"}

    assert world.runtime.chain is not None
    (tx_hash,) = hashes
    assert tx_hash is not None
    outputs = world.runtime.chain.transaction_utxos(tx_hash).outputs
    escrow = world.runtime.network.escrow.address
    locked = [o for o in outputs if o.address == escrow]
    assert len(locked) == 3
    by_identifier = {b["blockchainIdentifier"]: b for b in bought}
    for output in locked:
        assert output.inline_datum is not None
        datum = EscrowDatum.from_cbor(bytes.fromhex(output.inline_datum))
        purchase = by_identifier[blockchain_identifier_from_datum(datum)]
        assert datum.pay_by_time == int(purchase["payByTime"])
        assert datum.unlock_time == int(purchase["unlockTime"])
        assert raw_bytes(datum.input_hash).hex() == purchase["inputHash"]
        assert str(datum.buyer.to_address(Address.from_primitive(wallet).network)) == wallet
        assert output.amount[world.usdm] == int(purchase["PaidFunds"][0]["amount"])

    world.sync()
    assert {e.validity for e in world.escrows() if e.lock_tx_hash == tx_hash} == {Validity.VALID}
    for b in bought:
        assert state_of(pay, b["blockchainIdentifier"]) == (
            "FundsLocked",
            "WaitingForExternalAction",
        )
    listed = pay.get(
        "/api/v1/purchase",
        params={"network": "Devnet", "filterOnChainState": "FundsLocked", "limit": 2},
    ).json()["data"]
    assert len(listed["Purchases"]) == 2 and listed["nextCursorId"]
    rest = pay.get(
        "/api/v1/purchase",
        params={"network": "Devnet", "limit": 2, "cursorId": listed["nextCursorId"]},
    ).json()["data"]
    assert len(rest["Purchases"]) == 1 and rest["nextCursorId"] is None
    history = resolve(pay, bought[0]["blockchainIdentifier"], history=True)
    assert [t["txHash"] for t in history["TransactionHistory"]] == [tx_hash]
    assert history["CurrentTransaction"]["status"] == "Confirmed"


def test_a_refund_request_then_the_automatic_refund_withdrawal(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    wallet = world.purchasing_wallet(admin)
    identifier = buy(pay, world, "fixed")["blockchainIdentifier"]
    world.lock()
    world.sync()
    before = usdm_at(world, wallet)

    answer = refund_call(pay, "request-refund", identifier)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["NextAction"]["requestedAction"] == "SetRefundRequestedRequested"
    assert refund_call(pay, "request-refund", identifier).status_code == 409  # once
    assert world.refund_actions() == 1
    assert state_of(pay, identifier) == ("FundsLocked", "SetRefundRequestedInitiated")
    world.sync()
    assert state_of(pay, identifier) == ("RefundRequested", "WaitingForExternalAction")

    purchase = next(p for p in world.purchases() if p.blockchain_identifier == identifier)
    world.advance(purchase.submit_result_time - world.now() + 5 * MINUTE_MS)
    assert workers.request_automatic_refunds(world.runtime, clock=world.now) == 0  # not yet
    world.advance(6 * MINUTE_MS)
    assert workers.request_automatic_refunds(world.runtime, clock=world.now) == 1
    assert state_of(pay, identifier) == ("RefundRequested", "WithdrawRefundRequested")
    assert world.refund_actions() == 1
    world.sync()
    assert state_of(pay, identifier) == ("RefundWithdrawn", "None")
    assert usdm_at(world, wallet) == before + 2 * USDM


def test_a_refund_request_is_cancelled_after_the_buyer_cooldown(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin)
    identifier = buy(pay, world, "dynamic")["blockchainIdentifier"]
    world.lock()
    world.sync()
    assert refund_call(pay, "cancel-refund-request", identifier).status_code == 409  # not asked
    refund_call(pay, "request-refund", identifier).raise_for_status()
    world.refund_actions()
    world.sync()
    answer = refund_call(pay, "cancel-refund-request", identifier)
    assert answer.status_code == 200, answer.text
    assert world.refund_actions() == 0  # the buyer's cooldown has not passed
    assert state_of(pay, identifier) == ("RefundRequested", "UnSetRefundRequestedRequested")
    world.advance(30 * MINUTE_MS)  # window end + 7 min cooldown + 10 min buffer
    assert world.refund_actions() == 1
    world.sync()
    assert state_of(pay, identifier) == ("FundsLocked", "WaitingForExternalAction")


def test_an_unpaid_purchase_times_out_and_nothing_is_locked(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin, ada=0)  # a wallet with nothing: the lock never happens
    identifier = buy(pay, world, "fixed")["blockchainIdentifier"]
    purchase = world.purchases()[0]
    world.advance(purchase.pay_by_time - world.now() + MINUTE_MS)
    assert world.lock() == 0  # too late to lock
    assert workers.time_out_unpaid(world.runtime, clock=world.now) == 0  # within the grace
    world.advance(5 * MINUTE_MS)
    assert workers.time_out_unpaid(world.runtime, clock=world.now) == 1
    data = resolve(pay, identifier, history=True)
    assert data["onChainState"] is None
    assert data["NextAction"]["requestedAction"] == "WaitingForManualAction"
    assert "never locked" in data["NextAction"]["errorNote"]
    assert world.purchase(purchase.id).lock_tx_hash is None
    recovered = pay.post(
        "/api/v1/purchase/error-state-recovery",
        json={"network": "Devnet", "blockchainIdentifier": identifier,
              "updatedAt": data["updatedAt"], "retryPreviousAction": True},
    )  # fmt: skip
    assert recovered.status_code == 409  # the pay-by time has passed: no retry


def test_a_lock_waits_for_others_to_share_its_transaction(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    """With lock_gather_ms, a lone ready purchase waits that long for others before its wallet
    locks; a full batch or a near pay-by time locks at once."""
    world.purchasing_wallet(admin)
    settings = world.runtime.settings.model_copy(update={"lock_gather_ms": 400})
    gathering = dataclasses.replace(world.runtime, settings=settings)
    buy(pay, world, "fixed")
    assert workers.lock_purchases(gathering, clock=world.now) == 0  # waits for company
    buy(pay, world, "dynamic")
    time.sleep(0.45)
    assert workers.lock_purchases(gathering, clock=world.now) == 2  # the oldest waited enough
    assert len({p.intended_tx_hash for p in world.purchases()}) == 1

    now, wall = world.now(), int(time.time() * 1000)
    waiting = SimpleNamespace(updated_at=wall, pay_by_time=now + HOUR_MS)
    assert not workers._batch_ready([waiting], 60_000, now)
    assert workers._batch_ready([waiting] * workers.BATCH_SIZE, 60_000, now)
    urgent = SimpleNamespace(updated_at=wall, pay_by_time=now + workers.LOCK_MARGIN_MS + 1)
    assert workers._batch_ready([waiting, urgent], 60_000, now)
