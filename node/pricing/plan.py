"""The canonical pricing plan of pricing.md. Every seed's document maps into it without loss.

Prices are Decimal in whole units of the plan's currency (USD 0.10 = USDM 0.10) until the engine
rounds the total once; a float from a seed is read through its decimal string, never used as is.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from node.units import UnitAmount

STANDARD_METRICS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "rows",
    "compute_seconds",
    "hours",
    "outcomes",
    "executions",
)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KNOWN_METRICS = frozenset(STANDARD_METRICS) | {f"method:{method}" for method in HTTP_METHODS}
CUSTOM_PREFIX = "custom:"
CUSTOM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_.:\-]{0,79}$")
_DECIMAL_TEXT = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?$")
MAX_LINE_ITEMS = 50
MAX_TIERS = 50


def parse_decimal(value: object) -> Decimal:
    """A non-negative finite Decimal from a decimal string, an integer, a Decimal or a seed float.

    A float is read through its shortest decimal string (`repr`), the digits its author wrote."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        if not _DECIMAL_TEXT.match(value):
            raise ValueError("must be a decimal number")
        value = Decimal(value)
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise ValueError("must be a decimal number")
    return _checked(value)


def _checked(value: Decimal) -> Decimal:
    try:
        finite = value.is_finite()
    except InvalidOperation as error:  # pragma: no cover - Decimal() already refused it
        raise ValueError("must be a decimal number") from error
    if not finite:
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value.adjusted() > 30:
        raise ValueError("is too large")
    return value


def check_metric(name: str) -> str:
    if name in KNOWN_METRICS:
        return name
    if name.startswith(CUSTOM_PREFIX) and CUSTOM_NAME.match(name.removeprefix(CUSTOM_PREFIX)):
        return name
    raise ValueError(
        f"unknown metric {name!r}: one of {', '.join(sorted(KNOWN_METRICS))} or custom:<name>"
    )


_DECIMAL_SCHEMA = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "examples": ["0.0025"]}

