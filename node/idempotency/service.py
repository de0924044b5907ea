"""Idempotency-Key bookkeeping, no HTTP: claim a key for a request, store or drop its response.

A (API key, Idempotency-Key) row is inserted, committed, before the request runs: a duplicate
on any replica then finds it (the unique constraint decides who was first) and is told the
first is in flight (409), or, once it completed, gets its stored response. A response that is
not stored (5xx, or an exception) deletes the row, so a retry runs anew. Rows live 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import CursorResult, Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.clock import now_ms
from node.idempotency.models import IdempotencyState, IdempotentRequest

MAX_KEY_CHARS = 255
TTL_MS = 24 * 60 * 60 * 1000
# An attempt that neither completed nor was dropped within this long was abandoned (its process
# died): a retry may take the key over.
LEASE_MS = 5 * 60 * 1000
# Answers that mean the endpoint did not run for this key, so they are not kept: auth refusals
# and throttling (the same request may pass later); every 5xx is not kept either.
NOT_STORED = frozenset({401, 403, 429})


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_CHARS and all(" " <= char <= "~" for char in key)


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests the same: method, path, query and body (JSON compared as data,
    so key order and spacing do not matter)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def storable(status: int) -> bool:
    return status < 500 and status not in NOT_STORED


@dataclass(frozen=True)
class Claimed:
    """This request runs; its response is stored under `row_id` (or the row dropped)."""

    row_id: int


@dataclass(frozen=True)
class Replay:
    status: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True)
class Mismatch:
    """The key was used with another method, path or body."""


@dataclass(frozen=True)
class InFlight:
    """The first request with this key is still being answered."""


Outcome = Claimed | Replay | Mismatch | InFlight


def claim(
    engine: Engine, api_key_id: str, key: str, method: str, path: str, request_fingerprint: str
) -> Outcome:
    with Session(engine, expire_on_commit=False) as session:
        for _attempt in range(3):
            now = now_ms()
            _forget_expired(session, api_key_id, now)
            row = IdempotentRequest(
                api_key_id=api_key_id,
                idempotency_key=key,
                fingerprint=request_fingerprint,
                method=method,
                path=path[:1000],
                state=IdempotencyState.IN_PROGRESS,
                created_at=now,
                claimed_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
            else:
                assert row.id is not None
                return Claimed(row.id)
            existing = session.exec(
                select(IdempotentRequest).where(
                    IdempotentRequest.api_key_id == api_key_id,
                    IdempotentRequest.idempotency_key == key,
                )
            ).first()
            if existing is None:
                continue  # dropped meanwhile (a 5xx, or expired): try to claim it again
            outcome = _existing_outcome(session, existing, request_fingerprint, now)
            if outcome is not None:
                return outcome
        return InFlight()


def _existing_outcome(
    session: Session, existing: IdempotentRequest, request_fingerprint: str, now: int
) -> Outcome | None:
    if existing.fingerprint != request_fingerprint:
        return Mismatch()
    if existing.state == IdempotencyState.COMPLETED:
        assert existing.response_status is not None
        return Replay(
            existing.response_status, existing.response_content_type, existing.response_body or b""
        )
    if existing.claimed_at > now - LEASE_MS:
        return InFlight()
    # abandoned: take it over, unless another retry just did
    assert existing.id is not None
    taken = session.execute(
        update(IdempotentRequest)
        .where(
            col(IdempotentRequest.id) == existing.id,
            col(IdempotentRequest.state) == IdempotencyState.IN_PROGRESS,
            col(IdempotentRequest.claimed_at) == existing.claimed_at,
        )
        .values(claimed_at=now, updated_at=now)
    )
    session.commit()
    assert isinstance(taken, CursorResult)
    return Claimed(existing.id) if taken.rowcount == 1 else InFlight()


def _forget_expired(session: Session, api_key_id: str, now: int) -> None:
    session.execute(
        delete(IdempotentRequest).where(
            col(IdempotentRequest.api_key_id) == api_key_id,
            col(IdempotentRequest.created_at) <= now - TTL_MS,
        )
    )
    session.commit()


def complete(
    engine: Engine, row_id: int, status: int, content_type: str | None, body: bytes
) -> None:
    with Session(engine) as session:
        session.execute(
            update(IdempotentRequest)
            .where(col(IdempotentRequest.id) == row_id)
            .values(
                state=IdempotencyState.COMPLETED,
                response_status=status,
                response_content_type=content_type[:200] if content_type else None,
                response_body=body,
                updated_at=now_ms(),
            )
        )
        session.commit()


def release(engine: Engine, row_id: int) -> None:
    """Drop a claim whose response is not kept: a retry with the key runs again."""
    with Session(engine) as session:
        session.execute(delete(IdempotentRequest).where(col(IdempotentRequest.id) == row_id))
        session.commit()
