"""A lock the purchasing wallet cannot pay is reported (InsufficientFunds, a webhook event) and
retried after error-state recovery; a lock under our purchasing wallet that is not our lock
transaction is marked FundsOrDatumInvalid; §11's matrix and the lock check as pure functions."""

from __future__ import annotations

from typing import Any

import httpx
from pycardano import Address, TransactionBuilder, TransactionOutput, Value
from sqlmodel import Session, col, select

from node.chain.context import PortChainContext
from node.purchases import workers
from node.purchases.checks import problems_of
from node.purchases.models import Purchase, PurchaseAction
from node.sync.models import EscrowMirror, OnChainState, RowStatus, Validity
from node.wallets.models import HotWallet
from node.wallets.service import wallet_keys
from node.webhooks.models import WebhookDelivery
from tests.devnet.http_helpers import faucet
from tests.node.purchases.conftest import ADA, USDM, BuyerWorld
from tests.node.purchases.flows import buy, resolve

A = PurchaseAction


def test_an_unpayable_lock_is_reported_then_retried_after_recovery(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client, session: Session
) -> None:
    events = ["PURCHASE_ON_ERROR", "PURCHASE_ON_CHAIN_STATUS_CHANGED"]
    hook = {"url": "https://hooks.example.com/paynode", "Events": events, "authToken": "t" * 12}
    assert admin.post("/api/v1/webhooks", json=hook).status_code == 200
    address = world.purchasing_wallet(admin, ada=0)
    identifier = buy(pay, world, "fixed")["blockchainIdentifier"]
    assert world.lock() == 1  # moved: to the error
    data = resolve(pay, identifier)
    assert data["NextAction"]["requestedAction"] == "WaitingForManualAction"
    assert data["NextAction"]["errorType"] == "InsufficientFunds"
    assert world.lock() == 0

    faucet(world.http, address, 50 * ADA, {world.usdm: 10 * USDM})
    stale = {"network": "Devnet", "blockchainIdentifier": identifier, "retryPreviousAction": True}
    answer = pay.post("/api/v1/purchase/error-state-recovery", json={**stale, "updatedAt": "1"})
    assert answer.status_code == 409  # not the updatedAt last read
    answer = pay.post(
        "/api/v1/purchase/error-state-recovery", json={**stale, "updatedAt": data["updatedAt"]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["NextAction"] == {
        "requestedAction": "FundsLockingRequested", "errorType": None, "errorNote": None,
    }  # fmt: skip
    assert world.lock() == 1
    world.sync()
    assert resolve(pay, identifier)["onChainState"] == "FundsLocked"
    delivered = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
    assert [row.event for row in delivered] == events
    assert delivered[1].payload["data"]["onChainState"] == "FundsLocked"


def test_a_lock_that_is_not_our_lock_transaction_is_invalid(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin)
    identifier = buy(pay, world, "fixed")["blockchainIdentifier"]
    with Session(world.engine) as session:
        purchase = session.exec(select(Purchase)).one()
        wallet = session.exec(select(HotWallet)).one()
    keys = wallet_keys(world.runtime.secrets, wallet, 0)
    assert world.runtime.chain is not None
    request = workers.lock_request(purchase, wallet.address)
    escrow = Address.from_primitive(world.runtime.network.escrow.address)
    builder = TransactionBuilder(PortChainContext(world.runtime.chain, 0))
    builder.add_input_address(Address.from_primitive(wallet.address))
    value = Value(5 * ADA, request.value.multi_asset)
    builder.add_output(TransactionOutput(escrow, value, datum=request.datum))
    tx = builder.build_and_sign([keys.payment_signing_key], Address.from_primitive(wallet.address))
    world.runtime.chain.submit(bytes(tx.to_cbor()))
    world.sync()
    (spoof,) = [e for e in world.escrows() if e.lock_tx_hash == str(tx.id)]
    assert spoof.validity == Validity.FUNDS_OR_DATUM_INVALID
    assert "no purchase of this node was locked by transaction" in (spoof.invalid_reason or "")
    assert resolve(pay, identifier)["NextAction"]["requestedAction"] == "FundsLockingRequested"


def mirror(**changes: Any) -> EscrowMirror:
    values: dict[str, Any] = {
        "id": "m", "network": "devnet", "status": RowStatus.CONFIRMED, "listed": True,
        "role": "Buyer", "validity": Validity.VALID, "request_id": "r" * 64,
        "blockchain_identifier": "b", "agent_identifier": "a" * 60, "purchaser_id": "ab" * 7,
        "buyer_address": "addr", "seller_address": "addr", "buyer_key_hash": "b" * 56,
        "seller_key_hash": "s" * 56, "input_hash": "11" * 32, "pay_by_time": 1,
        "submit_result_time": 2, "unlock_time": 3, "external_dispute_unlock_time": 4,
        "collateral_return": 0, "locked": {"cd" * 28: 5}, "reserved": {"cd" * 28: 5},
        "lock_tx_hash": "l" * 64, "lock_output_index": 0, "locked_at": 0, "updated_at": 0,
        "state": OnChainState.FUNDS_LOCKED, "tx_hashes": ["l" * 64], "last_tx_hash": "l" * 64,
    }  # fmt: skip
    values.update(changes)
    return EscrowMirror(**values)


def purchase(**changes: Any) -> Purchase:
    values: dict[str, Any] = {
        "id": "p", "network": "devnet", "blockchain_identifier": "b", "request_id": "r" * 64,
        "agent_identifier": "a" * 60, "pricing_mode": "Fixed", "purchasing_wallet_id": "w",
        "seller_vkey": "s" * 56, "seller_address": "addr", "identifier_from_purchaser": "ab" * 7,
        "paid_funds": [{"amount": "5", "unit": "cd" * 28}], "pay_by_time": 1,
        "submit_result_time": 2, "unlock_time": 3, "external_dispute_unlock_time": 4,
        "input_hash": "11" * 32, "next_action": A.FUNDS_LOCKING_INITIATED,
        "intended_tx_hash": "l" * 64, "lock_tx_hash": "l" * 64, "created_at": 0, "updated_at": 0,
        "next_action_changed_at": 0,
    }  # fmt: skip
    values.update(changes)
    return Purchase(**values)


def test_the_lock_check_names_every_difference() -> None:
    wallet = HotWallet(payment_key_hash="b" * 56)
    assert problems_of(mirror(), purchase(), wallet) == []
    found = problems_of(
        mirror(reserved={"cd" * 28: 4}, unlock_time=9, seller_key_hash="x" * 56),
        purchase(),
        wallet,
    )
    assert [problem.split(":")[0] for problem in found] == ["seller", "unlockTime", "amounts"]


def test_the_next_action_follows_the_escrow() -> None:
    ours, theirs = "o" * 64, "t" * 64
    cases = [
        (purchase(), mirror(), (A.WAITING_FOR_EXTERNAL_ACTION, None)),
        (purchase(next_action=A.WAITING_FOR_EXTERNAL_ACTION),
         mirror(state=OnChainState.WITHDRAWN), (A.NONE, None)),
        (purchase(next_action=A.SET_REFUND_REQUESTED_INITIATED, intended_tx_hash=ours),
         mirror(state=OnChainState.DISPUTED, tx_hashes=["l" * 64, ours]),
         (A.WAITING_FOR_EXTERNAL_ACTION, None)),
        (purchase(next_action=A.SET_REFUND_REQUESTED_INITIATED, intended_tx_hash=ours),
         mirror(state=OnChainState.RESULT_SUBMITTED, tx_hashes=["l" * 64, theirs]),
         (A.SET_REFUND_REQUESTED_REQUESTED, None)),  # the seller's result won the race
        (purchase(next_action=A.WITHDRAW_REFUND_INITIATED, intended_tx_hash=ours),
         mirror(state=OnChainState.REFUND_WITHDRAWN, tx_hashes=["l" * 64, ours]), (A.NONE, None)),
        (purchase(next_action=A.WITHDRAW_REFUND_REQUESTED),
         mirror(state=OnChainState.DISPUTED, result_hash="ab"),
         (A.WAITING_FOR_EXTERNAL_ACTION, None)),
    ]  # fmt: skip
    for bought, escrow, expected in cases:
        assert workers.decide(bought, escrow) == expected, (bought.next_action, escrow.state)
    invalid = workers.decide(purchase(), mirror(validity=Validity.FUNDS_OR_DATUM_INVALID))
    assert invalid[0] == A.WAITING_FOR_MANUAL_ACTION and "FundsOrDatumInvalid" in str(invalid[1])
    gone = workers.decide(purchase(), mirror(status=RowStatus.ROLLED_BACK, state=None))
    assert gone == (A.WAITING_FOR_MANUAL_ACTION, "the lock transaction was rolled back")
    closed = workers.decide(
        purchase(next_action=A.SET_REFUND_REQUESTED_REQUESTED),
        mirror(state=OnChainState.WITHDRAWN),
    )
    assert closed[0] == A.WAITING_FOR_MANUAL_ACTION
