"""Each seed's document maps to the canonical plan and back without loss."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from node.pricing import (
    NotRepresentable,
    from_agentic,
    from_assmbl,
    from_seren,
    quote,
    to_agentic,
    to_assmbl,
    to_seren,
)
from node.pricing.mapping import parse_json

# Seed 000's example, as its author wrote it (floats in Python, read through their digits).
SEED_000 = {
    "pricing_model": "token_based",
    "currency": "USD",
    "enabled": True,
    "base_price": 0.01,
    "token_price_input": 0.10,
    "token_price_output": 0.30,
    "free_quota": 100,
    "minimum_charge": 0.005,
    "listing_summary": "LLM inference agent — billed per million tokens.",
    "request_payload_docs": "Send JSON with a `prompt` field.",
    "support_url": "https://example.com/support",
}

SEREN = {
    "asset_id": "3f1c2a9e-8d4b-4c1a-9e2f-5b6a7c8d9e0f",
    "asset_symbol": "USDM",
    "price_per_call": "0.0010",
    "price_per_post": "0.002",
    "base_price_per_1000_rows": "0.5",
    "markup_multiplier": "1.25",
    "min_charge": "0.001",
    "hourly_rate": "3.60",
    "price_per_execution": "0.05",
    "reserve_max_charge": "2.00",
    "unresolved_fallback_charge": "0.10",
    "payment_expiry_minutes": 30,
    "max_queries_per_minute": 60,
    "onchain_enabled": True,
    "prepaid_enabled": False,
    "minimum_balance": "1.00",
    "low_balance_threshold": "0.50",
    "pricing_display_text": "Varies by rows",
    "pricing_model": "per_call",
}

# Seed 003's Pay-As-You-Go example, fractions of a cent included.
AGENTIC = {
    "pricingPlans": [
        {"name": "Free", "slug": "free", "interval": "month",
         "lineItems": [{"slug": "base", "usageType": "licensed", "amount": 0}],
         "rateLimit": {"limit": 20, "interval": "1d"}},
        {"name": "Pay-As-You-Go", "slug": "pay-as-you-go", "interval": "month",
         "lineItems": [{"slug": "requests", "usageType": "metered", "billingScheme": "tiered",
                        "tiersMode": "volume", "tiers": [{"upTo": 999, "unitAmount": 0.467},
                                                         {"upTo": "inf", "unitAmount": 0.053}]}],
         "rateLimit": {"limit": 1000, "interval": "1d"}},
        {"name": "Basic", "slug": "basic-monthly", "interval": "month", "trialPeriodDays": 7,
         "lineItems": [{"slug": "base", "usageType": "licensed", "amount": 499},
                       {"slug": "images", "usageType": "metered", "billingScheme": "per_unit",
                        "unitAmount": 5,
                        "transformQuantity": {"divideBy": 10, "round": "up"}}]},
    ]
}  # fmt: skip


def decimals(document: dict[str, Any]) -> Any:
    """The document as the API reads it: every non-integer number a Decimal."""
    return parse_json(json.dumps(document))


def test_seed_000_maps_to_the_canonical_plan() -> None:
    plan = from_assmbl(SEED_000)
    assert plan.mode == "Dynamic" and plan.unit == "USDM" and plan.free_quota == 100
    assert plan.minimum_charge == Decimal("0.005")
    by_metric = {item.metric: (item.unit_amount, item.per) for item in plan.line_items}
    assert by_metric == {
        "requests": (Decimal("0.01"), 1),
        "input_tokens": (Decimal("0.1"), 1_000_000),
        "output_tokens": (Decimal("0.3"), 1_000_000),
    }
    assert plan.listing.summary == SEED_000["listing_summary"]


def test_seed_000_priced() -> None:
    plan = from_assmbl(SEED_000)
    usage = {"requests": 1, "input_tokens": 12_000, "output_tokens": 800}
    assert quote(plan, usage).amount == 0  # within the free quota of 100
    # 0.01 + 12000 * 0.10 / 1M + 800 * 0.30 / 1M = 0.01144 USDM
    assert quote(plan, usage, prior_billable_requests=100).amount == 11_440
    # a small request pays the minimum charge
    assert quote(plan, {"input_tokens": 1000}, prior_billable_requests=100).amount == 5_000


def test_assmbl_inverse_is_exact() -> None:
    document = decimals(SEED_000)
    assert to_assmbl(from_assmbl(document)) == document
    with_custom = decimals(
        {"custom_unit_prices": {"images": 0.02, "pages": 0.001}, "outcome_price": 0.25,
         "compute_price_per_second": 0.0001, "subscription_tiers": [{"name": "Pro", "price": 9.99}]}
    )  # fmt: skip
    assert to_assmbl(from_assmbl(with_custom)) == with_custom


def test_seren_inverse_gives_back_every_field() -> None:
    response = to_seren(from_seren(SEREN)).model_dump()
    assert {key: response[key] for key in SEREN} == SEREN


def test_agentic_inverse_is_exact() -> None:
    document = decimals(AGENTIC)
    assert to_agentic(from_agentic(document)) == document


def test_agentic_pay_as_you_go_prices_in_cents() -> None:
    plan = from_agentic(AGENTIC)
    # volume: 999 requests at 0.467 cents = 466.533 cents; 1000 at 0.053 cents = 53 cents
    assert quote(plan, {"requests": 999}, option="pay-as-you-go").amount == 4_665_330
    assert quote(plan, {"requests": 1000}, option="pay-as-you-go").amount == 530_000
    # basic: 499 cents + ceil(25 / 10) * 5 cents
    assert quote(plan, {"custom:images": 25}, option="basic-monthly").amount == 5_140_000


def test_shapes_refuse_what_they_cannot_say() -> None:
    with pytest.raises(NotRepresentable, match="markup"):
        to_assmbl(from_seren(SEREN))
    with pytest.raises(NotRepresentable, match="free_quota"):
        to_seren(from_assmbl(SEED_000))
    with pytest.raises(NotRepresentable, match="line_items"):
        to_agentic(from_assmbl(SEED_000))
    with pytest.raises(NotRepresentable, match="subscriptions"):
        to_seren(from_agentic(AGENTIC))


def test_seren_simple_plan_shows_as_assmbl() -> None:
    plan = from_seren({"asset_id": SEREN["asset_id"], "price_per_call": "0.01"})
    assert to_assmbl(plan) == {"base_price": Decimal("0.01")}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"base_price": -0.01}, "base_price"),
        ({"base_price": "ten"}, "base_price"),
        ({"token_price_input": True}, "token_price_input"),
        ({"custom_unit_prices": {"images": -1}}, "custom_unit_prices"),
        ({"free_quota": -1}, "free_quota"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_assmbl_input_names_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        from_assmbl(document)


def test_bad_seren_money_is_refused() -> None:
    for value in ("-1", "abc", "NaN", 0.5):
        with pytest.raises(ValueError, match="price_per_call"):
            from_seren({"asset_id": SEREN["asset_id"], "price_per_call": value})
