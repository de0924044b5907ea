"""Seed 003, Agentic's declarative `pricingPlans`: licensed and metered line items on Stripe terms.

Amounts are in the smallest currency unit of USD, cents (499 = USD 4.99 = USDM 4.99), and may
have fractions of a cent (0.467); the canonical plan holds whole units, so cents move by /100.
Each Agentic plan is a canonical subscription the buyer picks by its slug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from node.pricing.mapping import NotRepresentable, derive_mode
from node.pricing.plan import (
    CUSTOM_PREFIX,
    LineItem,
    Money,
    PricingPlan,
    RateLimit,
    Subscription,
    Tier,
    Transform,
    check_tiers,
)

MAX_LINE_ITEMS = 20  # Agentic's own limit per plan
_INTERVAL_TEXT = re.compile(r"^([0-9]{1,7})\s*(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Kebab = Annotated[str, Field(pattern=_KEBAB, max_length=80)]


class AgenticRateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=0, le=10**9)
    interval: int | str = Field(examples=["1d", 60])
    enabled: bool | None = None

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, interval: int | str) -> int | str:
        interval_seconds(interval)
        return interval


def interval_seconds(interval: int | str) -> int:
    """Seconds, or text like 30s, 15m, 1h, 1d, 1w."""
    if isinstance(interval, int):
        seconds = interval
    else:
        match = _INTERVAL_TEXT.match(interval.strip())
        if match is None:
            raise ValueError("must be seconds or a duration like 60s, 15m, 1h, 1d, 1w")
        seconds = int(match.group(1)) * _SECONDS[match.group(2)]
    if not 1 <= seconds <= 366 * 86400:
        raise ValueError("must be between one second and a year")
    return seconds


class AgenticTier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to: Money | Literal["inf"] = Field(alias="upTo")
    unit_amount: Money | None = Field(default=None, alias="unitAmount")
    flat_amount: Money | None = Field(default=None, alias="flatAmount")

    @model_validator(mode="after")
    def _an_amount(self) -> AgenticTier:
        if self.unit_amount is None and self.flat_amount is None:
            raise ValueError("unitAmount: a tier needs unitAmount or flatAmount")
        return self


class AgenticTransform(BaseModel):
    model_config = ConfigDict(extra="forbid")

    divide_by: Money = Field(alias="divideBy")
    round: Literal["up", "down"]

    @field_validator("divide_by")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("must be positive")
        return value


class AgenticAggregation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formula: Literal["sum", "count"] = "sum"


class AgenticLineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Kebab
    label: str | None = Field(default=None, max_length=200)
    usage_type: Literal["licensed", "metered"] = Field(alias="usageType")
    amount: Money | None = None
    unit_label: str | None = Field(default=None, alias="unitLabel", max_length=100)
    billing_scheme: Literal["per_unit", "tiered"] | None = Field(
        default=None, alias="billingScheme"
    )
    unit_amount: Money | None = Field(default=None, alias="unitAmount")
    tiers_mode: Literal["graduated", "volume"] | None = Field(default=None, alias="tiersMode")
    tiers: list[AgenticTier] | None = Field(default=None, max_length=50)
    default_aggregation: AgenticAggregation | None = Field(default=None, alias="defaultAggregation")
    transform_quantity: AgenticTransform | None = Field(default=None, alias="transformQuantity")

    @field_validator("tiers")
    @classmethod
    def _tiers_in_order(cls, tiers: list[AgenticTier] | None) -> list[AgenticTier] | None:
        if tiers is not None:
            check_tiers([_tier(tier) for tier in tiers])
        return tiers

    @model_validator(mode="after")
    def _usage_type_has_what_it_needs(self) -> AgenticLineItem:
        if self.usage_type == "licensed":
            _need(self.amount is not None, "amount: a licensed line item needs its amount")
            return self
        _need(self.billing_scheme is not None, "billingScheme: a metered line item needs it")
        if self.billing_scheme == "per_unit":
            _need(self.unit_amount is not None, "unitAmount: per_unit needs it")
            _need(self.tiers is None, "tiers: only with billingScheme tiered")
        else:
            _need(self.tiers is not None, "tiers: billingScheme tiered needs tiers")
            _need(self.tiers_mode is not None, "tiersMode: billingScheme tiered needs it")
            _need(self.transform_quantity is None, "transformQuantity: cannot go with tiers")
        return self


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class AgenticPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: Kebab
    interval: Literal["day", "week", "month", "year"] | None = None
    description: str | None = Field(default=None, max_length=2000)
    features: list[str] | None = Field(default=None, max_length=100)
    trial_period_days: int | None = Field(default=None, alias="trialPeriodDays", ge=0, le=3650)
    rate_limit: AgenticRateLimit | None = Field(default=None, alias="rateLimit")
    line_items: list[AgenticLineItem] = Field(
        alias="lineItems", min_length=1, max_length=MAX_LINE_ITEMS
    )

    @field_validator("line_items")
    @classmethod
    def _unique_slugs(cls, items: list[AgenticLineItem]) -> list[AgenticLineItem]:
        slugs = [item.slug for item in items]
        _need(len(slugs) == len(set(slugs)), "line item slugs must be unique in a plan")
        return items


class AgenticPricing(BaseModel):
    """`{"pricingPlans": [...]}`, as in an agentic.config.ts."""

    model_config = ConfigDict(extra="forbid")

    pricing_plans: list[AgenticPlan] = Field(alias="pricingPlans", min_length=1, max_length=20)

    @field_validator("pricing_plans")
    @classmethod
    def _unique_slugs(cls, plans: list[AgenticPlan]) -> list[AgenticPlan]:
        slugs = [plan.slug for plan in plans]
        _need(len(slugs) == len(set(slugs)), "plan slugs must be unique")
        return plans


def _whole(cents: Decimal | None) -> Decimal | None:
    return None if cents is None else cents.scaleb(-2)


def _cents(whole: Decimal | None) -> Decimal | None:
    return None if whole is None else whole.scaleb(2)


def _tier(tier: AgenticTier) -> Tier:
    return Tier(
        up_to=None if tier.up_to == "inf" else tier.up_to,
        unit_amount=_whole(tier.unit_amount) or Decimal(0),
        flat_amount=_whole(tier.flat_amount) or Decimal(0),
    )


def metric_of_slug(slug: str) -> str:
    """`requests` is Agentic's reserved metered slug; every other metered slug is a custom unit."""
    return "requests" if slug == "requests" else f"{CUSTOM_PREFIX}{slug}"


