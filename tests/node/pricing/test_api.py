"""Pricing over real HTTP on SQLite and PostgreSQL: each seed's shape stored and given back,
the public lookup and quote without a key, per-buyer free quota and limits, bad input."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from node.pricing import service
from node.pricing.mapping import parse_json
from node.pricing.models import PricingPlanRecord, PricingQuote
from tests.conftest import LiveNode
from tests.node.pricing.test_adapters import AGENTIC, SEREN

AGENT = "ad6424e3ce9e47bbd8364984bd731b41de591f1d11f6d7d43d0da9b9" + "61" * 32
BUYER = "fc16a1fcf309aed03ec18bb2176f5ea29acea70bb79145ebaffa8e75"
OTHER_BUYER = "7f78161369549d8e2b138fee724c9fa606d6107a66720bdb4c48ada6"

# Seed 000's example payload, as JSON text with its numbers as written.
SEED_000_JSON = """{
  "pricing_model": "token_based",
  "currency": "USD",
  "enabled": true,
  "base_price": 0.01,
  "token_price_input": 0.10,
  "token_price_output": 0.30,
  "free_quota": 100,
  "minimum_charge": 0.005,
  "listing_summary": "LLM inference agent \\u2014 billed per million tokens.",
  "request_payload_docs": "Send JSON with a `prompt` field.",
  "support_url": "https://example.com/support"
}"""

BILLING = "/api/v1/billing/pricing"
CONFIG = f"/api/v1/agents/{AGENT}/pricing-config"
PLANS = f"/api/v1/agents/{AGENT}/pricing-plans"
PUBLIC = f"/api/v1/public/pricing/{AGENT}"


def put_assmbl(admin: httpx.Client, text: str) -> httpx.Response:
    return admin.put(
        BILLING,
        params={"agentIdentifier": AGENT},
        content=text,
        headers={"content-type": "application/json"},
    )


def data_of(response: httpx.Response) -> Any:
    """The answer's data with non-integer numbers as Decimals (digit for digit)."""
    assert response.status_code == 200, response.text
    return parse_json(response.text)["data"]


def quote(
    node: LiveNode, usage: dict[str, Any], buyer: str = BUYER, **extra: Any
) -> httpx.Response:
    with node.client() as anonymous:
        return anonymous.post(f"{PUBLIC}/quote", json={"buyer": buyer, "usage": usage, **extra})


def stored_plans(engine: Engine) -> int:
    with Session(engine) as session:
        return int(
            session.execute(select(func.count()).select_from(PricingPlanRecord)).scalar_one()
        )


def test_seed_000_stored_given_back_and_priced(node: LiveNode, admin: httpx.Client) -> None:
    put = put_assmbl(admin, SEED_000_JSON)
    assert data_of(put) == parse_json(SEED_000_JSON)
    got = admin.get(BILLING, params={"agentIdentifier": AGENT})
    assert data_of(got) == parse_json(SEED_000_JSON)
    assert '"token_price_input": 0.10' in got.text  # the seller's own digits, no float round trip
    usage = {"requests": 1, "input_tokens": 12000, "output_tokens": 800}
    first = quote(node, usage).json()["data"]
    assert first["amount"] == "0" and first["free"] is True and first["unit"] == "USDM"


def test_free_quota_counts_settled_requests(
    node: LiveNode, admin: httpx.Client, session: Session
) -> None:
    put_assmbl(admin, '{"base_price": 0.01, "free_quota": 2, "minimum_charge": 0.02}')
    profile = node.runtime.profile
    for index in range(2):
        assert quote(node, {"requests": 1}).json()["data"]["amount"] == "0"
        settled = service.settle_request(
            session, profile, AGENT, buyer=BUYER, request_id=f"{index:064x}",
            usage={"requests": 1}, reserved=1_000_000,
        )  # fmt: skip
        assert settled.charged == 0
    # a retried settlement of the same request id counts once and answers the same
    again = service.settle_request(
        session, profile, AGENT, buyer=BUYER, request_id=f"{1:064x}", usage={"requests": 5},
        reserved=1_000_000,
    )  # fmt: skip
    assert again.charged == 0 and service.count_settled(session, profile, AGENT, BUYER) == 2
    charged = quote(node, {"requests": 1}).json()["data"]
    assert (charged["amount"], charged["minimumApplied"]) == ("20000", True)
    assert charged["priorBillableRequests"] == 2
    assert quote(node, {"requests": 1}, buyer=OTHER_BUYER).json()["data"]["amount"] == "0"


