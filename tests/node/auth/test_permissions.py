"""The permission matrix: every route x no key, read, pay, admin, revoked, other network."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session

from node.app import API_PREFIX, DOMAIN_ROUTERS, ROOT_ROUTERS, create_app
from node.auth.api import RequirePermission
from node.auth.schemas import Permission
from node.crypto import SecretBox
from tests.conftest import LiveNode, make_key

HEALTH_PATHS = {"/health", "/api/v1/health"}
PUBLIC_PATHS = HEALTH_PATHS | {
    "/api/v1/public/pricing/{agentIdentifier}",
    "/api/v1/public/pricing/{agentIdentifier}/quote",
}


def api_routes() -> Iterator[tuple[str, APIRoute]]:
    for prefix, routers in ((API_PREFIX, DOMAIN_ROUTERS), ("", ROOT_ROUTERS)):
        for router in routers:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                yield prefix + route.path, route


def guarded_routes() -> Iterator[tuple[str, str, Permission | None]]:
    for path, route in api_routes():
        if path in PUBLIC_PATHS:
            continue
        guards = [
            dependency.call
            for dependency in route.dependant.dependencies
            if isinstance(dependency.call, RequirePermission)
        ]
        assert len(guards) == 1, f"{route.path} must declare exactly one permission"
        guard = guards[0]
        assert isinstance(guard, RequirePermission)
        for method in sorted(route.methods):
            yield method, path, guard.permission


ROUTES = list(guarded_routes())
GRANTS = {
    "read": {Permission.READ},
    "pay": {Permission.READ, Permission.PAY},
    "admin": {Permission.READ, Permission.PAY, Permission.ADMIN},
}


def test_every_route_is_public_or_guarded() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in create_app(None).openapi()["paths"].items()
        for method in operations
        if path not in PUBLIC_PATHS
    }
    assert documented == {(method, path) for method, path, _ in ROUTES}
    assert len(ROUTES) >= 9


@pytest.fixture
def tokens(node: LiveNode, session: Session, secret_box: SecretBox) -> dict[str, str]:
    keys = {
        "read": make_key(session, secret_box, permission="Read"),
        "pay": make_key(session, secret_box, permission="ReadAndPay"),
        "admin": make_key(session, secret_box, permission="Admin"),
        "other_network": make_key(
            session, secret_box, permission="ReadAndPay", NetworkLimit=["Mainnet"]
        ),
        "revoked": make_key(session, secret_box, permission="Admin"),
    }
    with node.client(keys["admin"]) as admin:
        me = admin.get("/api/v1/api-key-status", headers={"token": keys["revoked"]}).json()
        admin.request("DELETE", "/api/v1/api-key", json={"id": me["data"]["id"]})
    return keys


def call(node: LiveNode, token: str | None, method: str, path: str) -> httpx.Response:
    with node.client(token) as client:
        return client.request(method, path)


@pytest.mark.parametrize(("method", "path", "needed"), ROUTES)
def test_permission_matrix(
    node: LiveNode,
    tokens: dict[str, str],
    method: str,
    path: str,
    needed: Permission | None,
) -> None:
    assert call(node, None, method, path).status_code == 401
    assert call(node, tokens["revoked"], method, path).status_code == 401
    for holder, granted in GRANTS.items():
        status = call(node, tokens[holder], method, path).status_code
        if needed is None or needed in granted:
            assert status not in (401, 403), (holder, status)
        else:
            assert status == 403, (holder, status)
    other = call(node, tokens["other_network"], method, path).status_code
    assert other == (403 if needed is not None else 200)


def test_public_routes_declare_no_permission() -> None:
    public = [route for path, route in api_routes() if path in PUBLIC_PATHS]
    assert len(public) == len(PUBLIC_PATHS) - 1  # /health is also mounted at the root
    for route in public:
        calls = [dependency.call for dependency in route.dependant.dependencies]
        assert not any(isinstance(call, RequirePermission) for call in calls), route.path


def test_public_routes_need_no_key(node: LiveNode) -> None:
    for path in HEALTH_PATHS:
        response = call(node, None, "GET", path)
        assert response.status_code == 200
        assert response.json()["data"]["status"] == "ok"


def test_a_key_of_other_networks_is_refused_with_a_clear_403(
    node: LiveNode, session: Session, secret_box: SecretBox
) -> None:
    """Issue #10: API keys of one network refused on another. A key limited to Preprod and
    Mainnet, on this Devnet node: refused by routes that name a network and by those that take
    none (the node serves one network), before its body is even read."""
    token = make_key(
        session, secret_box, permission="ReadAndPay", NetworkLimit=["Preprod", "Mainnet"]
    )
    with node.client(token) as client:
        answers = [
            client.get("/api/v1/payment", params={"network": "Devnet"}),
            client.get("/api/v1/webhooks"),
            client.get("/api/v1/wallet"),
            client.post("/api/v1/payment", json={"network": "Mainnet"}),
            client.post("/api/v1/purchase", json={}),
        ]
        for answer in answers:
            assert answer.status_code == 403, (answer.request.url, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "forbidden_network"
            assert error["message"] == "this API key is not valid on Devnet"
        # the key may still read its own status, which shows why it is refused
        status = client.get("/api/v1/api-key-status")
        assert status.status_code == 200
        assert status.json()["data"]["NetworkLimit"] == ["Preprod", "Mainnet"]
    devnet_key = make_key(session, secret_box, permission="ReadAndPay", NetworkLimit=["Devnet"])
    with node.client(devnet_key) as client:
        assert client.get("/api/v1/webhooks").status_code == 200
