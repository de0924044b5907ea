"""What one escrow row adds to the running balances, and applying the change of a row."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from node.billing.models import BillingBalance
from node.sync.models import TERMINAL_STATES, EscrowMirror, Role, Validity

FIELDS = ("locked", "charged", "refunded", "protocol_fees", "tx_fees", "requests")
COUNT_UNIT = ""  # the row that counts requests
Key = tuple[str, str, str, str]  # network, agent, side, unit
Contribution = dict[Key, dict[str, int]]


def sides_of(role: Role) -> tuple[str, ...]:
    return {
        Role.BUYER: ("buyer",),
        Role.SELLER: ("seller",),
        Role.BOTH: ("buyer", "seller"),
    }.get(role, ())


def settled_amounts(row: EscrowMirror) -> tuple[dict[str, int], dict[str, int]]:
    """(charged, refunded) per unit, each within what was reserved."""
    if row.state not in TERMINAL_STATES:
        return {}, {}
    refunded: dict[str, int] = {}
    for unit, quantity in row.withdrawn_buyer.items():
        back = quantity - (row.collateral_return if unit == "lovelace" else 0)
        back = min(max(back, 0), row.reserved.get(unit, 0))
        if back:
            refunded[unit] = back
    charged = {
        unit: quantity - refunded.get(unit, 0)
        for unit, quantity in row.reserved.items()
        if quantity - refunded.get(unit, 0) > 0
    }
    return charged, refunded


def contribution(row: EscrowMirror) -> Contribution:
    if not row.listed or row.validity != Validity.VALID:
        return {}
    charged, refunded = settled_amounts(row)
    open_ = row.state not in TERMINAL_STATES
    result: Contribution = {}
    for side in sides_of(row.role):

        def put(unit: str, name: str, quantity: int, side: str = side) -> None:
            if quantity:
                key = (row.network, row.agent_identifier, side, unit)
                result.setdefault(key, {})[name] = result.get(key, {}).get(name, 0) + quantity

        for unit, quantity in row.reserved.items():
            put(unit, "locked", quantity if open_ else 0)
        for unit, quantity in charged.items():
            put(unit, "charged", quantity)
        for unit, quantity in refunded.items():
            put(unit, "refunded", quantity)
        for unit, quantity in row.protocol_fee.items():
            put(unit, "protocol_fees", quantity)
        put("lovelace", "tx_fees", row.buyer_tx_fees if side == "buyer" else row.seller_tx_fees)
        put(COUNT_UNIT, "requests", 1)
    return result


def apply_change(session: Session, before: Contribution, after: Contribution) -> None:
    """Add `after` and take away `before` in the balance rows they touch."""
    for key in set(before) | set(after):
        delta = _delta(before.get(key, {}), after.get(key, {}))
        if any(delta.values()):
            _add(session, key, delta)


def _delta(old: Mapping[str, int], new: Mapping[str, int]) -> dict[str, int]:
    return {name: new.get(name, 0) - old.get(name, 0) for name in FIELDS}


def _add(session: Session, key: Key, delta: Mapping[str, int]) -> None:
    network, agent, side, unit = key
    row = session.get(BillingBalance, (network, agent, side, unit), with_for_update=True)
    if row is None:
        row = BillingBalance(network=network, agent_identifier=agent, side=side, unit=unit)
    for name, change in delta.items():
        setattr(row, name, getattr(row, name) + change)
    session.add(row)
