"""GET /purchase's Masumi filters (filterNeedsManualAction, searchQuery) with the on-chain state
filter and the cursor, GET /purchase/count with the same filters, and GET /purchase/diff (rows
changed since lastUpdate, oldest change first), over HTTP; the locks are real devnet
transactions of the buyer node."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from node.client import PaynodeClient, PaynodeError
from node.clock import ms_from_iso
from node.purchases import workers
from tests.node.purchases.conftest import MINUTE_MS, BuyerWorld
from tests.node.purchases.flows import buy, resolve

LIST, COUNT, DIFF = "/api/v1/purchase", "/api/v1/purchase/count", "/api/v1/purchase/diff"


def ids(client: httpx.Client, **params: Any) -> list[str]:
    found = client.get(LIST, params={"network": "Devnet", **params})
    assert found.status_code == 200, found.text
    return [purchase["id"] for purchase in found.json()["data"]["Purchases"]]


def count(client: httpx.Client, **params: Any) -> int:
    found = client.get(COUNT, params={"network": "Devnet", **params})
    assert found.status_code == 200, found.text
    total: int = found.json()["data"]["total"]
    return total


def diff(client: httpx.Client, **params: Any) -> dict[str, Any]:
    found = client.get(DIFF, params={"network": "Devnet", **params})
    assert found.status_code == 200, found.text
    data: dict[str, Any] = found.json()["data"]
    return data


def test_filters_search_count_and_cursor(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin)
    locked = buy(pay, world, "fixed")
    assert world.lock() == 1
    world.sync()
    assert resolve(pay, locked["blockchainIdentifier"])["onChainState"] == "FundsLocked"
    lock_tx = world.purchase(locked["id"]).lock_tx_hash
    assert lock_tx is not None
    stuck = buy(pay, world, "tiers", option=1)
    world.advance(int(stuck["payByTime"]) - world.now() + 6 * MINUTE_MS)
    assert workers.time_out_unpaid(world.runtime, clock=world.now) == 1  # never locked
    waiting = buy(pay, world, "dynamic")

    everything = [waiting["id"], stuck["id"], locked["id"]]  # newest first
    assert ids(pay) == everything and count(pay) == 3
    ours = world.runtime.network.escrow.address
    assert ids(pay, filterSmartContractAddress=ours) == everything
    assert ids(pay, filterSmartContractAddress="addr_test1wother") == []
    assert count(pay, filterPaymentSourceType="Web3CardanoV2") == 0
    assert count(pay, filterPaymentSourceType="Web3CardanoV1") == 3
    assert ids(pay, filterNeedsManualAction="true") == [stuck["id"]]
    assert count(pay, filterNeedsManualAction="true") == 1
    assert ids(pay, filterOnChainState="FundsLocked") == [locked["id"]]
    assert count(pay, filterOnChainState="FundsLocked") == 1
    assert count(pay, filterOnChainState="FundsOrDatumInvalid") == 0

    assert ids(pay, searchQuery=locked["requestId"][:24].upper()) == [locked["id"]]
    assert ids(pay, searchQuery=lock_tx) == [locked["id"]]
    assert ids(pay, searchQuery=waiting["blockchainIdentifier"][:80]) == [waiting["id"]]
    assert ids(pay, searchQuery="WaitingForManual") == [stuck["id"]]
    assert ids(pay, searchQuery="fundslockingrequested") == [waiting["id"]]
    assert ids(pay, searchQuery=world.spec("tiers").identifier) == [stuck["id"]]
    assert count(pay, searchQuery="_%") == 0  # LIKE's wildcards are plain characters
    both = {"searchQuery": locked["requestId"], "filterNeedsManualAction": "true"}
    assert ids(pay, **both) == [] and count(pay, **both) == 0
    page = pay.get(LIST, params={"network": "Devnet", "limit": 2}).json()["data"]
    assert [p["id"] for p in page["Purchases"]] == everything[:2]
    assert ids(pay, cursorId=page["nextCursorId"], limit=2) == [locked["id"]]
    assert ids(pay, cursorId=page["nextCursorId"], filterNeedsManualAction="true") == []

    for params, field in (
        ({"searchQuery": ""}, "searchQuery"),
        ({"filterNeedsManualAction": "sometimes"}, "filterNeedsManualAction"),
        ({"filterOnChainState": "Paid"}, "filterOnChainState"),
    ):
        for path in (LIST, COUNT):
            answer = pay.get(path, params={"network": "Devnet", **params})
            assert answer.status_code == 422, (path, params, answer.text)
            assert answer.json()["error"]["fields"] == [field]


def test_diff_returns_changes_oldest_first_and_pages_on(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin)
    first, second = buy(pay, world, "fixed"), buy(pay, world, "dynamic")
    everything = diff(pay)
    assert [p["id"] for p in everything["Purchases"]] == [first["id"], second["id"]]
    page = diff(pay, limit=1)
    assert [p["id"] for p in page["Purchases"]] == [first["id"]]
    rest = diff(
        pay, limit=1, lastUpdate=page["Purchases"][0]["updatedAt"], cursorId=page["nextCursorId"]
    )
    assert [p["id"] for p in rest["Purchases"]] == [second["id"]]

    seen = max(ms_from_iso(p["updatedAt"]) for p in everything["Purchases"])
    assert world.lock() == 2
    world.sync()
    changed = diff(pay, lastUpdate=str(seen + 1))
    assert {p["id"]: p["onChainState"] for p in changed["Purchases"]} == {
        first["id"]: "FundsLocked",
        second["id"]: "FundsLocked",
    }
    latest = max(ms_from_iso(p["updatedAt"]) for p in changed["Purchases"])
    assert diff(pay, lastUpdate=str(latest + 1))["Purchases"] == []

    # the lock moved both next actions (to FundsLockingInitiated, then waiting for the chain)
    # and both escrows; the next-action feed of a later moment holds neither
    def feed(kind: str, **params: Any) -> list[str]:
        found = pay.get(f"{DIFF}/{kind}", params={"network": "Devnet", **params})
        assert found.status_code == 200, found.text
        return [p["id"] for p in found.json()["data"]["Purchases"]]

    assert sorted(feed("onchain-state-or-result", lastUpdate=str(seen + 1))) == sorted(
        [first["id"], second["id"]]
    )
    assert sorted(feed("next-action", lastUpdate=str(seen + 1))) == sorted(
        [first["id"], second["id"]]
    )
    assert feed("onchain-state-or-result", lastUpdate=str(latest + 1)) == []
    asked = {"network": "Devnet", "blockchainIdentifier": first["blockchainIdentifier"]}
    assert pay.post("/api/v1/purchase/request-refund", json=asked).status_code == 200
    assert feed("next-action", lastUpdate=str(latest + 1)) == [first["id"]]
    assert feed("onchain-state-or-result", lastUpdate=str(latest + 1)) == []  # not on chain yet

    answer = pay.get(DIFF, params={"network": "Devnet", "lastUpdate": "soon"})
    assert answer.status_code == 422 and answer.json()["error"]["fields"] == ["lastUpdate"]


def test_the_client_quotes_a_tier_and_reads_lists_counts_and_changes(
    world: BuyerWorld, admin: httpx.Client, pay: httpx.Client
) -> None:
    world.purchasing_wallet(admin)
    tiers = world.spec("tiers")
    with PaynodeClient(world.node.url, pay.headers["token"]) as client:
        quote = client.create_quote(tiers.identifier, {"text": "a tier"}, option=1)
        assert world.agent.last_body["option"] == 1
        assert [(a.amount, a.unit) for a in quote.amounts] == [(tiers.prices[1], world.usdm)]
        with_buyer = client.create_quote(tiers.identifier, {"text": "a tier"}, buyer="ab" * 28)
        assert world.agent.last_body["buyer"] == "ab" * 28 and "option" not in (
            world.agent.last_body
        )
        assert [a.amount for a in with_buyer.amounts] == [tiers.prices[0]]
        bought = client.send_marketplace_request(
            tiers.identifier, {"text": "the dearer tier"}, option=1
        )
        assert [a.amount for a in bought.purchase.paid_funds] == [tiers.prices[1]]
        with pytest.raises(PaynodeError) as refused:
            client.create_quote(world.spec("fixed").identifier, {"text": "x"}, option=1)
        assert refused.value.status == 422 and refused.value.field == "option"

        identifier = bought.blockchain_identifier
        assert client.count_purchases() == 1
        assert client.count_purchases(needs_manual_action=True) == 0
        found = client.list_purchases(search=identifier[:64].upper()).purchases
        assert [p.blockchain_identifier for p in found] == [identifier]
        assert client.list_purchases(needs_manual_action=True).purchases == []
        changes = client.purchase_diff(0)
        assert [p.id for p in changes.purchases] == [bought.purchase.id]
        later = changes.purchases[-1].updated_at
        assert later is not None
        assert client.purchase_diff(later, cursor_id=changes.purchases[-1].id).purchases == []
        moved = client.purchase_diff(0, feed="next-action").purchases
        assert [p.id for p in moved] == [bought.purchase.id]
        assert client.purchase_diff(0, feed="onchain-state-or-result").purchases == []  # unlocked
