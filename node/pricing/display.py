"""A human-readable line per line item, for the public pricing lookup."""

from __future__ import annotations

from decimal import Decimal

from node.pricing.mapping import tidy
from node.pricing.plan import LineItem, Tier

_METRIC_NAMES = {
    "requests": "request",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "rows": "rows",
    "compute_seconds": "second of compute",
    "hours": "hour",
    "outcomes": "outcome",
    "executions": "execution",
}


def metric_name(metric: str | None) -> str:
    if metric is None:
        return ""
    if metric.startswith("method:"):
        return f"{metric.removeprefix('method:')} request"
    if metric.startswith("custom:"):
        return metric.removeprefix("custom:")
    return _METRIC_NAMES.get(metric, metric)


def _money(amount: Decimal, currency: str) -> str:
    return f"{tidy(amount)} {currency}"


def _per(item: LineItem) -> str:
    name = item.unit_label or metric_name(item.metric)
    if item.transform is not None:
        rounding = "rounded up" if item.transform.round == "up" else "rounded down"
        return f"{tidy(item.transform.divide_by)} {name} ({rounding})"
    return f"{item.per:,} {name}" if item.per != 1 else name


def _tier_text(tier: Tier, lower: Decimal | None, currency: str, per: str) -> str:
    if tier.up_to is None:
        span = f"above {tidy(lower)}" if lower is not None else "any quantity"
    else:
        span = f"up to {tidy(tier.up_to)}"
    parts = []
    if tier.unit_amount:
        parts.append(f"{_money(tier.unit_amount, currency)} per {per}")
    if tier.flat_amount:
        parts.append(f"{_money(tier.flat_amount, currency)} flat")
    return f"{span}: {' + '.join(parts) or 'free'}"


def describe(item: LineItem, currency: str, interval: str | None = None) -> str:
    """`0.1 USDM per 1,000,000 input tokens`, `4.99 USDM per month`, tiers one by one."""
    if item.scheme == "licensed":
        assert item.amount is not None
        return f"{_money(item.amount, currency)} per {interval or 'interval'}"
    per = _per(item)
    if item.scheme == "per_unit":
        assert item.unit_amount is not None
        return f"{_money(item.unit_amount, currency)} per {per}"
    texts = []
    lower: Decimal | None = None
    for tier in item.tiers or []:
        texts.append(_tier_text(tier, lower, currency, per))
        lower = tier.up_to
    return f"{item.tiers_mode} tiers of {metric_name(item.metric)}: " + "; ".join(texts)
