"""The engine on hand-computed examples of every model, and its properties (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.pricing import LineItem, PricingError, PricingPlan, from_agentic, quote, settle
from node.pricing.engine import to_smallest_unit
from node.pricing.plan import Tier, Transform

USDM = 1_000_000  # smallest units per USDM

# pricing.md: tiers 1-5 at 7, 6-10 at 6.5, 11+ at 6
STRIPE_TIERS = [
    Tier(up_to=Decimal(5), unit_amount=Decimal(7)),
    Tier(up_to=Decimal(10), unit_amount=Decimal("6.5")),
    Tier(unit_amount=Decimal(6)),
]


def item(metric: str, price: str, per: int = 1, **fields: Any) -> LineItem:
    slug = metric.replace(":", "-").lower()
    return LineItem(
        slug=slug, scheme="per_unit", metric=metric, unit_amount=Decimal(price), per=per, **fields
    )


def tiered(mode: str, tiers: list[Tier], metric: str = "requests", slug: str = "t") -> LineItem:
    return LineItem(slug=slug, scheme="tiered", metric=metric, tiers_mode=mode, tiers=tiers)


def plan(*items: LineItem, **fields: Any) -> PricingPlan:
    return PricingPlan(line_items=list(items), **fields)


def amount(priced: PricingPlan, **usage: Any) -> int:
    return quote(priced, usage).amount


# --- hand-computed examples, one per model ---------------------------------------------------


def test_volume_and_graduated_example_of_pricing_md() -> None:
    assert amount(plan(tiered("volume", STRIPE_TIERS)), requests=6) == 39 * USDM
    assert amount(plan(tiered("graduated", STRIPE_TIERS)), requests=6) == 41_500_000
    # 12 units: volume all at 6 = 72; graduated 5*7 + 5*6.5 + 2*6 = 79.5
    assert amount(plan(tiered("volume", STRIPE_TIERS)), requests=12) == 72 * USDM
    assert amount(plan(tiered("graduated", STRIPE_TIERS)), requests=12) == 79_500_000


def test_tiers_with_flat_amounts() -> None:
    tiers = [
        Tier(up_to=Decimal(10), unit_amount=Decimal(1), flat_amount=Decimal(5)),
        Tier(unit_amount=Decimal("0.5"), flat_amount=Decimal(2)),
    ]
    # graduated 15: 10*1 + 5 (first tier reached) + 5*0.5 + 2 = 19.5; volume 15: 15*0.5 + 2 = 9.5
    assert amount(plan(tiered("graduated", tiers)), requests=15) == 19_500_000
    assert amount(plan(tiered("volume", tiers)), requests=15) == 9_500_000
    # up_to is inclusive: 10 stays in the first tier
    assert amount(plan(tiered("volume", tiers)), requests=10) == 15 * USDM
    assert amount(plan(tiered("graduated", tiers)), requests=10) == 15 * USDM
    assert amount(plan(tiered("volume", tiers)), requests=0) == 0


def test_per_unit_request_price() -> None:
    assert amount(plan(item("requests", "0.01")), requests=3) == 30_000


def test_transform_divides_then_rounds_as_declared() -> None:
    up = item("rows", "0.5", transform=Transform(divide_by=Decimal(1000), round="up"))
    down = item("rows", "0.5", transform=Transform(divide_by=Decimal(1000), round="down"))
    assert amount(plan(up), rows=1500) == USDM  # ceil(1.5) = 2 packages * 0.5
    assert amount(plan(down), rows=1500) == 500_000  # floor(1.5) = 1
    assert amount(plan(up), rows=2000) == USDM
    assert quote(plan(up), {"rows": 1001}).lines[0].billed_quantity == 2


def test_markup_then_minimum_charge() -> None:
    # 0.002 * 1.5 = 0.003 is below the minimum 0.005: 0.005 (minimum before markup: 0.0075)
    rule = {"markup": Decimal("1.5"), "minimum_charge": Decimal("0.005")}
    assert amount(plan(item("requests", "0.002"), **rule), requests=1) == 5_000
    assert quote(plan(item("requests", "0.002"), **rule), {"requests": 1}).minimum_applied
    # 0.004 * 1.5 = 0.006 is above it
    assert amount(plan(item("requests", "0.004"), **rule), requests=1) == 6_000


def test_free_quota_per_buyer() -> None:
    priced = plan(item("requests", "0.01"), free_quota=2, minimum_charge=Decimal("0.02"))
    assert quote(priced, {"requests": 1}, prior_billable_requests=0).amount == 0
    assert quote(priced, {"requests": 1}, prior_billable_requests=1).free
    assert quote(priced, {"requests": 1}, prior_billable_requests=2).amount == 20_000


def test_reserve_caps_quote_and_settlement() -> None:
    priced = plan(item("requests", "2.5"), reserve_max=Decimal(1))
    charge = quote(priced, {"requests": 1})
    assert (charge.amount, charge.reserve, charge.capped) == (USDM, USDM, True)
    cheap = quote(priced, {"requests": Decimal("0.2")})
    assert (cheap.amount, cheap.reserve) == (500_000, USDM)
    assert settle(priced, {"requests": 1}, reserved=700_000).amount == 700_000


def test_fallback_charge_when_usage_is_missing() -> None:
    priced = plan(item("requests", "1"), fallback_charge=Decimal("0.2"))
    charge = settle(priced, None, reserved=USDM)
    assert (charge.amount, charge.fallback) == (200_000, True)
    assert settle(priced, None, reserved=100_000).amount == 100_000
    with pytest.raises(PricingError, match="usage"):
        settle(plan(item("requests", "1")), None, reserved=USDM)


def test_subscription_amount_per_interval_and_trial() -> None:
    agentic = from_agentic(
        {
            "pricingPlans": [
                {"name": "Free", "slug": "free", "lineItems": [
                    {"slug": "base", "usageType": "licensed", "amount": 0}]},
                {"name": "Basic", "slug": "basic", "trialPeriodDays": 7, "lineItems": [
                    {"slug": "base", "usageType": "licensed", "amount": 499}]},
            ]
        }
    )  # fmt: skip
    assert quote(agentic, {}, option="basic").amount == 4_990_000
    assert quote(agentic, {}, option="basic", in_trial=True).amount == 0
    assert quote(agentic, {}, option="free").amount == 0
    with pytest.raises(PricingError, match="option"):
        quote(agentic, {})


def test_per_method_prices() -> None:
    priced = plan(item("method:POST", "0.002"), item("method:GET", "0.001"))
    assert amount(priced, **{"method:POST": 2, "method:GET": 1}) == 5_000


def test_per_1000_rows_and_compute() -> None:
    assert amount(plan(item("rows", "0.5", per=1000)), rows=2500) == 1_250_000
    assert amount(plan(item("compute_seconds", "0.0001")), compute_seconds=90) == 9_000
    assert amount(plan(item("hours", "3.6")), hours="1.5") == 5_400_000


def test_per_million_tokens() -> None:
    priced = plan(
        item("input_tokens", "0.10", per=1_000_000), item("output_tokens", "0.30", per=1_000_000)
    )
    # 12000 * 0.10 / 1M + 800 * 0.30 / 1M = 0.0012 + 0.00024
    assert amount(priced, input_tokens=12_000, output_tokens=800) == 1_440


def test_outcomes_executions_custom_units() -> None:
    priced = plan(
        item("outcomes", "0.25"), item("executions", "0.01"), item("custom:images", "0.02")
    )
    assert amount(priced, outcomes=2, executions=3, **{"custom:images": 5}) == 630_000


def test_rounding_half_up_once() -> None:
    priced = plan(item("input_tokens", "0.5", per=1_000_000))
    assert amount(priced, input_tokens=1) == 1  # 0.0000005 -> 1
    assert amount(priced, input_tokens=0) == 0
    # three items of 0.0000004 each: rounded once (0.0000012 -> 1), not per item (0 + 0 + 0)
    three = plan(*(item(m, "0.0000004") for m in ("requests", "outcomes", "executions")))
    assert amount(three, requests=1, outcomes=1, executions=1) == 1


def test_fixed_and_fixed_prices() -> None:
    unit = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"
    fixed = PricingPlan(mode="Fixed", prices=[{"amounts": [{"unit": unit, "amount": "1000000"}]}])
    assert quote(fixed, {}).amounts == ((unit, 1_000_000),)
    options = PricingPlan(
        mode="FixedPrices",
        prices=[
            {"name": "fast", "amounts": [{"unit": unit, "amount": "500000"}]},
            {"name": "thorough", "amounts": [{"unit": unit, "amount": "2000000"}]},
        ],
    )
    assert quote(options, {}, option="thorough").amount == 2_000_000
    with pytest.raises(PricingError, match="option"):
        quote(options, {})


def test_unknown_metric_and_bad_quantity() -> None:
    priced = plan(item("requests", "1"))
    with pytest.raises(PricingError, match=r"usage\.tokens"):
        quote(priced, {"tokens": 1})
    with pytest.raises(PricingError, match=r"usage\.custom:images"):
        quote(priced, {"custom:images": 1})
    with pytest.raises(PricingError, match=r"usage\.requests"):
        quote(priced, {"requests": -1})


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"up_to": 10, "unit_amount": 1}, {"up_to": 5, "unit_amount": 1}, {"unit_amount": 1}],
         "ascend"),
        ([{"unit_amount": 1}, {"unit_amount": 2}], "one tier"),
        ([{"up_to": 5, "unit_amount": 1}], "last tier"),
        ([{"up_to": 5, "unit_amount": -1}, {"unit_amount": 1}], "negative"),
        ([{"up_to": 5, "unit_amount": "ten"}, {"unit_amount": 1}], "decimal"),
    ],
)  # fmt: skip
def test_bad_tiers_are_refused(tiers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LineItem(slug="t", scheme="tiered", metric="requests", tiers_mode="volume", tiers=tiers)


def test_transform_with_tiers_is_refused() -> None:
    with pytest.raises(ValueError, match="transform"):
        LineItem(
            slug="t", scheme="tiered", metric="requests", tiers_mode="volume",
            tiers=STRIPE_TIERS, transform=Transform(divide_by=Decimal(10), round="up"),
        )  # fmt: skip


# --- properties ------------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
quantities = st.integers(min_value=0, max_value=10**9)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 10**6), min_size=0, max_size=5)))
    tiers = [
        Tier(up_to=Decimal(b), unit_amount=draw(prices), flat_amount=draw(prices)) for b in bounds
    ]
    return [*tiers, Tier(unit_amount=draw(prices), flat_amount=draw(prices))]


@st.composite
def plans(draw: st.DrawFn) -> PricingPlan:
    metrics = ["requests", "input_tokens", "rows", "custom:images"]
    items: list[LineItem] = []
    for index, metric in enumerate(draw(st.lists(st.sampled_from(metrics), max_size=4))):
        slug = f"i{index}"
        if draw(st.booleans()):
            mode = draw(st.sampled_from(["graduated", "volume"]))
            items.append(tiered(mode, draw(tier_lists()), metric, slug))
        else:
            per = draw(st.sampled_from([1, 1000]))
            price = draw(prices)
            items.append(
                LineItem(slug=slug, scheme="per_unit", metric=metric, unit_amount=price, per=per)
            )
    return PricingPlan(
        line_items=items,
        markup=draw(st.none() | st.decimals(min_value=1, max_value=3, places=2)),
        minimum_charge=draw(st.none() | prices),
        free_quota=draw(st.none() | st.integers(0, 3)),
        reserve_max=draw(st.none() | prices),
    )


usages = st.fixed_dictionaries(
    {}, optional={m: quantities for m in ("requests", "input_tokens", "rows", "custom:images")}
)


@settings(max_examples=300, deadline=None)
@given(plans(), usages, st.integers(0, 5))
def test_amounts_are_integers_and_quote_equals_settlement(
    priced: PricingPlan, usage: dict[str, int], prior: int
) -> None:
    custom = {m for m in usage if m.startswith("custom:")} - priced.metrics()
    usage = {m: q for m, q in usage.items() if m not in custom}
    charge = quote(priced, usage, prior_billable_requests=prior)
    assert type(charge.amount) is int and type(charge.reserve) is int  # no float, no Decimal
    assert all(type(line.amount) is Decimal for line in charge.lines)
    settled = settle(priced, usage, reserved=charge.reserve, prior_billable_requests=prior)
    assert settled.amount == charge.amount
    assert 0 <= charge.amount <= charge.reserve or priced.reserve_max is None


@settings(max_examples=300, deadline=None)
@given(tier_lists(), quantities, quantities)
def test_graduated_totals_never_decrease(tiers: list[Tier], first: int, second: int) -> None:
    low, high = sorted((first, second))
    priced = plan(tiered("graduated", tiers))
    assert quote(priced, {"requests": low}).total <= quote(priced, {"requests": high}).total


@settings(max_examples=300, deadline=None)
@given(quantities, st.integers(1, 10**6), st.sampled_from(["up", "down"]))
def test_transform_rounding_is_as_declared(quantity: int, divide_by: int, rounding: str) -> None:
    transform = Transform(divide_by=Decimal(divide_by), round=rounding)  # type: ignore[arg-type]
    line = quote(plan(item("rows", "1", transform=transform)), {"rows": quantity}).lines[0]
    whole, rest = divmod(quantity, divide_by)
    assert line.billed_quantity == (whole + (1 if rest and rounding == "up" else 0))


@settings(max_examples=300, deadline=None)
@given(prices, st.decimals(min_value=1, max_value=5, places=3), prices)
def test_markup_before_minimum(price: Decimal, markup: Decimal, minimum: Decimal) -> None:
    priced = plan(item("requests", str(price)), markup=markup, minimum_charge=minimum)
    expected = max(price * markup, minimum)
    assert quote(priced, {"requests": 1}).amount == to_smallest_unit(expected, 6)
