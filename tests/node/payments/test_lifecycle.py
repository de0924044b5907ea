"""The seller's side end to end on a devnet: a payment request, a buyer's lock, the result, the
automatic collection after the unlock time with the protocol fee checked from the chain."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from pycardano import Address, Value
from sqlmodel import Session, select

from node.payments.models import PaymentRequest
from node.payments.signing import PaymentTimes, verify_blockchain_identifier
from node.payments.workers import unit_value
from tests.node.payments.conftest import (
    BUYER,
    HOUR_MS,
    MINUTE_MS,
    USDM,
    SellerWorld,
    data,
    lock,
    payment_body,
)

# Seed 000's token-based plan (USD, billed per million tokens)
SEED_000_PLAN = """{"pricing_model": "token_based", "currency": "USD", "enabled": true,
"base_price": 0.01, "token_price_input": 0.10, "token_price_output": 0.30, "free_quota": 0,
"minimum_charge": 0.005}"""


def resolve(client: httpx.Client, payment: dict[str, Any], history: bool = False) -> Any:
    body = {
        "network": "Devnet",
        "blockchainIdentifier": payment["blockchainIdentifier"],
        "includeHistory": history,
    }
    return data(client.post("/api/v1/payment/resolve-blockchain-identifier", json=body))


def usdm_at(world: SellerWorld, address: str) -> int:
    assert world.runtime.chain is not None
    total = 0
    for utxo in world.runtime.chain.utxos_at(address):
        for policy, assets in utxo.output.amount.multi_asset.items():
            for name, quantity in assets.items():
                if policy.payload.hex() + name.payload.hex() == world.usdm:
                    total += quantity
    return total


def test_fixed_job_is_locked_served_and_collected(world: SellerWorld, pay: httpx.Client) -> None:
    payment = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed")))
    assert payment["RequestedFunds"] == [{"amount": str(2 * USDM), "unit": world.usdm}]
    assert payment["onChainState"] is None
    assert payment["NextAction"]["requestedAction"] == "WaitingForExternalAction"
    times = PaymentTimes(
        *(
            int(payment[k])
            for k in ("payByTime", "submitResultTime", "unlockTime", "externalDisputeUnlockTime")
        )
    )
    verify_blockchain_identifier(
        payment["blockchainIdentifier"],
        identifier_from_purchaser=payment["identifierFromPurchaser"],
        agent_identifier=payment["agentIdentifier"],
        seller_vkey=payment["SmartContractWallet"]["walletVkey"],
        holder_address=world.seller_address,
        requested_funds=None,
        times=times,
        input_hash=payment["inputHash"],
    )

    lock(world, payment, unit_value(world.usdm, 2 * USDM))
    world.tick()
    locked = resolve(pay, payment)
    assert locked["onChainState"] == "FundsLocked", locked
    assert locked["NextAction"]["requestedAction"] == "WaitingForExternalAction"

    result = hashlib.sha256(b"the result").hexdigest()
    body = {
        "network": "Devnet",
        "blockchainIdentifier": payment["blockchainIdentifier"],
        "submitResultHash": result,
    }
    submitted = data(pay.post("/api/v1/payment/submit-result", json=body))
    assert submitted["NextAction"]["requestedAction"] == "SubmitResultRequested"
    assert world.tick()["carry_out"] == 1
    assert resolve(pay, payment)["NextAction"]["requestedAction"] == "SubmitResultInitiated"
    world.blocks()
    world.tick()
    shown = resolve(pay, payment)
    assert (shown["onChainState"], shown["resultHash"]) == ("ResultSubmitted", result)
    assert shown["NextAction"]["requestedAction"] == "WaitingForExternalAction"

    fee_address = world.runtime.network.escrow.fee_address
    assert fee_address is not None
    fee_before = usdm_at(world, fee_address)
    seller_before = usdm_at(world, world.seller_address)
    world.advance(int(payment["unlockTime"]) - world.now() + MINUTE_MS)
    moved = world.tick()
    assert moved["decide"] == 1 and moved["carry_out"] == 1
    world.blocks()
    world.tick()
    done = resolve(pay, payment, history=True)
    assert done["onChainState"] == "Withdrawn"
    assert done["NextAction"]["requestedAction"] == "None"
    fee = 2 * USDM * 50 // 1000
    assert usdm_at(world, fee_address) - fee_before == fee
    assert usdm_at(world, world.seller_address) - seller_before == 2 * USDM - fee
    assert done["WithdrawnForSeller"] and done["TransactionHistory"]
    actions = [a["requestedAction"] for a in done["ActionHistory"]]
    assert actions[0] == "WaitingForExternalAction" and actions[-1] == "None"
    assert "WithdrawInitiated" in actions


def test_unpaid_request_times_out(world: SellerWorld, pay: httpx.Client, session: Session) -> None:
    payment = data(
        pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "aabbccddeeff0011"))
    )
    world.advance(int(payment["payByTime"]) - world.now() + 6 * MINUTE_MS)
    world.tick()
    shown = resolve(pay, payment)
    assert shown["onChainState"] == "FundsOrDatumInvalid"
    assert shown["NextAction"]["requestedAction"] == "WaitingForManualAction"
    assert "payByTime" in shown["NextAction"]["errorNote"]
    row = session.exec(select(PaymentRequest)).one()
    assert row.seen_state == "FundsOrDatumInvalid"


def test_spoofed_lock_is_invalid_and_never_served(world: SellerWorld, pay: httpx.Client) -> None:
    cheap = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "0101010101010101")))
    late = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "0202020202020202")))
    lock(world, cheap, unit_value(world.usdm, 1 * USDM))  # half the price
    lock(
        world, late, unit_value(world.usdm, 2 * USDM), unlock_time=int(late["unlockTime"]) - HOUR_MS
    )
    world.tick()
    for payment, reason in ((cheap, "amount"), (late, "unlockTime")):
        shown = resolve(pay, payment)
        assert shown["onChainState"] == "FundsOrDatumInvalid", shown
        assert reason in shown["invalidReason"]
        assert shown["NextAction"]["requestedAction"] == "WaitingForManualAction"
        body = {
            "network": "Devnet",
            "blockchainIdentifier": payment["blockchainIdentifier"],
            "submitResultHash": "ab" * 32,
        }
        refused = pay.post("/api/v1/payment/submit-result", json=body)
        assert refused.status_code == 409, refused.text
    assert Address.from_primitive(world.seller_address) and isinstance(BUYER.address, Address)
    assert Value(0) == Value(0)