def test_settlement_caps_at_the_reserve_and_falls_back(
    node: LiveNode, admin: httpx.Client, session: Session
) -> None:
    admin.put(CONFIG, json={"asset_id": SEREN["asset_id"], "price_per_call": "2.5",
                            "unresolved_fallback_charge": "0.1"})  # fmt: skip
    profile = node.runtime.profile
    capped = service.settle_request(
        session, profile, AGENT, buyer=BUYER, request_id="a" * 64, usage={"requests": 1},
        reserved=1_000_000,
    )  # fmt: skip
    assert capped.charged == 1_000_000
    fallback = service.settle_request(
        session, profile, AGENT, buyer=BUYER, request_id="b" * 64, usage=None, reserved=1_000_000
    )
    assert (fallback.charged, fallback.fallback) == (100_000, True)


def test_quote_breakdown_and_expiry(node: LiveNode, admin: httpx.Client, engine: Engine) -> None:
    put_assmbl(admin, '{"base_price": 0.01, "token_price_input": 0.10, "token_price_output": 0.30}')
    response = quote(node, {"requests": 1, "input_tokens": 12000, "output_tokens": 800})
    body = response.json()["data"]
    assert body["amount"] == "11440" and body["reserve"] == "11440"
    assert body["amounts"] == [{"unit": "USDM", "amount": "11440"}]
    lines = {line["metric"]: line["amount"] for line in body["breakdown"]}
    assert {k: Decimal(v) for k, v in lines.items()} == {
        "requests": Decimal("0.01"),
        "input_tokens": Decimal("0.0012"),
        "output_tokens": Decimal("0.00024"),
    }
    assert body["expiresAt"] - body["createdAt"] == service.DEFAULT_QUOTE_TTL_MS
    with Session(engine) as session:
        row = session.get(PricingQuote, body["id"])
        assert row is not None and row.amount == 11440 and row.buyer == BUYER


def test_public_lookup_needs_no_key(node: LiveNode, admin: httpx.Client) -> None:
    put_assmbl(admin, SEED_000_JSON)
    with node.client() as anonymous:
        body = anonymous.get(PUBLIC).json()["data"]
        missing = anonymous.get(PUBLIC.replace(AGENT, "ab" * 28))
    assert body["shape"] == "assmbl" and body["currency"] == "USDM"
    assert body["plan"]["free_quota"] == 100 and body["plan"]["minimum_charge"] == "0.005"
    assert body["listing"]["support_url"] == "https://example.com/support"
    texts = {line["slug"]: line["text"] for line in body["display"]}
    assert texts["token_price_input"] == "0.10 USDM per 1,000,000 input tokens"
    assert texts["base_price"] == "0.01 USDM per request"
    assert missing.status_code == 404


def test_seren_round_trip_and_partial_update(node: LiveNode, admin: httpx.Client) -> None:
    put = data_of(admin.put(CONFIG, json=SEREN))
    assert {key: put[key] for key in SEREN} == SEREN
    got = data_of(admin.get(CONFIG))
    assert {key: got[key] for key in SEREN} == SEREN
    update = {"asset_id": SEREN["asset_id"], "price_per_call": "0.0020", "hourly_rate": None}
    changed = data_of(admin.put(CONFIG, json=update))
    assert changed["price_per_call"] == "0.0020" and changed["hourly_rate"] is None
    assert changed["markup_multiplier"] == "1.25"  # kept: not in the update


