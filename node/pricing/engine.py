"""The pricing engine: pure functions, no database, exact Decimal arithmetic, one rounding rule.

pricing.md, "Arithmetic": each line item (quantity after transform; per unit, or tiers), the
subtotal times the markup, zero within the buyer's free quota else at least the minimum charge,
then ONE rounding, half up, to the smallest unit. A quote and a settlement of the same usage go
through the same function, so they are equal to the unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import NamedTuple

from node.pricing.plan import (
    CUSTOM_PREFIX,
    LineItem,
    PricingPlan,
    Tier,
    check_metric,
    parse_decimal,
)

# Enough digits that no product of a quantity and a price is ever rounded before the one rounding;
# a float mixed into the arithmetic raises (FloatOperation) instead of passing unnoticed.
_CONTEXT = Context(
    prec=80,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow, FloatOperation],
)
_ZERO = Decimal(0)
_ONE = Decimal(1)

Usage = Mapping[str, int | Decimal | str]

_PER_UNIT, _TIERED, _LICENSED = 0, 1, 2


class PricingError(ValueError):
    """Input the engine cannot price; `field` names it (usage.<metric>, option, usage)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LineCharge(NamedTuple):
    """One line of the breakdown: exact, in whole units, before markup. (A tuple: the engine
    makes twenty of them per quote, and a frozen dataclass costs three times as much.)"""

    slug: str
    metric: str | None
    quantity: Decimal
    billed_quantity: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Charge:
    """What a quote or a settlement comes to. `amount` and `reserve` are integers in the
    smallest unit of `unit`; `amounts` lists every unit (a registry price may have several)."""

    unit: str
    amount: int
    reserve: int
    amounts: tuple[tuple[str, int], ...]
    lines: tuple[LineCharge, ...]
    subtotal: Decimal
    total: Decimal
    option: str | None
    free: bool = False
    minimum_applied: bool = False
    capped: bool = False
    fallback: bool = False
    in_trial: bool = False


# A tier reduced to (up_to or None, unit_amount, flat_amount, lower bound, graduated total of
# every tier below it): a graduated amount is then one lookup and three operations.
_Tier = tuple[Decimal | None, Decimal, Decimal, Decimal, Decimal]
# A line item reduced to a tuple: (slug, metric, kind, unit_amount, per, tiers, volume,
# divide_by, round_up, amount).
_Item = tuple[
    str,
    str | None,
    int,
    Decimal,
    Decimal | None,
    tuple[_Tier, ...],
    bool,
    Decimal | None,
    bool,
    Decimal,
]


@dataclass(frozen=True, slots=True)
class _Compiled:
    items_by_option: dict[str | None, tuple[_Item, ...]]
    custom_metrics: frozenset[str]
    metrics: frozenset[str]


def _compile_tiers(tiers: list[Tier]) -> tuple[_Tier, ...]:
    compiled = []
    lower = below = _ZERO
    with localcontext(_CONTEXT):
        for tier in tiers:
            compiled.append((tier.up_to, tier.unit_amount, tier.flat_amount, lower, below))
            if tier.up_to is not None:
                below += (tier.up_to - lower) * tier.unit_amount + tier.flat_amount
                lower = tier.up_to
    return tuple(compiled)


def _compile_item(item: LineItem) -> _Item:
    tiers = _compile_tiers(item.tiers or [])
    kind = {"per_unit": _PER_UNIT, "tiered": _TIERED, "licensed": _LICENSED}[item.scheme]
    transform = item.transform
    return (
        item.slug,
        item.metric,
        kind,
        item.unit_amount if item.unit_amount is not None else _ZERO,
        Decimal(item.per) if item.per != 1 else None,
        tiers,
        item.tiers_mode == "volume",
        transform.divide_by if transform is not None else None,
        transform is not None and transform.round == "up",
        item.amount if item.amount is not None else _ZERO,
    )


def _compiled(plan: PricingPlan) -> _Compiled:
    cached = plan._compiled
    if isinstance(cached, _Compiled):
        return cached
    base = tuple(_compile_item(item) for item in plan.line_items)
    items: dict[str | None, tuple[_Item, ...]] = {None: base}
    for subscription in plan.subscriptions:
        own = tuple(_compile_item(item) for item in subscription.line_items)
        items[subscription.slug] = base + own
    metrics = frozenset(plan.metrics())
    custom = frozenset(m for m in metrics if m.startswith(CUSTOM_PREFIX))
    compiled = _Compiled(items_by_option=items, custom_metrics=custom, metrics=metrics)
    plan._compiled = compiled
    return compiled


