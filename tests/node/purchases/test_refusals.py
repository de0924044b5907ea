"""Refused with the reason, nothing written or locked: a Dynamic purchase whose confirmed amounts
differ from its quote or whose quote expired, an agent answer that does not verify, a Free agent,
amounts other than the fixed price, times that break §9.3, a key without pay permission or
credits; a second purchase of one identifier answers 409 with the first."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import Session, select

from node.auth.models import ApiKeyCredit
from node.crypto import SecretBox
from node.purchases.models import PurchaseQuote
from tests.conftest import make_key
from tests.node.purchases.conftest import MINUTE_MS, USDM, BuyerWorld
from tests.node.purchases.flows import purchase_body, quote


def refused(answer: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    if field is not None:
        assert field in error["fields"], error
    return error


def nothing_locked(world: BuyerWorld) -> None:
    assert world.lock() == 0
    assert all(p.lock_tx_hash is None for p in world.purchases())


def test_a_dynamic_purchase_must_confirm_the_quote_and_come_before_it_expires(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin, ada=0)
    offer = quote(pay, world, "dynamic")
    assert offer["pricingMode"] == "Dynamic" and offer["sellerQuote"]["reserve"] == str(3 * USDM)
    other = [{"amount": str(2 * USDM), "unit": world.usdm}]
    refused(pay.post("/api/v1/purchase", json=purchase_body(offer, confirmedAmounts=other)),
            422, "confirmedAmounts")  # fmt: skip
    refused(pay.post("/api/v1/purchase", json=purchase_body(offer, Amounts=other)), 422, "Amounts")
    unconfirmed = purchase_body(offer)
    del unconfirmed["confirmedAmounts"]
    refused(pay.post("/api/v1/purchase", json=unconfirmed), 422, "confirmedAmounts")

    world.spec("dynamic").quote_ttl_ms = MINUTE_MS
    short = quote(pay, world, "dynamic")
    assert int(short["expiresAt"]) == int(short["sellerQuote"]["expiresAt"])
    world.advance(2 * MINUTE_MS)
    error = refused(pay.post("/api/v1/purchase", json=purchase_body(short)), 422, "quoteId")
    assert "expired" in error["message"]
    assert world.purchases() == []
    nothing_locked(world)


def test_answers_that_do_not_verify_and_free_agents_are_refused(
    world: BuyerWorld, pay: httpx.Client, session: Session
) -> None:
    def ask(name: str) -> httpx.Response:
        body = {"network": "Devnet", "agentIdentifier": world.spec(name).identifier,
                "inputData": {"text": "hello"}}  # fmt: skip
        return pay.post("/api/v1/quotes", json=body)

    refused(ask("free"), 422, "agentIdentifier")
    body = {"network": "Devnet", "agentIdentifier": world.spec("fixed").identifier,
            "inputData": {}, "option": 1}  # fmt: skip
    refused(pay.post("/api/v1/quotes", json=body), 422, "option")  # Fixed has no tiers
    world.spec("fixed").times = (30, 32, 120, 180)  # pay-by only 2 minutes before the deadline
    refused(ask("fixed"), 422, "payByTime")
    world.spec("fixed").times = (30, 60, 70, 180)  # unlock 10 minutes after the deadline
    refused(ask("fixed"), 422, "unlockTime")
    world.spec("fixed").times = (30, 60, 120, 180)
    world.spec("fixed").after_signing = {"amounts": [{"amount": "1", "unit": world.usdm}]}
    refused(ask("fixed"), 422, "amounts")
    cheap = {"id": "q1", "unit": world.usdm, "reserve": "1", "expiresAt": world.now() + MINUTE_MS}
    world.spec("dynamic").after_signing = {"quote": cheap}
    error = refused(ask("dynamic"), 422, "amounts")  # not what the seller's quote reserves
    assert error["code"] == "quote_refused"
    world.spec("tiers").after_signing = {"unlockTime": str(world.now() + 150 * MINUTE_MS)}
    refused(ask("tiers"), 422, "blockchainIdentifier")  # the signature covers the times
    world.spec("tiers").after_signing = {"sellerVKey": "ab" * 28}
    refused(ask("tiers"), 422, "sellerVkey")
    world.spec("tiers").after_signing = {"input_hash": "ab" * 32}
    refused(ask("tiers"), 422, "input_hash")
    world.spec("tiers").after_signing = {"payByTime": "soon"}
    assert refused(ask("tiers"), 502)["code"] == "agent_error"
    assert session.exec(select(PurchaseQuote)).all() == []


def test_purchase_bodies_are_checked_field_by_field(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin, ada=0)
    offer = quote(pay, world, "fixed")
    masumi = purchase_body(offer)  # Masumi's body, no quote
    del masumi["quoteId"], masumi["confirmedAmounts"]

    def post(**changes: Any) -> httpx.Response:
        return pay.post("/api/v1/purchase", json={**masumi, **changes})

    refused(post(network="Preprod"), 422, "network")
    refused(post(identifierFromPurchaser="not hex at all"), 422, "identifierFromPurchaser")
    refused(post(payByTime="tomorrow"), 422, "payByTime")
    refused(post(Amounts=[{"amount": "1", "unit": world.usdm}]), 422, "Amounts")
    refused(post(unlockTime=offer["submitResultTime"]), 422, "unlockTime")
    refused(post(unlockTime=str(int(offer["unlockTime"]) + 1)), 422, "blockchainIdentifier")
    refused(post(sellerVkey="cd" * 28), 422, "sellerVkey")
    refused(post(blockchainIdentifier="abcd"), 422, "blockchainIdentifier")
    refused(post(smartContractAddress="addr_test1xyz"), 422, "smartContractAddress")
    refused(post(surprise=1), 422, "surprise")
    assert world.purchases() == []

    first = post()
    assert first.status_code == 200, first.text
    again = post()
    refused(again, 409)
    assert again.json()["id"] == first.json()["data"]["id"]
    assert again.json()["object"]["blockchainIdentifier"] == offer["blockchainIdentifier"]
    assert len(world.purchases()) == 1


def test_pay_permission_and_usage_credits(
    world: BuyerWorld, admin: httpx.Client, session: Session, secret_box: SecretBox
) -> None:
    world.purchasing_wallet(admin, ada=0)
    reader = world.node.client(make_key(session, secret_box, permission="Read"))
    assert reader.post("/api/v1/quotes", json={}).status_code == 403
    credits = [{"unit": world.usdm, "amount": str(5 * USDM)}]
    token = make_key(session, secret_box, permission="ReadAndPay", UsageCredits=credits)
    limited = world.node.client(token)
    poor = world.node.client(make_key(session, secret_box, permission="ReadAndPay"))

    fixed = quote(limited, world, "fixed")
    refused(poor.post("/api/v1/purchase", json=purchase_body(fixed)), 400)
    assert limited.post("/api/v1/purchase", json=purchase_body(fixed)).status_code == 200
    tier = quote(limited, world, "tiers", option=1)  # 4 USDM, 3 left
    error = refused(limited.post("/api/v1/purchase", json=purchase_body(tier)), 400)
    assert error["code"] == "insufficient_credits"
    left = session.exec(select(ApiKeyCredit).where(ApiKeyCredit.unit == world.usdm)).all()
    assert sorted(credit.amount for credit in left) == [3 * USDM]
    assert len(world.purchases()) == 1
    for client in (reader, limited, poor):
        client.close()