def test_seren_quote_with_markup_minimum_and_reserve(node: LiveNode, admin: httpx.Client) -> None:
    admin.put(CONFIG, json=SEREN)
    # (0.0010 + 0.002 POST + 2500 rows * 0.5 / 1000) * 1.25 = 1.56625
    body = quote(node, {"requests": 1, "method:POST": 1, "rows": 2500}).json()["data"]
    assert (body["amount"], body["reserve"]) == ("1566250", "2000000")
    big = quote(node, {"requests": 1, "hours": "1"}).json()["data"]  # (0.001 + 3.6) * 1.25
    assert (big["amount"], big["capped"]) == ("2000000", True)


def test_agentic_round_trip_and_plans(node: LiveNode, admin: httpx.Client) -> None:
    text = json.dumps(AGENTIC)
    put = admin.put(PLANS, content=text, headers={"content-type": "application/json"})
    assert data_of(put) == parse_json(text)
    assert data_of(admin.get(PLANS)) == parse_json(text)
    paid = quote(node, {"requests": 999}, option="pay-as-you-go").json()["data"]
    assert paid["amount"] == "4665330" and paid["option"] == "pay-as-you-go"
    trial = quote(node, {}, option="basic-monthly").json()["data"]
    assert (trial["amount"], trial["inTrial"]) == ("0", True)  # no settled request yet
    no_option = quote(node, {"requests": 1})
    assert no_option.status_code == 422 and no_option.json()["error"]["fields"] == ["option"]


def clear_of_window_edge(window_ms: int, margin_ms: int = 10_000) -> None:
    """Rate windows are aligned to the clock (a minute, a day): start a test's burst of quotes
    where it cannot straddle two windows."""
    left_ms = window_ms - int(time.time() * 1000) % window_ms
    if left_ms < margin_ms:
        time.sleep(left_ms / 1000 + 0.1)


def test_rate_limits_per_buyer_with_retry_after(node: LiveNode, admin: httpx.Client) -> None:
    clear_of_window_edge(60_000)
    admin.put(CONFIG, json={"asset_id": SEREN["asset_id"], "price_per_call": "0.01",
                            "max_queries_per_minute": 2})  # fmt: skip
    assert [quote(node, {"requests": 1}).status_code for _ in range(2)] == [200, 200]
    refused = quote(node, {"requests": 1})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert quote(node, {"requests": 1}, buyer=OTHER_BUYER).status_code == 200


def test_agentic_rate_limit_of_the_chosen_plan(node: LiveNode, admin: httpx.Client) -> None:
    document = json.loads(json.dumps(AGENTIC))
    document["pricingPlans"][0]["rateLimit"] = {"limit": 1, "interval": "1d"}
    admin.put(PLANS, json=document)
    clear_of_window_edge(86_400_000)
    assert quote(node, {}, option="free").status_code == 200
    refused = quote(node, {}, option="free")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 86400
    assert quote(node, {"requests": 5}, option="pay-as-you-go").status_code == 200


def test_cross_shape_reads(node: LiveNode, admin: httpx.Client) -> None:
    admin.put(CONFIG, json={"asset_id": SEREN["asset_id"], "price_per_call": "0.01"})
    as_assmbl = admin.get(BILLING, params={"agentIdentifier": AGENT})
    assert data_of(as_assmbl) == {"base_price": Decimal("0.01")}
    as_agentic = admin.get(PLANS)
    assert (
        as_agentic.status_code == 409 and as_agentic.json()["error"]["code"] == "not_representable"
    )


BAD_ASSMBL = [
    ('{"base_price": -0.01}', "base_price"),
    ('{"base_price": "cheap"}', "base_price"),
    ('{"currency": "EUR", "base_price": 1}', "currency"),
    ('{"custom_unit_prices": {"images": -2}}', "custom_unit_prices.images"),
    ('{"subscription_tiers": [{"name": "Pro", "price": -1}]}', "subscription_tiers"),
    ('{"base_price": NaN}', "base_price"),
    ("[1, 2]", "body"),
]


