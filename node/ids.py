"""Row identifiers that sort by creation time, so keyset pagination can order by id alone."""

from __future__ import annotations

import secrets

from node.clock import now_ms


def new_id() -> str:
    """32 hex chars: 12 of creation time in ms, 20 random (80 bits)."""
    return f"{now_ms():012x}{secrets.token_hex(10)}"
