"""API keys over real HTTP: create, use, list, change, revoke; what the database keeps."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session

from node.auth import service
from node.crypto import SecretBox
from tests.conftest import LiveNode, make_key


def create(admin: httpx.Client, **body: object) -> dict[str, object]:
    response = admin.post("/api/v1/api-key", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def test_created_key_works_and_is_shown_only_once(node: LiveNode, admin: httpx.Client) -> None:
    created = create(admin, canPay=True, UsageCredits=[{"unit": "lovelace", "amount": "5000000"}])
    token = str(created["token"])
    assert token.startswith("paynode_") and len(token) >= 48
    assert created["permission"] == "ReadAndPay"
    assert created["RemainingUsageCredits"] == [{"unit": "", "amount": "5000000"}]
    with node.client(token) as client:
        status = client.get("/api/v1/api-key-status").json()["data"]
    assert status["id"] == created["id"]
    assert status["token"] == "*****" + token[-4:]
    listed = admin.get("/api/v1/api-key", params={"limit": 100}).json()["data"]["ApiKeys"]
    assert all(token not in str(row) for row in listed)


def test_database_keeps_no_usable_key(node: LiveNode, admin: httpx.Client, engine: Engine) -> None:
    token = str(create(admin, canRead=True)["token"])
    with engine.connect() as connection:
        dump = " ".join(str(row) for row in connection.execute(text("SELECT * FROM api_key")).all())
    assert token not in dump
    assert token[len("paynode_") :] not in dump
    # A stolen database is no key: its rows do not authenticate, under any secret.
    stolen_hashes = [part for part in dump.replace("'", " ").split() if len(part) == 64]
    assert stolen_hashes
    with node.client(stolen_hashes[0]) as client:
        assert client.get("/api/v1/api-key-status").status_code == 401


def test_hash_depends_on_the_server_secret() -> None:
    token = service.generate_token()
    assert SecretBox("a" * 40).token_hash(token) != SecretBox("b" * 40).token_hash(token)
    assert SecretBox("a" * 40).token_hash(token) == SecretBox("a" * 40).token_hash(token)


def test_generated_tokens_are_random() -> None:
    tokens = {service.generate_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(token) == len("paynode_") + 40 for token in tokens)


def test_missing_unknown_and_revoked_keys_get_401(node: LiveNode, admin: httpx.Client) -> None:
    created = create(admin, canRead=True)
    with node.client() as anonymous:
        assert anonymous.get("/api/v1/api-key-status").status_code == 401
    with node.client("paynode_" + "x" * 40) as unknown:
        response = unknown.get("/api/v1/api-key-status")
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert admin.request("DELETE", "/api/v1/api-key", json={"id": created["id"]}).status_code == 200
    with node.client(str(created["token"])) as revoked:
        assert revoked.get("/api/v1/api-key-status").status_code == 401


def test_patch_status_revokes_and_reactivates(node: LiveNode, admin: httpx.Client) -> None:
    created = create(admin, canRead=True)
    key_id, token = created["id"], str(created["token"])
    assert admin.patch("/api/v1/api-key", json={"id": key_id, "status": "Revoked"}).is_success
    with node.client(token) as client:
        assert client.get("/api/v1/api-key-status").status_code == 401
        assert admin.patch("/api/v1/api-key", json={"id": key_id, "status": "Active"}).is_success
        assert client.get("/api/v1/api-key-status").status_code == 200


def test_network_limit_refuses_other_networks(node: LiveNode, admin: httpx.Client) -> None:
    preprod_only = str(create(admin, canRead=True, NetworkLimit=["Preprod"])["token"])
    with node.client(preprod_only) as client:
        response = client.get("/api/v1/wallet/list")
        assert response.status_code == 403
        assert "Devnet" in response.json()["error"]["message"]
        # The key itself is still valid: it may ask about itself.
        assert client.get("/api/v1/api-key-status").status_code == 200


def test_credits_are_added_and_removed_never_below_zero(admin: httpx.Client) -> None:
    created = create(admin, canPay=True, UsageCredits=[{"unit": "", "amount": "10"}])
    changes = [{"unit": "lovelace", "amount": "-4"}, {"unit": "a" * 56 + "55534d", "amount": "7"}]
    response = admin.patch(
        "/api/v1/api-key", json={"id": created["id"], "UsageCreditsToAddOrRemove": changes}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["RemainingUsageCredits"] == [
        {"unit": "", "amount": "6"},
        {"unit": "a" * 56 + "55534d", "amount": "7"},
    ]
    too_much = [{"unit": "", "amount": "-7"}]
    response = admin.patch(
        "/api/v1/api-key", json={"id": created["id"], "UsageCreditsToAddOrRemove": too_much}
    )
    assert response.status_code == 422
    assert "UsageCreditsToAddOrRemove" in response.json()["error"]["message"]
    status = admin.get("/api/v1/api-key", params={"limit": 100}).json()["data"]["ApiKeys"]
    mine = next(row for row in status if row["id"] == created["id"])
    assert mine["RemainingUsageCredits"][0] == {"unit": "", "amount": "6"}


def test_bad_input_names_the_field_and_writes_nothing(admin: httpx.Client, engine: Engine) -> None:
    before = _count_keys(engine)
    cases = [
        ({"permission": "Superuser"}, "permission"),
        ({"canRead": True, "NetworkLimit": ["Testnet"]}, "NetworkLimit"),
        ({"canRead": True, "UsageCredits": [{"unit": "", "amount": "1.5"}]}, "UsageCredits"),
        ({"canRead": True, "UsageCredits": [{"unit": "", "amount": "-1"}]}, "UsageCredits"),
        ({"canRead": True, "UsageCredits": [{"unit": "USDM", "amount": "1"}]}, "UsageCredits"),
        ({}, "canRead"),
        ({"canRead": True, "permission": "Read"}, "permission"),
        ({"canRead": True, "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = admin.post("/api/v1/api-key", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert field in error["message"], (body, error)
    assert _count_keys(engine) == before


def test_last_admin_key_cannot_be_revoked(admin: httpx.Client, admin_token: str) -> None:
    me = admin.get("/api/v1/api-key-status").json()["data"]
    response = admin.request("DELETE", "/api/v1/api-key", json={"id": me["id"]})
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == ["id"]
    assert admin.get("/api/v1/api-key-status").status_code == 200
    create(admin, canAdmin=True)
    assert admin.request("DELETE", "/api/v1/api-key", json={"id": me["id"]}).status_code == 200
    assert admin.get("/api/v1/api-key-status").status_code == 401


def test_list_pages_with_cursor(admin: httpx.Client) -> None:
    created = {str(create(admin, canRead=True)["id"]) for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursorId"] = cursor
        page = admin.get("/api/v1/api-key", params=params).json()["data"]
        seen += [row["id"] for row in page["ApiKeys"]]
        cursor = page["nextCursorId"]
        if cursor is None:
            break
    assert created <= set(seen)
    assert len(seen) == len(set(seen)) == 6  # five and the admin key
    assert seen == sorted(seen, reverse=True)


def test_first_start_makes_one_admin_key(session: Session, secret_box: SecretBox) -> None:
    token = service.ensure_admin_key(session, secret_box, None)
    assert token is not None and token.startswith("paynode_admin_")
    assert service.ensure_admin_key(session, secret_box, None) is None
    caller = service.authenticate(session, secret_box, token)
    assert caller is not None and caller.key.can_admin


def test_configured_admin_key_is_registered_once(session: Session, secret_box: SecretBox) -> None:
    configured = "operator-chosen-admin-key-123"
    assert service.ensure_admin_key(session, secret_box, configured) is None
    assert service.ensure_admin_key(session, secret_box, configured) is None
    caller = service.authenticate(session, secret_box, configured)
    assert caller is not None and caller.key.can_admin
    keys = service.list_keys(session, 100, None)
    assert len(keys) == 1


def test_make_key_helper_matches_api(session: Session, secret_box: SecretBox) -> None:
    token = make_key(session, secret_box, permission="Read")
    caller = service.authenticate(session, secret_box, token)
    assert caller is not None
    assert (caller.key.can_read, caller.key.can_pay, caller.key.can_admin) == (True, False, False)


def _count_keys(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM api_key")).scalar_one())
