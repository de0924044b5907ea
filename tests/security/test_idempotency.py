"""`Idempotency-Key` on POST replays the first response (DESIGN.md, Reliability rules; ADR 0016).

Over real HTTP, on SQLite and PostgreSQL: creating an API key and a payment request twice with
one key makes one row and answers the same; another request under the same key is refused; a
duplicate while the first runs is a 409; a 5xx is not kept; keys expire after 24 hours.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, update
from sqlmodel import Session, select

from node.auth import service as auth_service
from node.auth.models import ApiKey
from node.clock import now_ms
from node.crypto import SecretBox
from node.idempotency.models import IdempotencyState, IdempotentRequest
from node.idempotency.service import LEASE_MS, TTL_MS
from node.payments.models import PaymentRequest
from tests.conftest import LiveNode, make_key
from tests.node.payments.conftest import (  # noqa: F401 - fixtures of the seller world
    SellerWorld,
    payment_body,
    seller_devnet,
    seller_world,
    world,
)

KEY_BODY = {"permission": "Read", "usageLimited": False}


def key_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(ApiKey)).one())


def stored(engine: Engine) -> list[IdempotentRequest]:
    with Session(engine) as session:
        return list(session.exec(select(IdempotentRequest)))


def post_key(
    admin: httpx.Client, key: str | None, body: dict[str, Any] = KEY_BODY
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return admin.post("/api/v1/api-key", json=body, headers=headers)


def test_a_retried_create_replays_the_first_answer_and_makes_one_key(
    node: LiveNode, admin: httpx.Client, engine: Engine
) -> None:
    before = key_count(engine)
    first = post_key(admin, "create-read-key-1")
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    token = first.json()["data"]["token"]
    assert token.startswith("paynode_")

    again = post_key(admin, "create-read-key-1", body={"usageLimited": False, "permission": "Read"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the same key, its token shown again to its creator
    assert key_count(engine) == before + 1
    with node.client(token) as reader:
        assert reader.get("/api/v1/api-key-status").json()["data"]["permission"] == "Read"
    [row] = stored(engine)
    assert row.state == IdempotencyState.COMPLETED and row.response_status == 200

    # another key is another request
    other = post_key(admin, "create-read-key-2")
    assert other.status_code == 200 and other.json()["data"]["token"] != token
    assert key_count(engine) == before + 2


def test_without_the_header_each_post_runs(admin: httpx.Client, engine: Engine) -> None:
    before = key_count(engine)
    tokens = {post_key(admin, None).json()["data"]["token"] for _ in range(2)}
    assert len(tokens) == 2 and key_count(engine) == before + 2
    assert stored(engine) == []


def test_the_same_key_with_another_request_is_refused(admin: httpx.Client, engine: Engine) -> None:
    assert post_key(admin, "reused").status_code == 200
    before = key_count(engine)
    for answer in (
        post_key(admin, "reused", body={"permission": "ReadAndPay", "usageLimited": False}),
        admin.post("/api/v1/webhooks", json={}, headers={"Idempotency-Key": "reused"}),
    ):
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["fields"] == ["Idempotency-Key"]
        assert error["message"].startswith("Idempotency-Key:")
    assert key_count(engine) == before


def test_keys_are_per_api_key(
    node: LiveNode, admin: httpx.Client, session: Session, engine: Engine
) -> None:
    other_token = make_key(session, node.runtime.secrets, canAdmin=True)
    first = post_key(admin, "shared-name").json()["data"]["token"]
    with node.client(other_token) as other_admin:
        second = post_key(other_admin, "shared-name")
    assert second.status_code == 200 and "Idempotent-Replayed" not in second.headers
    assert second.json()["data"]["token"] != first


def test_a_duplicate_while_the_first_runs_is_a_409(
    node: LiveNode, admin: httpx.Client, engine: Engine, mocker: MockerFixture
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_create = auth_service.create_key

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(30)
        return real_create(*args, **kwargs)

    mocker.patch("node.auth.service.create_key", side_effect=slow_create)
    answers: list[httpx.Response] = []
    headers = {"token": admin.headers["token"], "Idempotency-Key": "slow"}

    def first_request() -> None:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            answers.append(client.post("/api/v1/api-key", json=KEY_BODY, headers=headers))

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert entered.wait(30)
        [row] = stored(engine)
        assert row.state == IdempotencyState.IN_PROGRESS
        duplicate = post_key(admin, "slow")
        assert duplicate.status_code == 409, duplicate.text
        assert duplicate.json()["error"]["code"] == "idempotency_key_in_use"
        assert duplicate.headers["Retry-After"] == "1"
    finally:
        release.set()
        thread.join(60)
    [first] = answers
    assert first.status_code == 200
    replay = post_key(admin, "slow")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()


def test_a_5xx_is_not_kept_and_a_retry_runs_again(
    admin: httpx.Client, engine: Engine, mocker: MockerFixture
) -> None:
    before = key_count(engine)
    mocker.patch("node.auth.service.create_key", side_effect=RuntimeError("disk on fire"))
    # uvicorn closes the connection after an unhandled error: that request has its own client
    with httpx.Client(base_url=str(admin.base_url), headers=admin.headers) as once:
        failed = post_key(once, "after-a-crash")
    assert failed.status_code == 500
    assert stored(engine) == []
    mocker.stopall()
    retried = post_key(admin, "after-a-crash")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert key_count(engine) == before + 1


def test_a_client_error_is_kept_and_replayed(admin: httpx.Client, engine: Engine) -> None:
    bad = {"permission": "Read", "NetworkLimit": ["Nowhere"]}
    first = post_key(admin, "bad-input", body=bad)
    assert first.status_code == 422
    again = post_key(admin, "bad-input", body=bad)
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_keys_expire_after_24_hours(admin: httpx.Client, engine: Engine) -> None:
    first = post_key(admin, "yesterday").json()["data"]["token"]
    with engine.begin() as connection:
        connection.execute(
            update(IdempotentRequest).values(created_at=IdempotentRequest.created_at - TTL_MS)
        )
    before = key_count(engine)
    later = post_key(admin, "yesterday", body={"permission": "ReadAndPay"})
    assert later.status_code == 200 and "Idempotent-Replayed" not in later.headers
    assert (
        later.json()["data"]["token"] != first
        and later.json()["data"]["permission"] == "ReadAndPay"
    )
    assert key_count(engine) == before + 1
    assert len(stored(engine)) == 1


def test_an_abandoned_attempt_is_taken_over_after_its_lease(
    admin: httpx.Client, engine: Engine
) -> None:
    """A row left InProgress by a process that died: 409 during its lease, then retried."""
    first = post_key(admin, "orphan").json()["data"]["token"]
    abandoned = dict(state=IdempotencyState.IN_PROGRESS, response_status=None, response_body=None)
    with engine.begin() as connection:
        connection.execute(update(IdempotentRequest).values(claimed_at=now_ms(), **abandoned))
    assert post_key(admin, "orphan").status_code == 409
    with engine.begin() as connection:
        connection.execute(
            update(IdempotentRequest).values(claimed_at=now_ms() - LEASE_MS - 1, **abandoned)
        )
    before = key_count(engine)
    retried = post_key(admin, "orphan")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert retried.json()["data"]["token"] != first
    assert key_count(engine) == before + 1
    [row] = stored(engine)
    assert row.state == IdempotencyState.COMPLETED


def test_a_bad_header_is_refused_naming_it(admin: httpx.Client, engine: Engine) -> None:
    before = key_count(engine)
    for value in (b"x" * 256, "caf\u00e9".encode(), b"tab\there"):
        answer = admin.post("/api/v1/api-key", json=KEY_BODY, headers={b"Idempotency-Key": value})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["fields"] == ["Idempotency-Key"]
    assert post_key(admin, "x" * 255).status_code == 200
    assert key_count(engine) == before + 1


def test_without_a_valid_token_the_route_answers_as_usual(node: LiveNode, engine: Engine) -> None:
    with node.client("paynode_not_a_key_00000000000000000000000000") as stranger:
        answer = post_key(stranger, "k")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    with node.client() as anonymous:
        assert post_key(anonymous, "k").status_code == 401
        # a bad header is not even looked at without a valid key
        assert post_key(anonymous, "x" * 300).status_code == 401
    assert stored(engine) == []


def test_a_read_key_refused_is_not_kept(
    node: LiveNode, admin: httpx.Client, engine: Engine
) -> None:
    reader = post_key(admin, None).json()["data"]["token"]
    with node.client(reader) as client:
        assert post_key(client, "k").status_code == 403
    assert [row.api_key_id for row in stored(engine)] == []


def test_a_payment_request_is_made_once(
    world: SellerWorld,  # noqa: F811 - the fixture imported above
    session: Session,
    secret_box: SecretBox,
) -> None:
    seller_admin = world.node.client(make_key(session, secret_box, permission="ReadAndPay"))
    body = payment_body(world, "Fixed")
    headers = {"Idempotency-Key": "payment-for-job-1"}
    first = seller_admin.post("/api/v1/payment", json=body, headers=headers)
    assert first.status_code == 200, first.text
    replay = seller_admin.post("/api/v1/payment", json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    identifier = first.json()["data"]["blockchainIdentifier"]
    with Session(world.runtime.engine) as session:
        rows = list(session.exec(select(PaymentRequest)))
    assert [row.blockchain_identifier for row in rows] == [identifier]
    # without the header, the same request is the duplicate create it is: 409 with the object
    duplicate = seller_admin.post("/api/v1/payment", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["object"]["blockchainIdentifier"] == identifier


def test_the_openapi_documents_the_header() -> None:
    """In the committed openapi.json (tests/node/test_openapi.py checks it is the app's)."""
    schema = json.loads((Path(__file__).parents[2] / "openapi.json").read_text())
    post = schema["paths"]["/api/v1/api-key"]["post"]
    names = [parameter["name"] for parameter in post["parameters"]]
    assert "Idempotency-Key" in names and {"409", "429"} <= set(post["responses"])
    get = schema["paths"]["/api/v1/api-key"]["get"]
    assert "Idempotency-Key" not in [p["name"] for p in get.get("parameters", [])]
    public = schema["paths"]["/api/v1/public/pricing/{agentIdentifier}/quote"]["post"]
    assert "Idempotency-Key" not in [p["name"] for p in public.get("parameters", [])]
