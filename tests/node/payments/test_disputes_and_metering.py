"""Disputes on the devnet (the seller authorizes the refund; the admins split the escrow) and a
metered job that settles below its reserve and returns the rest to the buyer in the collection."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from pycardano import PaymentSigningKey, Transaction, VerificationKeyWitness
from pytest_mock import MockerFixture
from sqlmodel import Session, select

from devnet.admins import admin_signing_keys
from node.client import Amount, PaynodeClient
from node.payments import disputes, workers
from node.payments.models import PaymentRequest
from node.payments.service import mirror_of
from node.payments.workers import unit_value
from tests.node.payments.conftest import (
    BUYER,
    MINUTE_MS,
    USDM,
    SellerWorld,
    data,
    lock,
    payment_body,
)
from tests.node.payments.test_lifecycle import SEED_000_PLAN, resolve, usdm_at


def _ref(payment: dict[str, Any]) -> dict[str, str]:
    return {"network": "Devnet", "blockchainIdentifier": payment["blockchainIdentifier"]}


def _submitted(
    world: SellerWorld, pay: httpx.Client, payment: dict[str, Any], **extra: Any
) -> None:
    body = {**_ref(payment), "submitResultHash": hashlib.sha256(b"r").hexdigest(), **extra}
    assert pay.post("/api/v1/payment/submit-result", json=body).status_code == 200
    world.tick()
    world.blocks()
    world.tick()
    assert resolve(pay, payment)["onChainState"] == "ResultSubmitted"


def _refund_requested(world: SellerWorld, session: Session, payment: dict[str, Any]) -> None:
    row = session.exec(
        select(PaymentRequest).where(PaymentRequest.request_id == payment["requestId"])
    ).one()
    mirror = mirror_of(session, row)
    assert mirror is not None
    utxo = workers.escrow_utxo(world.runtime, mirror)
    world.submit(world.builders().set_refund_requested(BUYER, utxo, payment["requestId"]).cbor)


def test_disputes_resolved_by_the_seller_and_by_the_admins(
    world: SellerWorld, pay: httpx.Client, admin: httpx.Client, session: Session
) -> None:
    refunded = data(
        pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "0303030303030303"))
    )
    split = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "0404040404040404")))
    for payment in (refunded, split):
        lock(world, payment, unit_value(world.usdm, 2 * USDM))
    world.tick()
    for payment in (refunded, split):
        _submitted(world, pay, payment)
        _refund_requested(world, session, payment)
    world.tick()
    assert resolve(pay, refunded)["onChainState"] == "Disputed"

    early = admin.post(
        "/api/v1/payment/resolve-dispute",
        json={**_ref(split), "sellerAmounts": [], "buyerAmounts": []},
    )
    assert early.status_code == 409  # before the external dispute unlock time

    answer = pay.post("/api/v1/payment/authorize-refund", json=_ref(refunded))
    assert data(answer)["NextAction"]["requestedAction"] == "AuthorizeRefundRequested"
    world.advance(25 * MINUTE_MS)  # past the seller's cooldown from SubmitResult
    assert world.tick()["carry_out"] == 1
    world.blocks()
    world.tick()
    shown = resolve(pay, refunded)
    assert shown["onChainState"] == "RefundRequested"
    assert shown["NextAction"]["requestedAction"] == "WaitingForExternalAction"

    world.advance(int(split["externalDisputeUnlockTime"]) - world.now() + MINUTE_MS)
    buyer_before = usdm_at(world, str(BUYER.address))
    body = {
        **_ref(split),
        "sellerAmounts": [{"amount": str(USDM // 2), "unit": world.usdm}],
        "buyerAmounts": [{"amount": str(3 * USDM // 2), "unit": world.usdm}],
    }
    assert pay.post("/api/v1/payment/resolve-dispute", json=body).status_code == 403
    resolved = data(admin.post("/api/v1/payment/resolve-dispute", json=body))
    assert resolved["txHash"] and resolved["requiredSignatures"] == 2
    world.blocks()
    world.tick()
    shown = resolve(pay, split)
    assert shown["onChainState"] == "DisputedWithdrawn"
    assert shown["NextAction"]["requestedAction"] == "None"
    assert usdm_at(world, str(BUYER.address)) - buyer_before == 3 * USDM // 2


def test_metered_job_returns_the_unused_reserve_in_the_collection(
    world: SellerWorld, pay: httpx.Client, admin: httpx.Client
) -> None:
    agent = world.agents["Dynamic"]
    put = admin.put(
        "/api/v1/billing/pricing",
        params={"agentIdentifier": agent},
        content=SEED_000_PLAN,
        headers={"content-type": "application/json"},
    )
    assert put.status_code == 200, put.text
    estimate = {"input_tokens": 2_000_000, "output_tokens": 2_000_000}
    quote = data(
        pay.post(
            f"/api/v1/public/pricing/{agent}/quote",
            json={"buyer": BUYER.key_hash.payload.hex(), "usage": estimate},
        )
    )
    reserve = int(quote["reserve"])
    funds = [{"amount": str(reserve), "unit": world.usdm}]
    body = payment_body(
        world, "Dynamic", "0505050505050505", RequestedFunds=funds, quoteId=quote["id"]
    )
    payment = data(pay.post("/api/v1/payment", json=body))
    assert payment["quoteId"] == quote["id"] and payment["RequestedFunds"] == funds
    lock(world, payment, unit_value(world.usdm, reserve))
    world.tick()
    _submitted(world, pay, payment, usage={"input_tokens": 1_000_000, "output_tokens": 1_000_000})
    charge = int(resolve(pay, payment)["charge"]["amount"])
    assert 0 < charge < reserve
    with PaynodeClient(world.node.url, pay.headers["token"]) as client:  # typed, not a dict
        typed = client.resolve_payment(payment["blockchainIdentifier"])
    assert typed.charge == Amount(amount=charge, unit=world.usdm)
    assert typed.usage == {"input_tokens": 1_000_000, "output_tokens": 1_000_000}

    buyer_before = usdm_at(world, str(BUYER.address))
    world.advance(int(payment["unlockTime"]) - world.now() + MINUTE_MS)
    world.tick()
    world.blocks()
    world.tick()
    done = resolve(pay, payment)
    assert done["onChainState"] == "Withdrawn", done
    assert usdm_at(world, str(BUYER.address)) - buyer_before == reserve - charge


def test_admins_who_sign_elsewhere_get_the_transaction_and_send_back_their_witnesses(
    world: SellerWorld,
    pay: httpx.Client,
    admin: httpx.Client,
    session: Session,
    mocker: MockerFixture,
) -> None:
    """Off the devnet the node holds no admin key: resolve-dispute answers the transaction, signed
    by the paying wallet only, with the admins as required signers; the admins sign its body
    where they keep their keys and submit their witnesses."""
    mocker.patch.object(disputes, "_admin_keys", return_value=[])  # the node holds none
    payment = data(
        pay.post("/api/v1/payment", json=payment_body(world, "Fixed", "0606060606060606"))
    )
    lock(world, payment, unit_value(world.usdm, 2 * USDM))
    world.tick()
    _submitted(world, pay, payment)
    _refund_requested(world, session, payment)
    world.tick()
    world.advance(int(payment["externalDisputeUnlockTime"]) - world.now() + MINUTE_MS)
    body = {
        **_ref(payment),
        "sellerAmounts": [{"amount": str(USDM), "unit": world.usdm}],
        "buyerAmounts": [{"amount": str(USDM), "unit": world.usdm}],
    }
    answered = data(admin.post("/api/v1/payment/resolve-dispute", json=body))
    assert answered["status"] == "AwaitingAdminSignatures" and answered["txCbor"]
    tx = Transaction.from_cbor(bytes.fromhex(answered["txCbor"]))
    required = {bytes(h.payload).hex() for h in tx.transaction_body.required_signers}
    assert set(answered["requiredSigners"]) <= required
    keys = [k for k in admin_signing_keys() if _hash(k) in answered["requiredSigners"]]
    assert len(keys) == answered["requiredSignatures"] == 2
    body_hash = tx.transaction_body.hash()
    witnesses = [
        VerificationKeyWitness(k.to_verification_key(), k.sign(body_hash)).to_cbor_hex()
        for k in keys
    ]
    bad = admin.post(
        "/api/v1/payment/resolve-dispute/submit",
        json={"network": "Devnet", "txCbor": answered["txCbor"], "witnesses": witnesses[:1]},
    )
    assert bad.status_code == 409  # one admin short: the ledger refuses it
    sent = admin.post(
        "/api/v1/payment/resolve-dispute/submit",
        json={"network": "Devnet", "txCbor": answered["txCbor"], "witnesses": witnesses},
    )
    assert data(sent)["txHash"] == answered["txHash"]
    world.blocks()
    world.tick()
    shown = resolve(pay, payment)
    assert shown["onChainState"] == "DisputedWithdrawn"


def _hash(key: PaymentSigningKey) -> str:
    return str(key.to_verification_key().hash().payload.hex())