def _line_item(item: AgenticLineItem) -> LineItem:
    common: dict[str, Any] = {"slug": item.slug, "label": item.label, "unit_label": item.unit_label}
    if item.default_aggregation is not None:
        common["aggregation"] = item.default_aggregation.formula
    if item.usage_type == "licensed":
        return LineItem(scheme="licensed", amount=_whole(item.amount), **common)
    transform = item.transform_quantity
    return LineItem(
        scheme=item.billing_scheme or "per_unit",
        metric=metric_of_slug(item.slug),
        unit_amount=_whole(item.unit_amount),
        tiers_mode=item.tiers_mode,
        tiers=None if item.tiers is None else [_tier(tier) for tier in item.tiers],
        transform=None
        if transform is None
        else Transform(divide_by=transform.divide_by, round=transform.round),
        **common,
    )


def _rate_limit(limit: AgenticRateLimit | None) -> RateLimit | None:
    if limit is None:
        return None
    return RateLimit(
        limit=limit.limit,
        interval_s=interval_seconds(limit.interval),
        enabled=limit.enabled is not False,
        interval_text=limit.interval if isinstance(limit.interval, str) else None,
    )


def _subscription(plan: AgenticPlan) -> Subscription:
    return Subscription(
        slug=plan.slug,
        name=plan.name,
        interval=plan.interval or "month",
        trial_days=plan.trial_period_days,
        line_items=[_line_item(item) for item in plan.line_items],
        rate_limit=_rate_limit(plan.rate_limit),
        description=plan.description,
        features=plan.features,
    )


