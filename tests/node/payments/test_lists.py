"""GET /payment's Masumi filters (filterNeedsManualAction, searchQuery) with the on-chain state
filter and the cursor, GET /payment/count with the same filters, and GET /payment/diff (rows
changed since lastUpdate, oldest change first), over HTTP against escrows locked on a devnet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from node.clock import ms_from_iso
from node.payments.workers import unit_value
from tests.node.payments.conftest import USDM, SellerWorld, data, lock, payment_body

LIST, COUNT, DIFF = "/api/v1/payment", "/api/v1/payment/count", "/api/v1/payment/diff"


def ids(client: httpx.Client, **params: Any) -> list[str]:
    found = data(client.get(LIST, params={"network": "Devnet", **params}))
    return [payment["id"] for payment in found["Payments"]]


def count(client: httpx.Client, **params: Any) -> int:
    total: int = data(client.get(COUNT, params={"network": "Devnet", **params}))["total"]
    return total


def diff(client: httpx.Client, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = data(client.get(DIFF, params={"network": "Devnet", **params}))
    return found


def resolve(client: httpx.Client, payment: dict[str, Any]) -> dict[str, Any]:
    body = {"network": "Devnet", "blockchainIdentifier": payment["blockchainIdentifier"]}
    found: dict[str, Any] = data(
        client.post("/api/v1/payment/resolve-blockchain-identifier", json=body)
    )
    return found


def test_filters_search_count_and_cursor(world: SellerWorld, pay: httpx.Client) -> None:
    paid, spoofed, waiting = (
        data(pay.post(LIST, json=payment_body(world, "Fixed", purchaser)))
        for purchaser in ("0a0a0a0a0a0a0a0a", "0b0b0b0b0b0b0b0b", "0c0c0c0c0c0c0c0c")
    )
    lock_tx = lock(world, paid, unit_value(world.usdm, 2 * USDM))
    lock(world, spoofed, unit_value(world.usdm, 1 * USDM))  # half the price: manual action
    world.tick()
    assert resolve(pay, paid)["onChainState"] == "FundsLocked"
    assert resolve(pay, spoofed)["NextAction"]["requestedAction"] == "WaitingForManualAction"

    everything = [waiting["id"], spoofed["id"], paid["id"]]  # newest first
    assert ids(pay) == everything and count(pay) == 3
    ours = world.runtime.network.escrow.address
    assert ids(pay, filterSmartContractAddress=ours, filterPaymentSourceType="Web3CardanoV1") == (
        everything
    )
    assert ids(pay, filterSmartContractAddress="addr_test1wother") == []
    assert count(pay, filterPaymentSourceType="Web3CardanoV2") == 0  # this node has no V2 source
    wrong = pay.get(LIST, params={"network": "Devnet", "filterPaymentSourceType": "Stripe"})
    assert wrong.status_code == 422 and "filterPaymentSourceType" in wrong.text
    assert ids(pay, filterNeedsManualAction="true") == [spoofed["id"]]
    assert count(pay, filterNeedsManualAction="true") == 1
    assert ids(pay, filterNeedsManualAction="false") == everything
    assert ids(pay, filterOnChainState="FundsLocked") == [paid["id"]]
    assert ids(pay, filterOnChainState="FundsOrDatumInvalid") == [spoofed["id"]]
    assert count(pay, filterOnChainState="FundsOrDatumInvalid") == 1
    assert count(pay, filterOnChainState="Withdrawn") == 0

    # searchQuery: inside identifiers, hashes and states, whatever the case
    assert ids(pay, searchQuery=paid["requestId"][:24].upper()) == [paid["id"]]
    assert ids(pay, searchQuery=lock_tx) == [paid["id"]]  # a transaction of its escrow
    assert ids(pay, searchQuery=waiting["blockchainIdentifier"][:80]) == [waiting["id"]]
    assert ids(pay, searchQuery="0C0C0C0C0C0C0C0C") == [waiting["id"]]  # its purchaser id
    assert ids(pay, searchQuery="waitingformanual") == [spoofed["id"]]
    assert ids(pay, searchQuery=paid["agentIdentifier"]) == everything
    assert count(pay, searchQuery=paid["agentIdentifier"]) == 3
    assert ids(pay, searchQuery="ffff" * 16) == [] and count(pay, searchQuery="zz%") == 0
    # combined with each other and with the cursor
    both = {"searchQuery": paid["requestId"], "filterNeedsManualAction": "true"}
    assert ids(pay, **both) == [] and count(pay, **both) == 0
    agent = {"searchQuery": paid["agentIdentifier"], "limit": 2}
    first = data(pay.get(LIST, params={"network": "Devnet", **agent}))
    assert [p["id"] for p in first["Payments"]] == everything[:2]
    assert first["nextCursorId"] == spoofed["id"]
    assert ids(pay, cursorId=first["nextCursorId"], **agent) == [paid["id"]]
    assert ids(pay, cursorId=spoofed["id"], filterOnChainState="FundsOrDatumInvalid") == []

    for params, field in (
        ({"searchQuery": ""}, "searchQuery"),
        ({"searchQuery": "a" * 251}, "searchQuery"),
        ({"filterNeedsManualAction": "maybe"}, "filterNeedsManualAction"),
        ({"filterOnChainState": "Locked"}, "filterOnChainState"),
    ):
        for path in (LIST, COUNT):
            answer = pay.get(path, params={"network": "Devnet", **params})
            assert answer.status_code == 422, (path, params, answer.text)
            assert answer.json()["error"]["fields"] == [field]
    wrong = pay.get(COUNT, params={"network": "Preprod"})
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"] == ["network"]


def test_diff_returns_changes_oldest_first_and_pages_on(
    world: SellerWorld, pay: httpx.Client
) -> None:
    first, second, third = (
        data(pay.post(LIST, json=payment_body(world, "Fixed", purchaser)))
        for purchaser in ("1a1a1a1a1a1a1a1a", "1b1b1b1b1b1b1b1b", "1c1c1c1c1c1c1c1c")
    )
    for payment in (first, second, third):  # Masumi's dates: ISO 8601, to the millisecond
        assert datetime.fromisoformat(payment["createdAt"]).tzinfo is not None
        assert ms_from_iso(payment["updatedAt"]) >= ms_from_iso(payment["createdAt"])
    everything = diff(pay)  # lastUpdate defaults to the epoch
    assert [p["id"] for p in everything["Payments"]] == [first["id"], second["id"], third["id"]]

    page = diff(pay, limit=2)
    assert [p["id"] for p in page["Payments"]] == [first["id"], second["id"]]
    assert page["nextCursorId"] == second["id"]
    last = page["Payments"][-1]
    rest = diff(pay, limit=2, lastUpdate=last["updatedAt"], cursorId=page["nextCursorId"])
    assert [p["id"] for p in rest["Payments"]] == [third["id"]]
    assert rest["nextCursorId"] is None
    as_ms = diff(pay, lastUpdate=str(ms_from_iso(last["updatedAt"])), cursorId=last["id"])
    assert as_ms["Payments"] == rest["Payments"]  # POSIX ms is taken as well

    # the lock changes the first one: it comes again, after the others
    seen = max(ms_from_iso(p["updatedAt"]) for p in everything["Payments"])
    lock(world, first, unit_value(world.usdm, 2 * USDM))
    world.tick()
    changed = diff(pay, lastUpdate=str(seen + 1))
    assert [(p["id"], p["onChainState"]) for p in changed["Payments"]] == [
        (first["id"], "FundsLocked")
    ]
    assert [p["id"] for p in diff(pay)["Payments"]] == [second["id"], third["id"], first["id"]]

    # the lock moved the escrow on chain, not the next action (the seller still waits for it)
    on_chain = feed(pay, "onchain-state-or-result", lastUpdate=str(seen + 1))
    assert [p["id"] for p in on_chain["Payments"]] == [first["id"]]
    assert feed(pay, "next-action", lastUpdate=str(seen + 1))["Payments"] == []
    asked = {**_ref(first), "submitResultHash": "ab" * 32}
    assert pay.post("/api/v1/payment/submit-result", json=asked).status_code == 200
    moved = feed(pay, "next-action", lastUpdate=str(seen + 1))
    assert [(p["id"], p["NextAction"]["requestedAction"]) for p in moved["Payments"]] == [
        (first["id"], "SubmitResultRequested")
    ]
    assert [p["id"] for p in feed(pay, "next-action")["Payments"]] == [
        second["id"], third["id"], first["id"]
    ]  # fmt: skip

    # an ISO updatedAt from a list is what error-state recovery compares with
    refused = pay.post(
        "/api/v1/payment/error-state-recovery",
        json={
            "network": "Devnet",
            "blockchainIdentifier": second["blockchainIdentifier"],
            "updatedAt": second["updatedAt"],
        },
    )
    assert refused.status_code == 409 and "no error state" in refused.text

    for bad in ("yesterday", "2026-13-01T00:00:00Z", "-5"):
        answer = pay.get(DIFF, params={"network": "Devnet", "lastUpdate": bad})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["fields"] == ["lastUpdate"]
    assert pay.get(DIFF, params={"network": "Devnet", "limit": 0}).status_code == 422


def feed(client: httpx.Client, kind: str, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = data(
        client.get(f"{DIFF}/{kind}", params={"network": "Devnet", **params})
    )
    return found


def _ref(payment: dict[str, Any]) -> dict[str, str]:
    return {"network": "Devnet", "blockchainIdentifier": payment["blockchainIdentifier"]}
