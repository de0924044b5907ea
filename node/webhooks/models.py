"""Webhook tables: subscriptions (secrets encrypted at rest) and the outbox of deliveries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String
from sqlmodel import Field, SQLModel


class WebhookEvent(StrEnum):
    PURCHASE_ON_CHAIN_STATUS_CHANGED = "PURCHASE_ON_CHAIN_STATUS_CHANGED"
    PAYMENT_ON_CHAIN_STATUS_CHANGED = "PAYMENT_ON_CHAIN_STATUS_CHANGED"
    PURCHASE_ON_ERROR = "PURCHASE_ON_ERROR"
    PAYMENT_ON_ERROR = "PAYMENT_ON_ERROR"
    WALLET_LOW_BALANCE = "WALLET_LOW_BALANCE"


class WebhookFormat(StrEnum):
    EXTENDED = "EXTENDED"
    SLACK = "SLACK"
    GOOGLE_CHAT = "GOOGLE_CHAT"
    DISCORD = "DISCORD"


class DeliveryStatus(StrEnum):
    PENDING = "Pending"  # due at next_attempt_at (a claimed one: when its lease ends)
    DELIVERED = "Delivered"  # the receiver answered 2xx
    FAILED = "Failed"  # every attempt failed
    CANCELLED = "Cancelled"  # its subscription was disabled or deleted first


class WebhookSubscription(SQLModel, table=True):
    """Where to send which events. The auth token and the signing secret are sent or used on
    every delivery, so they are encrypted (not hashed), bound to the row's id."""

    __tablename__ = "webhook_subscription"

    id: str = Field(primary_key=True, max_length=32)
    name: str | None = Field(default=None, max_length=100)
    url: str = Field(max_length=500)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    format: WebhookFormat = Field(sa_type=String(16))  # plain text: no database enum types
    payment_source_id: str | None = Field(default=None, max_length=250)
    encrypted_auth_token: bytes | None = Field(default=None, sa_type=LargeBinary)
    encrypted_signing_secret: bytes = Field(sa_type=LargeBinary)
    is_active: bool = True
    consecutive_failures: int = 0
    last_success_at: int | None = Field(default=None, sa_type=BigInteger)
    disabled_at: int | None = Field(default=None, sa_type=BigInteger)
    created_by: str | None = Field(default=None, foreign_key="api_key.id", max_length=32)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    deleted_at: int | None = Field(default=None, sa_type=BigInteger)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: the outbox row, written in the emitter's transaction."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=32)
    subscription_id: str = Field(foreign_key="webhook_subscription.id", index=True, max_length=32)
    event_id: str = Field(max_length=32, index=True)  # the same on every retry: receivers dedupe
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the EXTENDED body
    status: DeliveryStatus = Field(sa_type=String(16))
    attempts: int = 0
    next_attempt_at: int = Field(sa_type=BigInteger)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: int | None = Field(default=None, sa_type=BigInteger)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
