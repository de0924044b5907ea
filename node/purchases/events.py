"""Webhook events of purchases, written through node.webhooks.service.emit in the caller's DB
transaction (the caller commits)."""

from __future__ import annotations

from node.webhooks.models import WebhookEvent
from node.webhooks.service import emit

PURCHASE_ON_CHAIN_STATUS_CHANGED = WebhookEvent.PURCHASE_ON_CHAIN_STATUS_CHANGED
PURCHASE_ON_ERROR = WebhookEvent.PURCHASE_ON_ERROR

__all__ = ["PURCHASE_ON_CHAIN_STATUS_CHANGED", "PURCHASE_ON_ERROR", "emit"]
