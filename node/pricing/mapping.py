"""What the three seed adapters share: building line items, the plan's mode, exact JSON text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from node.pricing.plan import LineItem, PricingPlan, Subscription


class NotRepresentable(ValueError):
    """The canonical plan has something this seed's shape cannot say; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def per_unit(slug: str, metric: str, price: Decimal, per: int = 1) -> LineItem:
    return LineItem(slug=slug, scheme="per_unit", metric=metric, unit_amount=price, per=per)


def costs_nothing(item: LineItem) -> bool:
    if item.scheme == "licensed":
        return not item.amount
    if item.scheme == "per_unit":
        return not item.unit_amount
    return all(not tier.unit_amount and not tier.flat_amount for tier in item.tiers or ())


def derive_mode(items: Iterable[LineItem], subscriptions: Iterable[Subscription]) -> str:
    """What the registry shows: Free when nothing costs anything, else Dynamic (quoted per job)."""
    every = list(items)
    for subscription in subscriptions:
        every.extend(subscription.line_items)
    return "Free" if all(costs_nothing(item) for item in every) else "Dynamic"


def simple_price(plan: PricingPlan, metric: str, per: int, field: str) -> Decimal | None:
    """The per_unit price of `metric` (per `per` units) among the plan's own items, if any.

    Anything else on that metric (tiers, a transform, another `per`) is not a simple price."""
    found = [item for item in plan.line_items if item.metric == metric]
    if not found:
        return None
    item = found[0]
    simple = item.scheme == "per_unit" and item.per == per and item.transform is None
    if len(found) > 1 or not simple:
        raise NotRepresentable(field, f"the plan prices {metric} in a way this shape cannot say")
    return item.unit_amount


def check_covered(plan: PricingPlan, covered: set[str], shape: str) -> None:
    """Refuse to show a plan in a shape that would silently drop some of its prices."""
    for item in plan.line_items:
        if item.slug not in covered:
            raise NotRepresentable("line_items", f"{item.slug!r} has no {shape} field")
    if plan.subscriptions:
        raise NotRepresentable("subscriptions", f"{shape} has no subscription plans")


def tidy(value: Decimal) -> Decimal:
    """1E+2 -> 100, 0.46700 stays as written: exponent notation only where the input had it."""
    if value == value.to_integral_value() and value.as_tuple().exponent > 0:  # type: ignore[operator]
        return value.quantize(Decimal(1))
    return value


def json_text(value: Any) -> str:
    """JSON with Decimals written as numbers, digit for digit (json.dumps would need floats)."""
    if isinstance(value, Decimal):
        return str(tidy(value))
    if isinstance(value, dict):
        inner = ",".join(f"{json.dumps(str(key))}:{json_text(item)}" for key, item in value.items())
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    return json.dumps(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_json(text: str | bytes) -> Any:
    """JSON with every non-integer number read as a Decimal: no float ever holds a price.
    ValueError for anything that is not JSON, nesting too deep for the parser included."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error
