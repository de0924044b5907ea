"""Running balances per (agent, side, unit), kept by the sync in the same database transaction as
the mirror rows they sum, so a balance is one indexed read however long the history grows."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


class BillingBalance(SQLModel, table=True):
    """Sums over our valid, confirmed escrow rows with one agent, as buyer or as seller."""

    __tablename__ = "billing_balance"

    network: str = Field(primary_key=True, max_length=16)
    agent_identifier: str = Field(primary_key=True, max_length=200)
    side: str = Field(primary_key=True, max_length=8)  # buyer | seller
    unit: str = Field(primary_key=True, max_length=150)
    locked: int = Field(default=0, sa_type=BigInteger)  # reserved in escrows not yet settled
    charged: int = Field(default=0, sa_type=BigInteger)
    refunded: int = Field(default=0, sa_type=BigInteger)
    protocol_fees: int = Field(default=0, sa_type=BigInteger)
    tx_fees: int = Field(default=0, sa_type=BigInteger)
    requests: int = Field(default=0, sa_type=BigInteger)  # counted on the "" unit row only
