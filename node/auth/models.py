"""API key tables. The plaintext of a key is never stored: only its HMAC under the server secret."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel


class ApiKeyStatus(StrEnum):
    ACTIVE = "Active"
    REVOKED = "Revoked"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=32)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    token_hint: str = Field(max_length=8)
    can_read: bool
    can_pay: bool
    can_admin: bool
    usage_limited: bool
    network_limit: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: ApiKeyStatus = Field(sa_type=String(16))  # plain text: no database enum types
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    deleted_at: int | None = Field(default=None, sa_type=BigInteger)


class ApiKeyCredit(SQLModel, table=True):
    """What a usage-limited key may still spend, per unit (smallest unit; "" is lovelace)."""

    __tablename__ = "api_key_credit"
    __table_args__ = (UniqueConstraint("api_key_id", "unit"),)

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: str = Field(foreign_key="api_key.id", max_length=32)
    unit: str = Field(max_length=150)
    amount: int = Field(sa_type=BigInteger)
