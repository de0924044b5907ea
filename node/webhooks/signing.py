"""The `Paynode-Signature` header, Stripe-style: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC is computed with the subscription's signing secret (its UTF-8 bytes as the key) over
`"<t>.<raw request body>"`. A receiver recomputes it over the bytes it received, compares in
constant time, and refuses a `t` further than its tolerance from its own clock (replays).
Several `v1=` entries may appear; any one matching is enough. No database, no HTTP: receivers
(the agent kit, tests, operators' services) import this module alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Paynode-Signature"
EVENT_ID_HEADER = "Paynode-Event-Id"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


def new_signing_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp_s: int) -> str:
    """The header value for `body` sent at `timestamp_s` (POSIX seconds)."""
    return f"t={timestamp_s},v1={_mac(secret, timestamp_s, body)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            macs.append(value)
    if timestamp is None or not macs:
        return None
    return timestamp, macs


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    *,
    now_s: int | None = None,
) -> bool:
    """True when `header` signs exactly `body` with `secret`, at most `tolerance_s` away from now
    (or `now_s`). Tolerance 0 or less skips the time check (not advised)."""
    parsed = _parse(header or "")
    if parsed is None:
        return False
    timestamp, macs = parsed
    raw = body.encode() if isinstance(body, str) else body
    current = int(time.time()) if now_s is None else now_s
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, timestamp, raw)
    # as bytes: compare_digest refuses str with non-ASCII characters, which a header may carry
    return any(hmac.compare_digest(expected.encode(), mac.encode()) for mac in macs)
