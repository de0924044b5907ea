"""Seed 000, Assmbl marketplace billing: `BillingPricingPayload`, every field optional.

Prices are floats in the seed, whole currency units (USD 0.10 = USDM 0.10), read through their
decimal string; token prices are per 1M tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from node.pricing.mapping import (
    NotRepresentable,
    check_covered,
    derive_mode,
    per_unit,
    simple_price,
)
from node.pricing.plan import (
    CUSTOM_NAME,
    CUSTOM_PREFIX,
    LineItem,
    Listing,
    Money,
    PricingPlan,
    Subscription,
)

TOKENS_PER_PRICE = 1_000_000
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_INTERVALS = ("day", "week", "month", "year")

# Seed field -> (line item slug, metric, price per this many units).
PRICE_FIELDS: dict[str, tuple[str, int]] = {
    "base_price": ("requests", 1),
    "outcome_price": ("outcomes", 1),
    "token_price_input": ("input_tokens", TOKENS_PER_PRICE),
    "token_price_output": ("output_tokens", TOKENS_PER_PRICE),
    "compute_price_per_second": ("compute_seconds", 1),
}


class BillingPricingPayload(BaseModel):
    """The seller's pricing in Assmbl's shape (`put_billing_pricing`)."""

    model_config = ConfigDict(extra="forbid")

    pricing_model: str | None = Field(default=None, max_length=40, examples=["token_based"])
    currency: str | None = Field(default=None, max_length=150, examples=["USD"])
    enabled: bool | None = None
    base_price: Money | None = None
    outcome_price: Money | None = None
    token_price_input: Money | None = None
    token_price_output: Money | None = None
    compute_price_per_second: Money | None = None
    custom_unit_prices: dict[str, Money] | None = Field(default=None, max_length=40)
    free_quota: int | None = Field(default=None, ge=0, le=10**12)
    minimum_charge: Money | None = None
    subscription_tiers: list[dict[str, Any]] | None = Field(default=None, max_length=20)
    listing_summary: str | None = Field(default=None, max_length=2000)
    request_payload_docs: str | None = Field(default=None, max_length=10000)
    response_or_delivery_notes: str | None = Field(default=None, max_length=10000)
    integration_links: list[dict[str, str]] | None = Field(default=None, max_length=50)
    support_url: str | None = Field(default=None, max_length=500)

    @field_validator("custom_unit_prices")
    @classmethod
    def _unit_names(cls, prices: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for name in prices or {}:
            if not CUSTOM_NAME.match(name):
                raise ValueError(f"{name!r}: letters, digits, '_', '.', '-' (at most 64)")
        return prices

    @field_validator("subscription_tiers")
    @classmethod
    def _tiers_price(cls, tiers: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, tier in enumerate(tiers or []):
            _subscription(index, tier)  # a bad price in a tier is refused here, naming it
        return tiers


def unit_of_currency(currency: str | None) -> str:
    """Assmbl names ISO currencies; a USD price is a USDM price, an ADA price is in lovelace."""
    if currency is None or currency.upper() in ("USD", "USDM"):
        return "USDM"
    if currency.upper() in ("ADA", "LOVELACE"):
        return "lovelace"
    return currency


def _subscription(index: int, tier: Mapping[str, Any]) -> Subscription:
    """A tier of open shape: name, price (or amount) per interval, trial_days when it has them."""
    name = str(tier.get("name") or f"tier {index + 1}")
    slug = _SLUG_CHARS.sub("-", name.lower()).strip("-")[:60] or f"tier-{index + 1}"
    price = tier.get("price", tier.get("amount"))
    items: list[LineItem] = []
    if price is not None:
        try:
            items.append(LineItem(slug="base", scheme="licensed", amount=price))
        except ValueError as error:
            raise ValueError(f"{index}.price: {error}") from error
    interval = tier.get("interval")
    trial = tier.get("trial_days")
    return Subscription(
        slug=f"{index}-{slug}",
        name=name,
        interval=interval if interval in _INTERVALS else "month",
        trial_days=trial if isinstance(trial, int) and not isinstance(trial, bool) else None,
        line_items=items,
        source=dict(tier),
    )


def _line_items(payload: BillingPricingPayload) -> list[LineItem]:
    items = []
    for field, (metric, per) in PRICE_FIELDS.items():
        price = getattr(payload, field)
        if price is not None:
            items.append(per_unit(field, metric, price, per))
    for name, price in (payload.custom_unit_prices or {}).items():
        items.append(per_unit(f"{CUSTOM_PREFIX}{name}".lower(), f"{CUSTOM_PREFIX}{name}", price))
    return items


def from_assmbl(payload: BillingPricingPayload | Mapping[str, Any]) -> PricingPlan:
    """The canonical plan of an Assmbl `BillingPricingPayload`."""
    if not isinstance(payload, BillingPricingPayload):
        payload = BillingPricingPayload.model_validate(payload)
    items = _line_items(payload)
    subscriptions = [
        _subscription(i, tier) for i, tier in enumerate(payload.subscription_tiers or [])
    ]
    given = payload.model_fields_set
    return PricingPlan(
        mode=derive_mode(items, subscriptions),
        unit=unit_of_currency(payload.currency),
        enabled=payload.enabled is not False,
        line_items=items,
        minimum_charge=payload.minimum_charge,
        free_quota=payload.free_quota,
        subscriptions=subscriptions,
        listing=Listing(
            summary=payload.listing_summary,
            request_payload_docs=payload.request_payload_docs,
            delivery_notes=payload.response_or_delivery_notes,
            integration_links=payload.integration_links,
            support_url=payload.support_url,
        ),
        extensions={
            f"assmbl.{key}": getattr(payload, key)
            for key in ("pricing_model", "currency", "enabled")
            if key in given
        },
    )


def to_assmbl(plan: PricingPlan) -> dict[str, Any]:
    """The plan as a `BillingPricingPayload` (for `get_billing_pricing`), only the fields it sets.

    Raises NotRepresentable for what Assmbl cannot say (tiers, markup, per-method prices, ...)."""
    _check_assmbl_can_say(plan)
    document: dict[str, Any] = {}
    for key in ("pricing_model", "currency", "enabled"):
        if f"assmbl.{key}" in plan.extensions:
            document[key] = plan.extensions[f"assmbl.{key}"]
    if "currency" not in document and plan.unit == "lovelace":
        document["currency"] = "ADA"
    if "enabled" not in document and not plan.enabled:
        document["enabled"] = False
    for field, (metric, per) in PRICE_FIELDS.items():
        price = simple_price(plan, metric, per, field)
        if price is not None:
            document[field] = price
    custom = _custom_prices(plan)
    if custom:
        document["custom_unit_prices"] = custom
    _put_optional(document, "free_quota", plan.free_quota)
    _put_optional(document, "minimum_charge", plan.minimum_charge)
    if plan.subscriptions:
        document["subscription_tiers"] = [_tier_document(s) for s in plan.subscriptions]
    _put_listing(document, plan.listing)
    return document


def _check_assmbl_can_say(plan: PricingPlan) -> None:
    if plan.mode in ("Fixed", "FixedPrices"):
        raise NotRepresentable("mode", "Assmbl has no registry prices")
    for field, value in (
        ("markup", plan.markup),
        ("reserve_max", plan.reserve_max),
        ("fallback_charge", plan.fallback_charge),
    ):
        if value is not None:
            raise NotRepresentable(field, "Assmbl has no such field")
    covered = {item.slug for item in plan.line_items if _assmbl_metric(item)}
    check_covered(plan.model_copy(update={"subscriptions": []}), covered, "Assmbl")
    for subscription in plan.subscriptions:
        if subscription.source is None:
            raise NotRepresentable("subscriptions", "only Assmbl's own tiers can be shown")


def _assmbl_metric(item: LineItem) -> bool:
    metrics = {metric for metric, _per in PRICE_FIELDS.values()}
    return item.metric is not None and (
        item.metric in metrics or item.metric.startswith(CUSTOM_PREFIX)
    )


def _custom_prices(plan: PricingPlan) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for item in plan.line_items:
        if item.metric is not None and item.metric.startswith(CUSTOM_PREFIX):
            name = item.metric.removeprefix(CUSTOM_PREFIX)
            price = simple_price(plan, item.metric, 1, f"custom_unit_prices.{name}")
            if price is not None:
                prices[name] = price
    return prices


def _tier_document(subscription: Subscription) -> dict[str, Any]:
    assert subscription.source is not None  # checked by _check_assmbl_can_say
    return dict(subscription.source)


def _put_optional(document: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        document[key] = value


def _put_listing(document: dict[str, Any], listing: Listing) -> None:
    _put_optional(document, "listing_summary", listing.summary)
    _put_optional(document, "request_payload_docs", listing.request_payload_docs)
    _put_optional(document, "response_or_delivery_notes", listing.delivery_notes)
    _put_optional(document, "integration_links", listing.integration_links)
    _put_optional(document, "support_url", listing.support_url)
