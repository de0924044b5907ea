"""/api/v1/webhooks over real HTTP: create (secret once), list, patch, delete, test; bad input
answered 422 naming the field with nothing written; who may see and change what."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from node.crypto import SecretBox
from node.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from node.webhooks.service import emit, verify_signature
from tests.conftest import LiveNode, make_key
from tests.node.webhooks.conftest import Receiver

TOKEN = "receiver-token-0123"


@pytest.fixture
def pay(node: LiveNode, session: Session, secret_box: SecretBox) -> httpx.Client:
    return node.client(make_key(session, secret_box, permission="ReadAndPay"))


@pytest.fixture
def other_pay(node: LiveNode, session: Session, secret_box: SecretBox) -> httpx.Client:
    return node.client(make_key(session, secret_box, permission="ReadAndPay"))


def body(url: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "url": url,
        "Events": ["PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR"],
        "authToken": TOKEN,
        "name": "ops",
    }
    values.update(fields)
    return {key: value for key, value in values.items() if value is not None}


def create(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", json=body(url, **fields))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/webhooks", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]["Webhooks"]
    return rows


def test_create_shows_the_signing_secret_once_and_stores_secrets_encrypted(
    pay: httpx.Client, session: Session, receiver: Receiver
) -> None:
    created = create(pay, receiver.url)
    assert created["signingSecret"].startswith("whsec_")
    assert created["Events"] == ["PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR"]
    assert created["format"] == "EXTENDED" and created["isActive"] is True
    assert created["hasAuthToken"] is True and created["failureCount"] == 0
    [row] = listed(pay)
    assert row["id"] == created["id"] and row["signingSecret"] is None
    assert "authToken" not in row
    stored = session.exec(select(WebhookSubscription)).one()
    assert TOKEN.encode() not in (stored.encrypted_auth_token or b"")
    secret = created["signingSecret"].encode()
    assert secret not in stored.encrypted_signing_secret


def test_older_masumi_spellings_are_accepted(pay: httpx.Client, receiver: Receiver) -> None:
    response = pay.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["PURCHASE_ON_ERROR"], "authToken": TOKEN},
    )
    assert response.status_code == 200, response.text
    webhook_id = response.json()["data"]["id"]
    patched = pay.patch("/api/v1/webhooks", json={"webhookId": webhook_id, "name": "renamed"})
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "renamed"


BAD_BODIES = [
    ("url", {"url": "ftp://example.org/hook"}),
    ("url", {"url": "not a url"}),
    ("Events", {"Events": []}),
    ("Events", {"Events": ["PAYMENT_DONE"]}),
    ("format", {"format": "TEAMS"}),
    ("authToken", {"authToken": "short"}),
    ("authToken", {"authToken": None}),  # EXTENDED needs one
    ("name", {"name": "n" * 101}),
    ("colour", {"colour": "blue"}),
]


@pytest.mark.parametrize(("field", "change"), BAD_BODIES)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    pay: httpx.Client,
    session: Session,
    receiver: Receiver,
    field: str,
    change: dict[str, Any],
) -> None:
    values = body(receiver.url)
    values.update(change)
    values = {key: value for key, value in values.items() if value is not None}
    response = pay.post("/api/v1/webhooks", json=values)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [name.split(".")[0] for name in error["fields"]] == [field], error
    assert error["message"].startswith(field), error
    assert session.exec(select(WebhookSubscription)).all() == []


def test_duplicate_is_409_with_the_existing_webhook(pay: httpx.Client, receiver: Receiver) -> None:
    created = create(pay, receiver.url)
    response = pay.post("/api/v1/webhooks", json=body(receiver.url))
    assert response.status_code == 409
    assert response.json()["id"] == created["id"]
    assert response.json()["object"]["url"] == receiver.url
    assert "signingSecret" not in response.json()["object"] or (
        response.json()["object"]["signingSecret"] is None
    )
    create(pay, receiver.url, paymentSourceId="source-2")  # another payment source is another


def test_chat_formats_need_no_token(pay: httpx.Client, receiver: Receiver) -> None:
    created = create(pay, receiver.url, format="DISCORD", authToken=None)
    assert created["hasAuthToken"] is False
    response = pay.patch("/api/v1/webhooks", json={"id": created["id"], "format": "EXTENDED"})
    assert response.status_code == 422 and response.json()["error"]["fields"] == ["authToken"]


def test_keys_see_and_change_only_their_own_and_admins_all(
    pay: httpx.Client, other_pay: httpx.Client, admin: httpx.Client, receiver: Receiver
) -> None:
    mine = create(pay, receiver.url)
    theirs = create(other_pay, receiver.url)  # the same url under another key is allowed
    assert [row["id"] for row in listed(pay)] == [mine["id"]]
    assert {row["id"] for row in listed(admin)} == {mine["id"], theirs["id"]}
    assert listed(admin, limit=1)[0]["id"] == theirs["id"]  # newest first
    for method, path in (("PATCH", ""), ("DELETE", ""), ("POST", "/test")):
        response = pay.request(method, "/api/v1/webhooks" + path, json={"id": theirs["id"]})
        assert response.status_code == 403, (method, response.text)
    response = pay.request("DELETE", "/api/v1/webhooks", json={"id": "0" * 32})
    assert response.status_code == 404
    response = admin.patch("/api/v1/webhooks", json={"id": mine["id"], "name": "by admin"})
    assert response.status_code == 200


def test_pagination_follows_the_cursor(pay: httpx.Client, receiver: Receiver) -> None:
    ids = [create(pay, f"{receiver.url}?n={n}")["id"] for n in range(3)]
    first = pay.get("/api/v1/webhooks", params={"limit": 2}).json()["data"]
    assert [row["id"] for row in first["Webhooks"]] == ids[::-1][:2]
    rest = pay.get("/api/v1/webhooks", params={"limit": 2, "cursorId": first["nextCursorId"]})
    assert [row["id"] for row in rest.json()["data"]["Webhooks"]] == [ids[0]]
    assert rest.json()["data"]["nextCursorId"] is None


def test_patch_disables_and_reenabling_clears_the_failure_count(
    pay: httpx.Client, session: Session, receiver: Receiver
) -> None:
    created = create(pay, receiver.url)
    emit(session, "PAYMENT_ON_ERROR", {"id": "p"})
    session.commit()
    response = pay.patch("/api/v1/webhooks", json={"id": created["id"], "isActive": False})
    data = response.json()["data"]
    assert data["isActive"] is False and data["disabledAt"] is not None
    delivery = session.exec(select(WebhookDelivery)).one()
    assert delivery.status == DeliveryStatus.CANCELLED
    stored = session.get(WebhookSubscription, created["id"])
    assert stored is not None
    stored.consecutive_failures = 10
    session.add(stored)
    session.commit()
    change = {"id": created["id"], "isActive": True, "Events": ["PURCHASE_ON_ERROR"]}
    data = pay.patch("/api/v1/webhooks", json=change).json()["data"]
    assert data["isActive"] is True and data["failureCount"] == 0 and data["disabledAt"] is None
    assert data["Events"] == ["PURCHASE_ON_ERROR"]


def test_delete_cancels_queued_deliveries_and_hides_the_webhook(
    pay: httpx.Client, session: Session, receiver: Receiver
) -> None:
    created = create(pay, receiver.url)
    emit(session, "PAYMENT_ON_CHAIN_STATUS_CHANGED", {"id": "p"})
    session.commit()
    response = pay.request("DELETE", "/api/v1/webhooks", json={"webhookId": created["id"]})
    assert response.status_code == 200
    assert response.json()["data"]["id"] == created["id"]
    assert listed(pay) == []
    session.expire_all()
    assert session.exec(select(WebhookDelivery)).one().status == DeliveryStatus.CANCELLED
    again = pay.request("DELETE", "/api/v1/webhooks", json={"id": created["id"]})
    assert again.status_code == 404
    create(pay, receiver.url)  # the url is free again


def test_test_event_is_sent_now_signed_and_reports_the_answer(
    pay: httpx.Client, receiver: Receiver
) -> None:
    created = create(pay, receiver.url)
    response = pay.post("/api/v1/webhooks/test", json={"id": created["id"]})
    result = response.json()["data"]
    assert result["success"] is True and result["responseCode"] == 200
    assert result["webhookId"] == created["id"]
    [request] = receiver.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    sent = request.json()
    assert sent["event_type"] == "WEBHOOK_TEST" and sent["webhook_id"] == created["id"]
    secret = created["signingSecret"]
    assert verify_signature(secret, request.headers["paynode-signature"], request.body)
    receiver.default = 500
    result = pay.post("/api/v1/webhooks/test", json={"id": created["id"]}).json()["data"]
    assert result == {
        "webhookId": created["id"],
        "success": False,
        "responseCode": 500,
        "errorMessage": "HTTP 500",
        "durationMs": result["durationMs"],
    }


def test_read_keys_and_no_keys_are_refused(
    node: LiveNode, session: Session, secret_box: SecretBox, receiver: Receiver
) -> None:
    read = node.client(make_key(session, secret_box, permission="Read"))
    assert read.post("/api/v1/webhooks", json=body(receiver.url)).status_code == 403
    assert read.get("/api/v1/webhooks").status_code == 403
    assert node.client().get("/api/v1/webhooks").status_code == 401
    assert session.exec(select(WebhookSubscription)).all() == []
