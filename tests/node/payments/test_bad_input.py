"""POST /payment refuses every bad input of the issue with the field named, and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from node.crypto import SecretBox
from node.payments.models import PaymentRequest
from tests.conftest import make_key
from tests.node.payments.conftest import HOUR_MS, MINUTE_MS, USDM, SellerWorld, data, payment_body


def _count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(PaymentRequest)).one())


def _times(
    world: SellerWorld, pay_by: int, submit: int, unlock: int, dispute: int
) -> dict[str, str]:
    now = world.now()
    return {
        "payByTime": str(now + pay_by),
        "submitResultTime": str(now + submit),
        "unlockTime": str(now + unlock),
        "externalDisputeUnlockTime": str(now + dispute),
    }


H, M = HOUR_MS, MINUTE_MS
TIME_CASES = [
    ((-10 * M, 2 * H, 3 * H, 4 * H), "payByTime"),  # too far in the past
    ((2 * H - 4 * M, 2 * H, 3 * H, 4 * H), "payByTime"),  # not 5 min before submitResultTime
    ((5 * M, 10 * M, 3 * H, 4 * H), "submitResultTime"),  # less than 15 min from now
    ((H, 2 * H, 2 * H + 10 * M, 4 * H), "unlockTime"),
    ((H, 2 * H, 3 * H, 3 * H + 10 * M), "externalDisputeUnlockTime"),
]


@pytest.mark.parametrize(("offsets", "field"), TIME_CASES)
def test_times_breaking_the_rules(
    world: SellerWorld, pay: httpx.Client, session: Session, offsets: tuple[int, ...], field: str
) -> None:
    body = payment_body(world, "Fixed", **_times(world, *offsets))
    answer = pay.post("/api/v1/payment", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"] == [field]
    assert _count(session) == 0


def _refused(pay: httpx.Client, body: dict[str, Any], field: str) -> None:
    answer = pay.post("/api/v1/payment", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"] == [field], answer.text


def test_pricing_and_agent_checks(world: SellerWorld, pay: httpx.Client, session: Session) -> None:
    usdm = world.usdm
    _refused(pay, payment_body(world, "Free"), "agentIdentifier")
    fixed_with_funds = payment_body(world, "Fixed", RequestedFunds=[{"amount": "1", "unit": usdm}])
    _refused(pay, fixed_with_funds, "RequestedFunds")
    other_tier = [{"amount": str(2 * USDM), "unit": usdm}]
    _refused(pay, payment_body(world, "Fixed+prices", RequestedFunds=other_tier), "RequestedFunds")
    _refused(pay, payment_body(world, "Dynamic"), "RequestedFunds")
    eight = [{"amount": "1", "unit": usdm}] * 8
    _refused(pay, payment_body(world, "Dynamic", RequestedFunds=eight), "RequestedFunds")
    _refused(pay, payment_body(world, "Fixed", agentIdentifier="ab" * 30), "agentIdentifier")
    _refused(
        pay,
        payment_body(world, "Fixed", identifierFromPurchaser="zz" * 8),
        "identifierFromPurchaser",
    )
    _refused(pay, payment_body(world, "Fixed", network="Mainnet"), "network")
    _refused(
        pay,
        payment_body(
            world, "Dynamic", quoteId="nope", RequestedFunds=[{"amount": "5", "unit": usdm}]
        ),
        "quoteId",
    )
    assert _count(session) == 0
    tier = [{"amount": str(4 * USDM), "unit": usdm}]
    created = data(
        pay.post("/api/v1/payment", json=payment_body(world, "Fixed+prices", RequestedFunds=tier))
    )
    assert created["RequestedFunds"] == tier and created["pricingType"] == "Fixed+prices"


def test_duplicate_is_409_with_the_existing_object(world: SellerWorld, pay: httpx.Client) -> None:
    body = payment_body(world, "Fixed")
    first = data(pay.post("/api/v1/payment", json=body))
    again = pay.post("/api/v1/payment", json=body)
    assert again.status_code == 409
    assert again.json()["id"] == first["id"]
    assert again.json()["object"]["blockchainIdentifier"] == first["blockchainIdentifier"]
    listed = data(pay.get("/api/v1/payment", params={"network": "Devnet"}))
    assert [p["id"] for p in listed["Payments"]] == [first["id"]]
    none = pay.get(
        "/api/v1/payment", params={"network": "Devnet", "filterOnChainState": "Withdrawn"}
    )
    assert data(none)["Payments"] == []


def test_key_without_pay_permission(
    world: SellerWorld, session: Session, secret_box: SecretBox
) -> None:
    with world.node.client(make_key(session, secret_box, permission="Read")) as reader:
        answer = reader.post("/api/v1/payment", json=payment_body(world, "Fixed"))
        assert answer.status_code == 403
        ref = {
            "network": "Devnet",
            "blockchainIdentifier": "ab" * 20,
            "submitResultHash": "ab" * 32,
        }
        assert reader.post("/api/v1/payment/submit-result", json=ref).status_code == 403
    with world.node.client() as anonymous:
        assert (
            anonymous.post("/api/v1/payment", json=payment_body(world, "Fixed")).status_code == 401
        )
    assert _count(session) == 0


def test_submit_result_and_recovery_checks(world: SellerWorld, pay: httpx.Client) -> None:
    payment = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed")))
    ref = {"network": "Devnet", "blockchainIdentifier": payment["blockchainIdentifier"]}
    bad_hash = pay.post("/api/v1/payment/submit-result", json={**ref, "submitResultHash": "ab"})
    assert bad_hash.status_code == 422 and bad_hash.json()["error"]["fields"] == [
        "submitResultHash"
    ]
    unlocked = pay.post(
        "/api/v1/payment/submit-result", json={**ref, "submitResultHash": "ab" * 32}
    )
    assert unlocked.status_code == 409  # nothing locked yet
    assert pay.post("/api/v1/payment/authorize-refund", json=ref).status_code == 409
    stale = pay.post("/api/v1/payment/error-state-recovery", json={**ref, "updatedAt": "1"})
    assert stale.status_code == 409
    unknown = {"network": "Devnet", "blockchainIdentifier": "ab" * 20}
    assert (
        pay.post("/api/v1/payment/resolve-blockchain-identifier", json=unknown).status_code == 404
    )
