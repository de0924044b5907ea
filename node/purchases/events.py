"""Webhook events of purchases, written through node.webhooks.service.emit in the caller's DB
transaction. Until that module exists (it is built alongside), events are dropped."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

PURCHASE_ON_CHAIN_STATUS_CHANGED = "PURCHASE_ON_CHAIN_STATUS_CHANGED"
PURCHASE_ON_ERROR = "PURCHASE_ON_ERROR"

Emit = Callable[[Session, str, dict[str, Any]], None]


def _emitter() -> Emit | None:
    try:
        module = importlib.import_module("node.webhooks.service")
    except ImportError:
        return None
    found: Emit | None = getattr(module, "emit", None)
    return found


def emit(session: Session, event: str, data: dict[str, Any]) -> None:
    """An outbox row in `session`'s transaction (the caller commits); nothing without webhooks."""
    emitter = _emitter()
    if emitter is not None:
        emitter(session, event, data)
