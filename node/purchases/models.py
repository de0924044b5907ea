"""The buyer side's tables: quotes (an agent's verified /start_job answer) and purchases.

A purchase holds what the buyer agreed to and the buyer node's next action; the escrow's on-chain
state is not stored here but read from node.sync's EscrowMirror (joined on network, request id
and our lock transaction). `seen_tx_hash` / `seen_state` only remember which mirror state the
next action was last decided on, so a change is handled once.

Amount lists are JSON `[{"unit": ..., "amount": "<int>"}]` exactly as the seller signed them;
times are POSIX ms (BIGINT).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class PurchaseAction(StrEnum):
    """Masumi's PurchasingAction (masumi-protocol.md §10) as far as V1 needs it."""

    NONE = "None"
    WAITING_FOR_MANUAL_ACTION = "WaitingForManualAction"
    WAITING_FOR_EXTERNAL_ACTION = "WaitingForExternalAction"
    FUNDS_LOCKING_REQUESTED = "FundsLockingRequested"
    FUNDS_LOCKING_INITIATED = "FundsLockingInitiated"
    SET_REFUND_REQUESTED_REQUESTED = "SetRefundRequestedRequested"
    SET_REFUND_REQUESTED_INITIATED = "SetRefundRequestedInitiated"
    UNSET_REFUND_REQUESTED_REQUESTED = "UnSetRefundRequestedRequested"
    UNSET_REFUND_REQUESTED_INITIATED = "UnSetRefundRequestedInitiated"
    WITHDRAW_REFUND_REQUESTED = "WithdrawRefundRequested"
    WITHDRAW_REFUND_INITIATED = "WithdrawRefundInitiated"


class PurchaseErrorType(StrEnum):
    NETWORK_ERROR = "NetworkError"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    UNKNOWN = "Unknown"


class PurchaseQuote(SQLModel, table=True):
    """An agent's /start_job answer, verified against the chain; nothing is locked by it."""

    __tablename__ = "purchase_quote"
    __table_args__ = (Index("ix_purchase_quote_agent", "network", "agent_identifier"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    agent_identifier: str = Field(max_length=250)
    pricing_mode: str = Field(sa_type=String(16))
    job_id: str = Field(max_length=250)
    blockchain_identifier: str = Field(sa_type=Text)
    request_id: str = Field(max_length=64)
    pay_by_time: int = Field(sa_type=BigInteger)
    submit_result_time: int = Field(sa_type=BigInteger)
    unlock_time: int = Field(sa_type=BigInteger)
    external_dispute_unlock_time: int = Field(sa_type=BigInteger)
    amounts: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    seller_vkey: str = Field(max_length=56)
    seller_address: str = Field(max_length=200)
    input_hash: str = Field(max_length=250)
    identifier_from_purchaser: str = Field(max_length=26)
    seller_quote: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    seller_quote_id: str | None = Field(default=None, max_length=64)
    expires_at: int = Field(sa_type=BigInteger)
    verified: bool
    created_at: int = Field(sa_type=BigInteger)
    created_by: str | None = Field(default=None, foreign_key="api_key.id", max_length=32)


class Purchase(SQLModel, table=True):
    """A purchase: what the buyer pays for, from which wallet, and what its node does next."""

    __tablename__ = "purchase"
    __table_args__ = (
        UniqueConstraint("network", "blockchain_identifier"),
        Index("ix_purchase_request", "network", "request_id"),
        Index("ix_purchase_next_action", "network", "next_action", "purchasing_wallet_id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    blockchain_identifier: str = Field(sa_type=Text)
    request_id: str = Field(max_length=64)
    agent_identifier: str = Field(max_length=250)
    pricing_mode: str = Field(sa_type=String(16))
    purchasing_wallet_id: str = Field(foreign_key="hot_wallet.id", max_length=32)
    seller_vkey: str = Field(max_length=56)
    seller_address: str = Field(max_length=200)
    identifier_from_purchaser: str = Field(max_length=26)
    paid_funds: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    pay_by_time: int = Field(sa_type=BigInteger)
    submit_result_time: int = Field(sa_type=BigInteger)
    unlock_time: int = Field(sa_type=BigInteger)
    external_dispute_unlock_time: int = Field(sa_type=BigInteger)
    input_hash: str = Field(max_length=250)
    quote_id: str | None = Field(default=None, foreign_key="purchase_quote.id", max_length=32)
    metadata_text: str | None = Field(default=None, sa_type=Text)
    next_action: PurchaseAction = Field(sa_type=String(40))
    previous_action: PurchaseAction | None = Field(default=None, sa_type=String(40))
    error_type: PurchaseErrorType | None = Field(default=None, sa_type=String(24))
    error_note: str | None = Field(default=None, max_length=1000)
    intended_tx_hash: str | None = Field(default=None, max_length=64, index=True)
    lock_tx_hash: str | None = Field(default=None, max_length=64)
    seen_tx_hash: str | None = Field(default=None, max_length=64)
    seen_state: str | None = Field(default=None, max_length=24)
    action_history: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    requested_by: str | None = Field(default=None, foreign_key="api_key.id", max_length=32)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    next_action_changed_at: int = Field(sa_type=BigInteger)  # GET /purchase/diff/next-action
