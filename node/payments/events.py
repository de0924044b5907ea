"""Webhook events of payments (PAYMENT_ON_CHAIN_STATUS_CHANGED, PAYMENT_ON_ERROR), written through
node.webhooks.service.emit in the caller's DB transaction (the caller commits). Looked up at call
time, so this package imports cleanly without the webhooks package."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

if TYPE_CHECKING:
    from node.payments.models import PaymentRequest

PAYMENT_ON_CHAIN_STATUS_CHANGED = "PAYMENT_ON_CHAIN_STATUS_CHANGED"
PAYMENT_ON_ERROR = "PAYMENT_ON_ERROR"

Emit = Callable[[Session, str, dict[str, Any]], None]


def _emitter() -> Emit | None:
    try:
        module = importlib.import_module("node.webhooks.service")
    except ImportError:
        return None
    found: Emit | None = getattr(module, "emit", None)
    return found


def payload(row: PaymentRequest, on_chain_state: str | None) -> dict[str, Any]:
    """The event's data: the payment object's identifying and status fields."""
    return {
        "id": row.id,
        "blockchainIdentifier": row.blockchain_identifier,
        "requestId": row.request_id,
        "agentIdentifier": row.agent_identifier,
        "network": row.network,
        "onChainState": on_chain_state,
        "resultHash": row.result_hash,
        "updatedAt": str(row.updated_at),
        "NextAction": {
            "requestedAction": str(row.next_action),
            "errorType": None if row.error_type is None else str(row.error_type),
            "errorNote": row.error_note,
        },
    }


def payment_event(
    session: Session, event: str, row: PaymentRequest, on_chain_state: str | None = None
) -> None:
    emitter = _emitter()
    if emitter is not None:
        emitter(session, event, payload(row, on_chain_state or row.seen_state))