@pytest.mark.parametrize(("text", "field"), BAD_ASSMBL)
def test_bad_assmbl_input_is_422_and_stores_nothing(
    admin: httpx.Client, engine: Engine, text: str, field: str
) -> None:
    response = put_assmbl(admin, text)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]
    assert stored_plans(engine) == 0


def _agentic_with(item: dict[str, Any]) -> dict[str, Any]:
    return {"pricingPlans": [{"name": "P", "slug": "p", "lineItems": [item]}]}


METERED = {
    "slug": "requests",
    "usageType": "metered",
    "billingScheme": "tiered",
    "tiersMode": "volume",
}
BAD_AGENTIC = [
    ({**METERED, "tiers": [{"upTo": 10, "unitAmount": 1}, {"upTo": 5, "unitAmount": 1},
                           {"upTo": "inf", "unitAmount": 1}]}, "tiers", "ascend"),
    ({**METERED, "tiers": [{"upTo": "inf", "unitAmount": 1}, {"upTo": "inf", "unitAmount": 2}]},
     "tiers", "unbounded"),
    ({**METERED, "tiers": [{"upTo": "inf", "unitAmount": 1}],
      "transformQuantity": {"divideBy": 10, "round": "up"}}, "transformQuantity", "tiers"),
    ({"slug": "base", "usageType": "licensed", "amount": -499}, "amount", "negative"),
    ({**METERED, "tiers": [{"upTo": "inf", "unitAmount": "x"}]}, "unitAmount", "decimal"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "field", "reason"), BAD_AGENTIC)
def test_bad_agentic_input_is_422_and_stores_nothing(
    admin: httpx.Client, engine: Engine, item: dict[str, Any], field: str, reason: str
) -> None:
    response = admin.put(PLANS, json=_agentic_with(item))
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert field in message and reason in message
    assert stored_plans(engine) == 0


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"price_per_call": "-1"}, "price_per_call"),
        ({"price_per_call": 0.5}, "price_per_call"),
        ({"markup_multiplier": "lots"}, "markup_multiplier"),
        ({"asset_symbol": "USDC"}, "asset_symbol"),
        ({"max_queries_per_minute": -1}, "max_queries_per_minute"),
    ],
)
def test_bad_seren_input_is_422_and_stores_nothing(
    admin: httpx.Client, engine: Engine, document: dict[str, Any], field: str
) -> None:
    response = admin.put(CONFIG, json={"asset_id": SEREN["asset_id"], **document})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == [field] or field in response.text
    assert stored_plans(engine) == 0


def test_bad_quotes_are_422_and_record_nothing(
    node: LiveNode, admin: httpx.Client, engine: Engine
) -> None:
    put_assmbl(admin, '{"base_price": 0.01}')
    unknown = quote(node, {"tokens": 5})
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"] == ["usage.tokens"]
    assert quote(node, {"requests": -1}).status_code == 422
    assert quote(node, {"requests": 1}, buyer="not-hex").status_code == 422
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(PricingQuote)).scalar_one() == 0


def test_ada_prices_are_in_lovelace(node: LiveNode, admin: httpx.Client) -> None:
    put_assmbl(admin, '{"currency": "ADA", "base_price": 1.5}')
    body = quote(node, {"requests": 2}).json()["data"]
    assert (body["unit"], body["amount"]) == ("lovelace", "3000000")


def test_read_key_cannot_change_pricing(node: LiveNode, session: Session, secret_box: Any) -> None:
    from tests.conftest import make_key

    with node.client(make_key(session, secret_box, permission="ReadAndPay")) as pay:
        response = pay.put(CONFIG, json={"asset_id": SEREN["asset_id"]})
    assert response.status_code == 403
