"""The stored first responses of POSTs sent with an `Idempotency-Key`."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


class IdempotencyState(StrEnum):
    IN_PROGRESS = "InProgress"  # the first request is being answered (a duplicate gets 409)
    COMPLETED = "Completed"  # its response is stored and replayed


class IdempotentRequest(SQLModel, table=True):
    """One (API key, Idempotency-Key): what was asked (a fingerprint) and what was answered."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: str = Field(max_length=32)
    idempotency_key: str = Field(max_length=255)
    # sha256 of method, path, query and body (JSON bodies canonicalised)
    fingerprint: str = Field(max_length=64)
    method: str = Field(max_length=16)
    path: str = Field(max_length=1000)
    state: IdempotencyState = Field(sa_type=String(16))  # plain text: no database enum types
    response_status: int | None = None
    response_content_type: str | None = Field(default=None, max_length=200)
    response_body: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: int = Field(sa_type=BigInteger, index=True)
    # when the current attempt claimed the row: an attempt older than the lease was abandoned
    claimed_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
