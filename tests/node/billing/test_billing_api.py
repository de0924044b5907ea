"""GET /api/v1/billing/balance, /usage and /history over mirror rows: amounts as decimal strings,
most recent first, keyset pages, read permission."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from node.sync.models import Role
from tests.node.billing.synthetic import USDM, insert_rows, mirror_row

AGENT, OTHER = "ab" * 28 + "01", "cd" * 28 + "02"


def test_balance_usage_and_history(admin: httpx.Client, engine: Engine) -> None:
    rows = [mirror_row("devnet", AGENT, n) for n in range(5)]
    rows += [mirror_row("devnet", AGENT, 5, settled=False)]
    rows += [mirror_row("devnet", AGENT, 6, role=Role.SELLER)]
    rows += [mirror_row("devnet", OTHER, 7)]
    insert_rows(engine, rows)

    balance = admin.get("/api/v1/billing/balance", params={"peer_agent_id": AGENT}).json()["data"]
    buyer = {line["unit"]: line for line in balance["asBuyer"]["amounts"]}
    assert balance["asBuyer"]["requests"] == "6" and balance["asSeller"]["requests"] == "1"
    assert buyer[USDM]["locked"] == "10000000"
    assert buyer[USDM]["charged"] == "30000000" and buyer[USDM]["refunded"] == "20000000"
    assert buyer[USDM]["protocolFees"] == "2500000"
    assert buyer["lovelace"]["txFees"] == str(6 * 200_000)

    first = admin.get("/api/v1/billing/usage", params={"peer_agent_id": AGENT, "limit": 4})
    page = first.json()["data"]
    assert [item["lockedAt"] for item in page["items"]] == sorted(
        (item["lockedAt"] for item in page["items"]), reverse=True
    )
    assert page["items"][0]["requestId"] == rows[6].request_id
    assert page["items"][0]["charged"] == [{"unit": USDM, "amount": "6000000"}]
    rest = admin.get(
        "/api/v1/billing/usage",
        params={"peer_agent_id": AGENT, "limit": 4, "cursorId": page["nextCursorId"]},
    ).json()["data"]
    seen = [i["requestId"] for i in page["items"] + rest["items"]]
    assert len(seen) == len(set(seen)) == 7 and rest["nextCursorId"] is None

    history = admin.get("/api/v1/billing/history", params={"limit": 100}).json()["data"]
    assert len(history["items"]) == 8 and history["items"][0]["agentIdentifier"] == OTHER


def test_billing_needs_a_key_and_a_known_cursor(admin: httpx.Client, engine: Engine) -> None:
    with httpx.Client(base_url=str(admin.base_url)) as anonymous:
        assert anonymous.get("/api/v1/billing/balance").status_code == 401
    missing = admin.get("/api/v1/billing/usage", params={"cursorId": "nope"})
    assert missing.status_code == 404
    empty = admin.get("/api/v1/billing/balance").json()["data"]
    assert empty["asBuyer"] == {"requests": "0", "amounts": []}
