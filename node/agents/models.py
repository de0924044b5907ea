"""Registry requests: one row per agent the node registers (and later deregisters)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String
from sqlmodel import Field, SQLModel

REGISTRATION_LOVELACE = 5_000_000  # the NFT goes out with at least 5 ADA (Masumi)


class RegistryState(StrEnum):
    REGISTRATION_REQUESTED = "RegistrationRequested"
    REGISTRATION_INITIATED = "RegistrationInitiated"
    REGISTRATION_CONFIRMED = "RegistrationConfirmed"
    REGISTRATION_FAILED = "RegistrationFailed"
    DEREGISTRATION_REQUESTED = "DeregistrationRequested"
    DEREGISTRATION_INITIATED = "DeregistrationInitiated"
    DEREGISTRATION_CONFIRMED = "DeregistrationConfirmed"
    DEREGISTRATION_FAILED = "DeregistrationFailed"


class RegistryRequest(SQLModel, table=True):
    """An agent's registration: the MIP-002 metadata to mint with, and where it stands.

    `tx_hash` is the current transaction (the mint, then the burn); `asset_name` is known once
    the mint is built, `agent_identifier` once it is confirmed on chain."""

    __tablename__ = "registry_request"

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    state: RegistryState = Field(sa_type=String(32), index=True)
    selling_wallet_id: str = Field(foreign_key="hot_wallet.id", index=True, max_length=32)
    recipient_address: str | None = Field(default=None, max_length=120)
    send_funding_lovelace: int = Field(default=REGISTRATION_LOVELACE, sa_type=BigInteger)
    onchain_metadata: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    pricing_mode: str = Field(sa_type=String(16))
    amounts: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    name: str = Field(max_length=250, index=True)
    api_base_url: str = Field(max_length=250)
    asset_name: str | None = Field(default=None, max_length=64)
    agent_identifier: str | None = Field(default=None, max_length=120, unique=True)
    tx_hash: str | None = Field(default=None, max_length=64, index=True)
    error: str | None = Field(default=None, max_length=1000)
    requested_by: str | None = Field(default=None, foreign_key="api_key.id", max_length=32)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
