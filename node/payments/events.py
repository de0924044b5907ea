"""Webhook events of payments (PAYMENT_ON_CHAIN_STATUS_CHANGED, PAYMENT_ON_ERROR), written through
node.webhooks.service.emit in the caller's DB transaction (the caller commits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from node.clock import iso_from_ms
from node.webhooks.models import WebhookEvent
from node.webhooks.service import emit

if TYPE_CHECKING:
    from node.payments.models import PaymentRequest

PAYMENT_ON_CHAIN_STATUS_CHANGED = WebhookEvent.PAYMENT_ON_CHAIN_STATUS_CHANGED
PAYMENT_ON_ERROR = WebhookEvent.PAYMENT_ON_ERROR


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
        "updatedAt": iso_from_ms(row.updated_at),
        "NextAction": {
            "requestedAction": str(row.next_action),
            "errorType": None if row.error_type is None else str(row.error_type),
            "errorNote": row.error_note,
        },
    }


def payment_event(
    session: Session, event: str, row: PaymentRequest, on_chain_state: str | None = None
) -> None:
    emit(session, event, payload(row, on_chain_state or row.seen_state))