def _quantity(metric: str, value: object) -> Decimal:
    if type(value) is int and value >= 0:
        return Decimal(value)
    try:
        return parse_decimal(value)
    except ValueError as error:
        raise PricingError(f"usage.{metric}", str(error)) from error


def _read_usage(compiled: _Compiled, usage: Usage) -> dict[str, Decimal]:
    quantities: dict[str, Decimal] = {}
    known = compiled.metrics
    for metric, value in usage.items():
        if metric in known and type(value) is int and value >= 0:
            quantities[metric] = Decimal(value)  # the common case, checked once per plan
            continue
        try:
            check_metric(metric)
        except ValueError as error:
            raise PricingError(f"usage.{metric}", str(error)) from error
        if metric.startswith(CUSTOM_PREFIX) and metric not in compiled.custom_metrics:
            raise PricingError(f"usage.{metric}", "this plan prices no such custom unit")
        quantities[metric] = _quantity(metric, value)
    return quantities


def _transformed(quantity: Decimal, divide_by: Decimal, round_up: bool) -> Decimal:
    return (quantity / divide_by).to_integral_value(ROUND_CEILING if round_up else ROUND_FLOOR)


def _tiered(quantity: Decimal, tiers: tuple[_Tier, ...], volume: bool) -> Decimal:
    if quantity <= 0:
        return _ZERO  # nothing used, nothing charged (not even a tier's flat amount)
    for up_to, unit_amount, flat_amount, lower, below in tiers:
        if up_to is None or quantity <= up_to:
            if volume:  # the whole quantity at the rate of the tier it falls in
                return quantity * unit_amount + flat_amount
            # every tier below in full, then this tier's slice (each reached tier's flat amount)
            return below + (quantity - lower) * unit_amount + flat_amount
    raise AssertionError("the last tier is unbounded")  # pragma: no cover - plan.check_tiers


def _lines(
    items: tuple[_Item, ...], quantities: dict[str, Decimal], in_trial: bool
) -> tuple[tuple[LineCharge, ...], Decimal]:
    """Each item's line, and their exact sum. The hot loop of a quote: kept flat on purpose."""
    lines = []
    subtotal = _ZERO
    line = tuple.__new__  # LineCharge(...) without the generated __new__'s extra call
    for slug, metric, kind, unit_amount, per, tiers, volume, divide_by, round_up, amount in items:
        if kind == _LICENSED:
            charged = _ZERO if in_trial else amount
            lines.append(line(LineCharge, (slug, None, _ONE, _ONE, charged)))
            subtotal += charged
            continue
        quantity = quantities.get(metric, _ZERO) if metric is not None else _ZERO
        billed = quantity if divide_by is None else _transformed(quantity, divide_by, round_up)
        charged = billed * unit_amount if kind == _PER_UNIT else _tiered(billed, tiers, volume)
        if per is not None:
            charged = charged / per
        lines.append(line(LineCharge, (slug, metric, quantity, billed, charged)))
        subtotal += charged
    return tuple(lines), subtotal


def to_smallest_unit(amount: Decimal, decimals: int) -> int:
    """The one rounding: half up to the smallest unit, as an integer."""
    with localcontext(_CONTEXT):
        return int(amount.scaleb(decimals).to_integral_value(ROUND_HALF_UP))


def choose_option(plan: PricingPlan, option: str | None) -> str | None:
    if plan.mode == "FixedPrices":
        names = [price.name for price in plan.prices]
        if option not in names:
            raise PricingError("option", f"choose one of the prices: {', '.join(map(str, names))}")
        return option
    if plan.mode != "Dynamic":
        return None
    slugs = [subscription.slug for subscription in plan.subscriptions]
    if option is None:
        if len(slugs) > 1:
            raise PricingError("option", f"choose one of the plans: {', '.join(slugs)}")
        return slugs[0] if slugs else None
    if option not in slugs:
        raise PricingError("option", f"no such plan; this one has: {', '.join(slugs) or 'none'}")
    return option


def _is_free(plan: PricingPlan, prior_billable_requests: int) -> bool:
    return plan.free_quota is not None and prior_billable_requests < plan.free_quota


