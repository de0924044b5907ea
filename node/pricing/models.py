"""Pricing tables: the plan per agent (canonical and as the seller wrote it), quotes, the per-buyer
quote counters behind rate limits, and the settled billable requests behind free quotas."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class PricingPlanRecord(SQLModel, table=True):
    """An agent's pricing: `document` is the seed's document exactly as PUT (JSON text, so no
    float ever holds a price), `plan` the canonical plan it maps to (JSON, decimal strings)."""

    __tablename__ = "pricing_plan"
    __table_args__ = (UniqueConstraint("network", "agent_identifier"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    agent_identifier: str = Field(max_length=120)
    shape: str = Field(sa_type=String(16))  # assmbl | seren | agentic: the shape of `document`
    document: str = Field(sa_type=Text)
    plan: str = Field(sa_type=Text)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class PricingQuote(SQLModel, table=True):
    """A quote given to a buyer: what it asked about and what it was told, until `expires_at`."""

    __tablename__ = "pricing_quote"
    __table_args__ = (Index("ix_pricing_quote_buyer", "network", "agent_identifier", "buyer"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    agent_identifier: str = Field(max_length=120)
    buyer: str = Field(max_length=120)
    option: str | None = Field(default=None, max_length=100)
    unit: str = Field(max_length=150)
    amount: int = Field(sa_type=BigInteger)
    reserve: int = Field(sa_type=BigInteger)
    usage: str = Field(sa_type=Text)
    breakdown: str = Field(sa_type=Text)
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)


class PricingRateWindow(SQLModel, table=True):
    """Quotes a buyer took in one fixed window. Incremented with one conditional UPDATE, so the
    limit holds across node replicas sharing the database."""

    __tablename__ = "pricing_rate_window"
    __table_args__ = (
        UniqueConstraint("network", "agent_identifier", "buyer", "scope", "window_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=16)
    agent_identifier: str = Field(max_length=120)
    buyer: str = Field(max_length=120)
    scope: str = Field(sa_type=String(16))  # minute (max_queries_per_minute) | plan (rate limit)
    window_start: int = Field(sa_type=BigInteger)
    count: int


class PricingSettlement(SQLModel, table=True):
    """A settled billable request (what a buyer's free quota counts). One per request id, so a
    retried settlement never counts, or charges, twice. Billing rows replace it later."""

    __tablename__ = "pricing_settlement"
    __table_args__ = (Index("ix_pricing_settlement_buyer", "network", "agent_identifier", "buyer"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    agent_identifier: str = Field(max_length=120)
    buyer: str = Field(max_length=120)
    request_id: str = Field(max_length=64, unique=True)
    unit: str = Field(max_length=150)
    reserved: int = Field(sa_type=BigInteger)
    charged: int = Field(sa_type=BigInteger)
    fallback: bool
    usage: str | None = Field(default=None, sa_type=Text)
    created_at: int = Field(sa_type=BigInteger)