def from_agentic(pricing: AgenticPricing | Mapping[str, Any]) -> PricingPlan:
    """The canonical plan of Agentic `pricingPlans`: one subscription per plan, in USDM."""
    if not isinstance(pricing, AgenticPricing):
        pricing = AgenticPricing.model_validate(pricing)
    subscriptions = [_subscription(plan) for plan in pricing.pricing_plans]
    return PricingPlan(
        mode=derive_mode([], subscriptions), unit="USDM", subscriptions=subscriptions
    )


def to_agentic(plan: PricingPlan) -> dict[str, Any]:
    """The plan as `{"pricingPlans": [...]}`. NotRepresentable for what Agentic cannot say."""
    _check_agentic_can_say(plan)
    return {"pricingPlans": [_plan_document(s) for s in plan.subscriptions]}


def _check_agentic_can_say(plan: PricingPlan) -> None:
    if plan.mode in ("Fixed", "FixedPrices"):
        raise NotRepresentable("mode", "Agentic has no registry prices")
    if plan.line_items:
        raise NotRepresentable("line_items", "Agentic prices only inside its plans")
    if not plan.subscriptions:
        raise NotRepresentable("subscriptions", "Agentic needs at least one plan")
    for field in ("minimum_charge", "markup", "free_quota", "reserve_max", "fallback_charge"):
        if getattr(plan, field) is not None:
            raise NotRepresentable(field, "Agentic has no such field")
    for subscription in plan.subscriptions:
        for item in subscription.line_items:
            _check_item(item)


def _check_item(item: LineItem) -> None:
    if item.scheme == "licensed":
        return
    if item.metric != metric_of_slug(item.slug):
        raise NotRepresentable("line_items", f"{item.slug!r}: Agentic meters a slug's own metric")
    if item.per != 1:
        raise NotRepresentable("line_items", f"{item.slug!r}: Agentic prices single units")


def _plan_document(subscription: Subscription) -> dict[str, Any]:
    document: dict[str, Any] = {"name": subscription.name, "slug": subscription.slug}
    document["interval"] = subscription.interval
    _put(document, "description", subscription.description)
    _put(document, "features", subscription.features)
    _put(document, "trialPeriodDays", subscription.trial_days)
    if subscription.rate_limit is not None:
        document["rateLimit"] = _rate_limit_document(subscription.rate_limit)
    document["lineItems"] = [_item_document(item) for item in subscription.line_items]
    return document


def _rate_limit_document(limit: RateLimit) -> dict[str, Any]:
    document: dict[str, Any] = {
        "limit": limit.limit,
        "interval": limit.interval_text or limit.interval_s,
    }
    if not limit.enabled:
        document["enabled"] = False
    return document


def _item_document(item: LineItem) -> dict[str, Any]:
    document: dict[str, Any] = {"slug": item.slug}
    _put(document, "label", item.label)
    if item.scheme == "licensed":
        document["usageType"] = "licensed"
        document["amount"] = _cents(item.amount)
        return document
    document["usageType"] = "metered"
    _put(document, "unitLabel", item.unit_label)
    document["billingScheme"] = item.scheme
    _put(document, "unitAmount", _cents(item.unit_amount))
    _put(document, "tiersMode", item.tiers_mode)
    if item.tiers is not None:
        document["tiers"] = [_tier_document(tier) for tier in item.tiers]
    if item.aggregation != "sum":
        document["defaultAggregation"] = {"formula": item.aggregation}
    if item.transform is not None:
        transform = item.transform
        document["transformQuantity"] = {"divideBy": transform.divide_by, "round": transform.round}
    return document


def _tier_document(tier: Tier) -> dict[str, Any]:
    document: dict[str, Any] = {"upTo": "inf" if tier.up_to is None else tier.up_to}
    if tier.unit_amount:
        document["unitAmount"] = _cents(tier.unit_amount)
    if tier.flat_amount:
        document["flatAmount"] = _cents(tier.flat_amount)
    return document


def _put(document: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        document[key] = value