def _fixed_charge(plan: PricingPlan, option: str | None, free: bool) -> Charge:
    price = plan.prices[0] if option is None else next(p for p in plan.prices if p.name == option)
    amounts = tuple((entry.unit, 0 if free else entry.amount) for entry in price.amounts)
    unit, amount = amounts[0]
    return Charge(
        unit=unit,
        amount=amount,
        reserve=amount,
        amounts=amounts,
        lines=(),
        subtotal=Decimal(amount),
        total=Decimal(amount),
        option=option,
        free=free,
    )


def _metered_charge(
    plan: PricingPlan, usage: Usage, option: str | None, free: bool, in_trial: bool
) -> Charge:
    compiled = _compiled(plan)
    with localcontext(_CONTEXT):
        quantities = _read_usage(compiled, usage)
        lines, subtotal = _lines(compiled.items_by_option[option], quantities, in_trial)
        total = subtotal if plan.markup is None else subtotal * plan.markup
        minimum_applied = False
        if free:
            total = _ZERO
        elif plan.minimum_charge is not None and total < plan.minimum_charge:
            total, minimum_applied = plan.minimum_charge, True
        amount = int(total.scaleb(plan.decimals).to_integral_value(ROUND_HALF_UP))
    return _capped(
        plan,
        Charge(
            unit=plan.unit,
            amount=amount,
            reserve=amount,
            amounts=((plan.unit, amount),),
            lines=lines,
            subtotal=subtotal,
            total=total,
            option=option,
            free=free,
            minimum_applied=minimum_applied,
            in_trial=in_trial,
        ),
    )


def _capped(plan: PricingPlan, charge: Charge) -> Charge:
    """With reserve_max the lock is the reserve, and no charge exceeds it."""
    if plan.reserve_max is None:
        return charge
    reserve = to_smallest_unit(plan.reserve_max, plan.decimals)
    return _with_ceiling(charge, reserve, reserve)


def _with_ceiling(charge: Charge, ceiling: int, reserve: int) -> Charge:
    amount = min(charge.amount, ceiling)
    return Charge(
        unit=charge.unit,
        amount=amount,
        reserve=reserve,
        amounts=((charge.unit, amount),),
        lines=charge.lines,
        subtotal=charge.subtotal,
        total=charge.total,
        option=charge.option,
        free=charge.free,
        minimum_applied=charge.minimum_applied,
        capped=charge.capped or charge.amount > ceiling,
        fallback=charge.fallback,
        in_trial=charge.in_trial,
    )


def quote(
    plan: PricingPlan,
    usage: Usage,
    *,
    prior_billable_requests: int = 0,
    option: str | None = None,
    in_trial: bool = False,
) -> Charge:
    """The charge for `usage` (metric -> quantity) of one billable request by a buyer that has
    made `prior_billable_requests` before; `option` picks a FixedPrices price or a subscription."""
    chosen = choose_option(plan, option)
    free = _is_free(plan, prior_billable_requests)
    if plan.mode == "Free":
        _read_usage(_compiled(plan), usage)
        return _metered_charge(plan, {}, chosen, True, in_trial)
    if plan.mode in ("Fixed", "FixedPrices"):
        return _fixed_charge(plan, chosen, free)
    return _metered_charge(plan, usage, chosen, free, in_trial)


def settle(
    plan: PricingPlan,
    usage: Usage | None,
    *,
    reserved: int,
    prior_billable_requests: int = 0,
    option: str | None = None,
    in_trial: bool = False,
) -> Charge:
    """The charge for measured `usage`, never above `reserved` (what the buyer locked). Without
    usage (the seller could not measure it) the plan's fallback charge applies."""
    if reserved < 0:
        raise PricingError("reserved", "must not be negative")
    if usage is None:
        return _fallback(plan, reserved, prior_billable_requests, option)
    charge = quote(
        plan,
        usage,
        prior_billable_requests=prior_billable_requests,
        option=option,
        in_trial=in_trial,
    )
    return _with_ceiling(charge, reserved, reserved)


def _fallback(
    plan: PricingPlan, reserved: int, prior_billable_requests: int, option: str | None
) -> Charge:
    if plan.fallback_charge is None:
        raise PricingError("usage", "required: this plan has no fallback charge")
    free = _is_free(plan, prior_billable_requests) or plan.mode == "Free"
    total = _ZERO if free else plan.fallback_charge
    amount = to_smallest_unit(total, plan.decimals)
    charge = Charge(
        unit=plan.unit,
        amount=amount,
        reserve=reserved,
        amounts=((plan.unit, amount),),
        lines=(),
        subtotal=total,
        total=total,
        option=choose_option(plan, option),
        free=free,
        fallback=True,
    )
    return _with_ceiling(charge, reserved, reserved)
