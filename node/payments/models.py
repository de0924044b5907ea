"""The seller side's tables: one payment request per blockchainIdentifier, and its action history.

The on-chain state is not stored here: it is read from node/sync's EscrowMirror (joined on
network + blockchain identifier). `seen_state` is only the last mirror state the transition
worker acted on, so that it acts once per change. Times are POSIX ms; amounts are decimal strings
inside JSON lists exactly as signed (`[{"amount": "5000000", "unit": "lovelace"}]`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class NextAction(StrEnum):
    NONE = "None"
    WAITING_FOR_EXTERNAL_ACTION = "WaitingForExternalAction"
    SUBMIT_RESULT_REQUESTED = "SubmitResultRequested"
    SUBMIT_RESULT_INITIATED = "SubmitResultInitiated"
    WITHDRAW_REQUESTED = "WithdrawRequested"
    WITHDRAW_INITIATED = "WithdrawInitiated"
    AUTHORIZE_REFUND_REQUESTED = "AuthorizeRefundRequested"
    AUTHORIZE_REFUND_INITIATED = "AuthorizeRefundInitiated"
    WAITING_FOR_MANUAL_ACTION = "WaitingForManualAction"


class ErrorType(StrEnum):
    NETWORK_ERROR = "NetworkError"
    UNKNOWN = "Unknown"


class PaymentRequest(SQLModel, table=True):
    __tablename__ = "payment_request"
    __table_args__ = (
        UniqueConstraint("network", "blockchain_identifier"),
        Index("ix_payment_request_request_id", "network", "request_id"),
        Index("ix_payment_request_next_action", "network", "next_action"),
    )

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    blockchain_identifier: str = Field(sa_type=Text)
    request_id: str = Field(max_length=64)
    agent_identifier: str = Field(max_length=250)
    agent_name: str | None = Field(default=None, max_length=250)
    pricing_mode: str = Field(max_length=16)
    selling_wallet_id: str = Field(max_length=32, index=True)
    seller_address: str = Field(max_length=200)
    seller_vkey: str = Field(max_length=56)
    identifier_from_purchaser: str = Field(max_length=26)
    input_hash: str = Field(max_length=250)
    pay_by_time: int = Field(sa_type=BigInteger)
    submit_result_time: int = Field(sa_type=BigInteger)
    unlock_time: int = Field(sa_type=BigInteger)
    external_dispute_unlock_time: int = Field(sa_type=BigInteger)
    # what the buyer must lock; `funds_signed` says whether they are the signed RequestedFunds
    requested_funds: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    funds_signed: bool
    quote_id: str | None = Field(default=None, max_length=32)
    metadata_text: str | None = Field(default=None, sa_type=Text)
    next_action: NextAction = Field(sa_type=String(32))
    error_type: ErrorType | None = Field(default=None, sa_type=String(16))
    error_note: str | None = Field(default=None, sa_type=Text)
    next_action_changed_at: int = Field(sa_type=BigInteger)
    seen_state: str | None = Field(default=None, max_length=24)
    result_hash: str = Field(default="", max_length=64)
    usage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    charge: int | None = Field(default=None, sa_type=BigInteger)  # metered: settled amount
    charge_unit: str | None = Field(default=None, max_length=150)
    intended_tx_hash: str | None = Field(default=None, max_length=64)
    dispute_tx_hash: str | None = Field(default=None, max_length=64)
    requested_by_id: str = Field(max_length=32)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class PaymentAction(SQLModel, table=True):
    """Every next action a payment request had, in order (includeHistory)."""

    __tablename__ = "payment_action"

    id: str = Field(primary_key=True, max_length=32)
    payment_id: str = Field(foreign_key="payment_request.id", max_length=32, index=True)
    action: NextAction = Field(sa_type=String(32))
    error_type: ErrorType | None = Field(default=None, sa_type=String(16))
    error_note: str | None = Field(default=None, sa_type=Text)
    tx_hash: str | None = Field(default=None, max_length=64)
    created_at: int = Field(sa_type=BigInteger)
