"""Seeds 001 and 004, SerenAI pay-per-call: `UpdatePricingRequest` in, `PricingConfigResponse` out.

Money is a decimal string in whole currency units, kept digit for digit as the seller wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from node.pricing.mapping import (
    NotRepresentable,
    check_covered,
    derive_mode,
    per_unit,
    simple_price,
)
from node.pricing.plan import Limits, LineItem, Listing, PricingPlan, parse_decimal

ROWS_PER_PRICE = 1000
MS_PER_MINUTE = 60_000
NIL_ASSET_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_PAYMENT_EXPIRY_MINUTES = 60
DEFAULT_PRICING_MODEL = "per_call"


def _decimal_string(text: str) -> str:
    parse_decimal(text)  # refuses negative, non-numeric and non-finite prices
    return text


# Seren sends money as strings: a JSON number is refused (it may already have lost digits).
DecimalString = Annotated[
    str, Field(max_length=40, examples=["0.0025"]), AfterValidator(_decimal_string)
]
Uuid = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]

# Seed field -> (line item slug and metric, price per this many units).
PRICE_FIELDS: dict[str, tuple[str, int]] = {
    "price_per_call": ("requests", 1),
    "price_per_get": ("method:GET", 1),
    "price_per_post": ("method:POST", 1),
    "price_per_put": ("method:PUT", 1),
    "price_per_patch": ("method:PATCH", 1),
    "price_per_delete": ("method:DELETE", 1),
    "base_price_per_1000_rows": ("rows", ROWS_PER_PRICE),
    "hourly_rate": ("hours", 1),
    "price_per_execution": ("executions", 1),
}
# Fields kept as written that price nothing here (balances, token exchange, display).
KEPT_FIELDS = (
    "asset_id",
    "asset_symbol",
    "grace_period_minutes",
    "low_balance_threshold",
    "min_display_price",
    "minimum_balance",
    "onchain_enabled",
    "prepaid_enabled",
    "pricing_model",
    "token_cache_ttl_seconds",
    "token_exchange_method",
    "token_exchange_mode",
    "token_exchange_url",
    "token_response_field",
)


class UpdatePricingRequest(BaseModel):
    """Request to update pricing config (only `asset_id` is required)."""

    model_config = ConfigDict(extra="forbid")

    asset_id: Uuid
    asset_symbol: str | None = Field(default=None, max_length=150)
    base_price_per_1000_rows: DecimalString | None = None
    grace_period_minutes: Int32 | None = None
    hourly_rate: DecimalString | None = None
    low_balance_threshold: DecimalString | None = None
    markup_multiplier: DecimalString | None = None
    max_queries_per_minute: Int32 | None = None
    min_charge: DecimalString | None = None
    min_display_price: DecimalString | None = None
    minimum_balance: DecimalString | None = None
    onchain_enabled: bool | None = None
    payment_expiry_minutes: Int32 | None = None
    prepaid_enabled: bool | None = None
    price_per_call: DecimalString | None = None
    price_per_delete: DecimalString | None = None
    price_per_execution: DecimalString | None = None
    price_per_get: DecimalString | None = None
    price_per_patch: DecimalString | None = None
    price_per_post: DecimalString | None = None
    price_per_put: DecimalString | None = None
    pricing_display_text: str | None = Field(default=None, max_length=500)
    pricing_model: str | None = Field(default=None, max_length=40)
    reserve_max_charge: DecimalString | None = None
    token_cache_ttl_seconds: int | None = Field(default=None, ge=60, le=86400)
    token_exchange_method: Literal["POST", "GET"] | None = None
    token_exchange_mode: Literal["header", "body", "query"] | None = None
    token_exchange_url: str | None = Field(default=None, max_length=500)
    token_response_field: str | None = Field(default=None, max_length=100)
    unresolved_fallback_charge: DecimalString | None = None


class PricingConfigResponse(BaseModel):
    """Pricing config response."""

    asset_id: str
    asset_symbol: str | None = None
    base_price_per_1000_rows: str
    grace_period_minutes: int | None = None
    hourly_rate: str | None = None
    low_balance_threshold: str
    markup_multiplier: str
    max_queries_per_minute: int | None = None
    min_charge: str
    min_display_price: str | None = None
    minimum_balance: str
    onchain_enabled: bool
    payment_expiry_minutes: int
    prepaid_enabled: bool
    price_per_call: str | None = None
    price_per_delete: str | None = None
    price_per_execution: str | None = None
    price_per_get: str | None = None
    price_per_patch: str | None = None
    price_per_post: str | None = None
    price_per_put: str | None = None
    pricing_display_text: str | None = None
    pricing_model: str
    reserve_max_charge: str | None = None
    unresolved_fallback_charge: str | None = None


def merge_update(current: Mapping[str, Any] | None, update: Mapping[str, Any]) -> dict[str, Any]:
    """An update changes the fields it sends (null clears one) and keeps the others."""
    merged = dict(current or {})
    merged.update(update)
    return {key: value for key, value in merged.items() if value is not None}


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _line_items(request: UpdatePricingRequest) -> list[LineItem]:
    items = []
    for field, (metric, per) in PRICE_FIELDS.items():
        price = _money(getattr(request, field))
        if price is not None:
            items.append(per_unit(metric.lower(), metric, price, per))
    return items


def from_seren(payload: UpdatePricingRequest | Mapping[str, Any]) -> PricingPlan:
    """The canonical plan of a SerenAI pricing config (an `UpdatePricingRequest`)."""
    if not isinstance(payload, UpdatePricingRequest):
        payload = UpdatePricingRequest.model_validate(payload)
    items = _line_items(payload)
    expiry = payload.payment_expiry_minutes
    return PricingPlan(
        mode=derive_mode(items, []),
        unit=payload.asset_symbol or "USDM",
        line_items=items,
        markup=_money(payload.markup_multiplier),
        minimum_charge=_money(payload.min_charge),
        reserve_max=_money(payload.reserve_max_charge),
        fallback_charge=_money(payload.unresolved_fallback_charge),
        payment_expiry_ms=None if expiry is None else expiry * MS_PER_MINUTE,
        limits=Limits(max_queries_per_minute=payload.max_queries_per_minute),
        listing=Listing(display_text=payload.pricing_display_text),
        extensions={
            f"seren.{key}": getattr(payload, key)
            for key in KEPT_FIELDS
            if getattr(payload, key) is not None
        },
    )


def to_seren(plan: PricingPlan) -> PricingConfigResponse:
    """The plan as SerenAI's `PricingConfigResponse`; required fields it lacks get Seren's
    neutral values (no markup, no minimum). NotRepresentable for what Seren cannot say."""
    _check_seren_can_say(plan)
    kept = {key: plan.extensions.get(f"seren.{key}") for key in KEPT_FIELDS}
    prices = {
        field: _text(simple_price(plan, metric, per, field))
        for field, (metric, per) in PRICE_FIELDS.items()
    }
    expiry = plan.payment_expiry_ms
    return PricingConfigResponse(
        asset_id=kept["asset_id"] or NIL_ASSET_ID,
        asset_symbol=kept["asset_symbol"],
        base_price_per_1000_rows=prices.pop("base_price_per_1000_rows") or "0",
        grace_period_minutes=kept["grace_period_minutes"],
        low_balance_threshold=kept["low_balance_threshold"] or "0",
        markup_multiplier=_text(plan.markup) or "1",
        max_queries_per_minute=plan.limits.max_queries_per_minute,
        min_charge=_text(plan.minimum_charge) or "0",
        min_display_price=kept["min_display_price"],
        minimum_balance=kept["minimum_balance"] or "0",
        onchain_enabled=kept["onchain_enabled"] is not False,
        payment_expiry_minutes=(
            DEFAULT_PAYMENT_EXPIRY_MINUTES if expiry is None else expiry // MS_PER_MINUTE
        ),
        prepaid_enabled=kept["prepaid_enabled"] is True,
        pricing_display_text=plan.listing.display_text,
        pricing_model=kept["pricing_model"] or DEFAULT_PRICING_MODEL,
        reserve_max_charge=_text(plan.reserve_max),
        unresolved_fallback_charge=_text(plan.fallback_charge),
        **prices,
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _check_seren_can_say(plan: PricingPlan) -> None:
    if plan.mode in ("Fixed", "FixedPrices"):
        raise NotRepresentable("mode", "SerenAI has no registry prices")
    if plan.free_quota is not None:
        raise NotRepresentable("free_quota", "SerenAI has no free quota")
    if plan.payment_expiry_ms is not None and plan.payment_expiry_ms % MS_PER_MINUTE:
        raise NotRepresentable("payment_expiry_ms", "SerenAI counts whole minutes")
    metrics = {metric for metric, _per in PRICE_FIELDS.values()}
    covered = {item.slug for item in plan.line_items if item.metric in metrics}
    check_covered(plan, covered, "SerenAI")