# Decimal inside; a decimal string on the wire so no client reads it into a float.
Money = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(_DECIMAL_SCHEMA),
]
Quantity = Money
Metric = Annotated[str, Field(max_length=80), AfterValidator(check_metric)]
Slug = Annotated[str, Field(pattern=SLUG.pattern)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transform(_Frozen):
    """Stripe's transform_quantity: divide the quantity, then round it to a whole number."""

    divide_by: Money
    round: Literal["up", "down"]

    @field_validator("divide_by")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("must be positive")
        return value


class Tier(_Frozen):
    """`up_to` inclusive; None is the unbounded last tier."""

    up_to: Quantity | None = None
    unit_amount: Money = Decimal(0)
    flat_amount: Money = Decimal(0)


def check_tiers(tiers: list[Tier]) -> list[Tier]:
    """Ascending bounds, one unbounded tier and it is the last (Stripe's rule)."""
    if not tiers:
        raise ValueError("needs at least one tier")
    bounds = [tier.up_to for tier in tiers]
    if bounds.count(None) > 1:
        raise ValueError("only one tier may be unbounded (up_to inf)")
    if bounds[-1] is not None:
        raise ValueError("the last tier must be unbounded (up_to inf)")
    finite = [bound for bound in bounds[:-1] if bound is not None]
    if len(finite) != len(bounds) - 1:
        raise ValueError("only the last tier may be unbounded (up_to inf)")
    if any(bound <= 0 for bound in finite):
        raise ValueError("up_to must be positive")
    if any(later <= earlier for earlier, later in itertools.pairwise(finite)):
        raise ValueError("up_to must ascend strictly")
    return tiers


class LineItem(_Frozen):
    """One priced metric (metered), or a fixed amount per interval (licensed).

    `per`: the price is for this many units (1 000 000 tokens, 1000 rows)."""

    slug: Slug
    label: str | None = Field(default=None, max_length=200)
    scheme: Literal["per_unit", "tiered", "licensed"]
    metric: Metric | None = None
    unit_amount: Money | None = None
    per: int = Field(default=1, ge=1, le=10**12)
    tiers_mode: Literal["graduated", "volume"] | None = None
    tiers: list[Tier] | None = Field(default=None, max_length=MAX_TIERS)
    transform: Transform | None = None
    amount: Money | None = None
    aggregation: Literal["sum", "count"] = "sum"
    unit_label: str | None = Field(default=None, max_length=100)

    @field_validator("tiers")
    @classmethod
    def _tiers_in_order(cls, tiers: list[Tier] | None) -> list[Tier] | None:
        return None if tiers is None else check_tiers(tiers)

    @model_validator(mode="after")
    def _scheme_has_what_it_needs(self) -> LineItem:
        if self.scheme == "licensed":
            _require(self.amount is not None, "amount: a licensed item needs its amount")
            _refuse(self.tiers or self.transform or self.unit_amount, "a licensed item has amount")
            return self
        _require(self.metric is not None, "metric: a metered item needs its metric")
        if self.scheme == "per_unit":
            _require(self.unit_amount is not None, "unit_amount: per_unit needs it")
            _refuse(self.tiers or self.tiers_mode, "tiers: only with scheme tiered")
        else:
            _require(self.tiers is not None, "tiers: scheme tiered needs tiers")
            _require(self.tiers_mode is not None, "tiers_mode: scheme tiered needs it")
            _refuse(self.transform, "transform: cannot be combined with tiers")
        return self


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _refuse(present: object, message: str) -> None:
    if present:
        raise ValueError(message)


class RateLimit(_Frozen):
    """At most `limit` quotes per buyer in each window of `interval_s` seconds."""

    limit: int = Field(ge=0, le=10**9)
    interval_s: int = Field(ge=1, le=366 * 86400)
    enabled: bool = True
    interval_text: str | None = Field(default=None, max_length=20)  # the seed's spelling: "1d"


class Limits(_Frozen):
    max_queries_per_minute: int | None = Field(default=None, ge=0, le=10**9)
    rate_limit: RateLimit | None = None


class Subscription(_Frozen):
    """A licensed plan the buyer picks by slug: items charged per interval, a trial, a limit."""

    slug: Slug
    name: str = Field(max_length=200)
    interval: Literal["day", "week", "month", "year"] = "month"
    trial_days: int | None = Field(default=None, ge=0, le=3650)
    line_items: list[LineItem] = Field(default_factory=list, max_length=MAX_LINE_ITEMS)
    rate_limit: RateLimit | None = None
    description: str | None = Field(default=None, max_length=2000)
    features: list[str] | None = Field(default=None, max_length=100)
    # The seed's own entry for this plan when its shape is open (Assmbl's list[dict]), kept so
    # the inverse gives it back as written.
    source: dict[str, Any] | None = None


class PriceOption(_Frozen):
    """A registry price (MIP-002 `pricing`): integer amounts in the smallest unit."""

    name: str | None = Field(default=None, max_length=100)
    amounts: list[UnitAmount] = Field(min_length=1, max_length=10)


class Listing(_Frozen):
    summary: str | None = Field(default=None, max_length=2000)
    request_payload_docs: str | None = Field(default=None, max_length=10000)
    delivery_notes: str | None = Field(default=None, max_length=10000)
    integration_links: list[dict[str, str]] | None = Field(default=None, max_length=50)
    support_url: str | None = Field(default=None, max_length=500)
    display_text: str | None = Field(default=None, max_length=500)


class PricingPlan(_Frozen):
    """One agent's pricing. `unit` is the currency every Money field is in (whole units);
    `decimals` is how many digits its smallest unit has (USDM and ADA: 6)."""

    mode: Literal["Free", "Fixed", "FixedPrices", "Dynamic"] = "Dynamic"
    unit: str = Field(default="USDM", max_length=150)
    decimals: int = Field(default=6, ge=0, le=18)
    enabled: bool = True
    prices: list[PriceOption] = Field(default_factory=list, max_length=20)
    line_items: list[LineItem] = Field(default_factory=list, max_length=MAX_LINE_ITEMS)
    minimum_charge: Money | None = None
    markup: Money | None = None  # None: 1
    free_quota: int | None = Field(default=None, ge=0, le=10**12)
    reserve_max: Money | None = None
    fallback_charge: Money | None = None
    quote_ttl_ms: int | None = Field(default=None, ge=1000, le=366 * 86_400_000)
    payment_expiry_ms: int | None = Field(default=None, ge=0, le=366 * 86_400_000)
    subscriptions: list[Subscription] = Field(default_factory=list, max_length=20)
    limits: Limits = Limits()
    listing: Listing = Listing()
    # The seed's fields that price nothing (Seren's token exchange, Assmbl's pricing_model, ...).
    extensions: dict[str, Any] = Field(default_factory=dict)

    _compiled: Any = PrivateAttr(default=None)  # the engine's fast form, built on first use

    @model_validator(mode="after")
    def _consistent(self) -> PricingPlan:
        slugs = [item.slug for item in self.line_items]
        _require(len(slugs) == len(set(slugs)), "line_items: slugs must be unique")
        options = [subscription.slug for subscription in self.subscriptions]
        _require(len(options) == len(set(options)), "subscriptions: slugs must be unique")
        if self.mode == "Fixed":
            _require(len(self.prices) == 1, "prices: Fixed has exactly one price")
        elif self.mode == "FixedPrices":
            _require(len(self.prices) >= 1, "prices: FixedPrices needs its options")
            names = [option.name for option in self.prices]
            _require(None not in names, "prices: each FixedPrices option needs a name")
            _require(len(names) == len(set(names)), "prices: option names must be unique")
        else:
            _require(not self.prices, "prices: only Fixed and FixedPrices plans have prices")
        return self

    def metrics(self) -> set[str]:
        """Every metric the plan prices, in its own items and its subscriptions'."""
        items = list(self.line_items)
        for subscription in self.subscriptions:
            items.extend(subscription.line_items)
        return {item.metric for item in items if item.metric is not None}
