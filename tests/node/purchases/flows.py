"""Request bodies and steps the purchase tests share."""

from __future__ import annotations

from typing import Any

import httpx

from tests.node.purchases.conftest import BuyerWorld

TERMS = (
    "blockchainIdentifier",
    "agentIdentifier",
    "identifierFromPurchaser",
    "inputHash",
    "payByTime",
    "submitResultTime",
    "unlockTime",
    "externalDisputeUnlockTime",
)


def quote(client: httpx.Client, world: BuyerWorld, name: str, **extra: Any) -> dict[str, Any]:
    body = {
        "network": "Devnet",
        "agentIdentifier": world.spec(name).identifier,
        "inputData": {"text": f"a job for {name}"},
    }
    answer = client.post("/api/v1/quotes", json={**body, **extra})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def purchase_body(offer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """POST /purchase for a quote: its terms, its id, its amounts confirmed."""
    body: dict[str, Any] = {key: offer[key] for key in TERMS}
    body.update(
        network="Devnet",
        sellerVkey=offer["sellerVkey"],
        quoteId=offer["id"],
        confirmedAmounts=offer["amounts"],
    )
    body.update(changes)
    return body


def buy(client: httpx.Client, world: BuyerWorld, name: str, **extra: Any) -> dict[str, Any]:
    offer = quote(client, world, name, **extra)
    answer = client.post("/api/v1/purchase", json=purchase_body(offer))
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    assert data["NextAction"]["requestedAction"] == "FundsLockingRequested"
    return data


def resolve(client: httpx.Client, identifier: str, history: bool = False) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/purchase/resolve-blockchain-identifier",
        json={"network": "Devnet", "blockchainIdentifier": identifier, "includeHistory": history},
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def state_of(client: httpx.Client, identifier: str) -> tuple[str | None, str]:
    data = resolve(client, identifier)
    return data["onChainState"], data["NextAction"]["requestedAction"]


def refund_call(client: httpx.Client, path: str, identifier: str) -> httpx.Response:
    return client.post(
        f"/api/v1/purchase/{path}",
        json={"network": "Devnet", "blockchainIdentifier": identifier},
    )
