"""Requests and responses of the pricing routes around the seeds' own shapes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from node.pricing.plan import Listing, PricingPlan
from node.units import Amount

# policy id (28 bytes) + asset name (up to 32 bytes), lowercase hex; a payment key hash is 28 bytes
IDENTIFIER_PATTERN = r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, max_length=120)]
AgentPath = Annotated[str, Path(alias="agentIdentifier", pattern=IDENTIFIER_PATTERN)]
AgentQuery = Annotated[str, Query(alias="agentIdentifier", pattern=IDENTIFIER_PATTERN)]
QuantityText = Annotated[str, Field(max_length=40, pattern=r"^[0-9]{1,30}(\.[0-9]{1,30})?$")]


class QuoteRequest(BaseModel):
    """A usage estimate from a named buyer (its agent identifier or payment key hash)."""

    model_config = ConfigDict(extra="forbid")

    buyer: Identifier
    usage: dict[str, int | QuantityText] = Field(
        default_factory=dict,
        max_length=60,
        description="metric -> quantity: requests, input_tokens, method:POST, custom:<name>, ...",
        examples=[{"requests": 1, "input_tokens": 12000, "output_tokens": 800}],
    )
    option: str | None = Field(
        default=None, max_length=100, description="the FixedPrices option or subscription slug"
    )


class QuoteAmount(BaseModel):
    unit: str
    amount: Amount


class QuoteLine(BaseModel):
    """One line item: quantities as given and as billed, its exact amount in whole units."""

    model_config = ConfigDict(populate_by_name=True)

    slug: str
    metric: str | None
    quantity: str
    billed_quantity: str = Field(alias="billedQuantity")
    amount: str = Field(description="exact, whole units of the plan's currency, before markup")


class QuoteOut(BaseModel):
    """Integer amounts in the smallest unit; `reserve` is what the buyer locks."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    agent_identifier: str = Field(alias="agentIdentifier")
    buyer: str
    option: str | None
    unit: str
    amount: Amount
    reserve: Amount
    amounts: list[QuoteAmount]
    breakdown: list[QuoteLine]
    subtotal: str = Field(description="sum of the lines, exact, whole units")
    total: str = Field(description="after markup, free quota and minimum; exact, whole units")
    free: bool
    minimum_applied: bool = Field(alias="minimumApplied")
    capped: bool
    in_trial: bool = Field(alias="inTrial")
    prior_billable_requests: int = Field(alias="priorBillableRequests")
    created_at: int = Field(alias="createdAt", description="POSIX ms")
    expires_at: int = Field(alias="expiresAt", description="POSIX ms")


class DisplayLine(BaseModel):
    slug: str
    label: str
    text: str


class PublicPricing(BaseModel):
    """What anyone may read before buying: the plan, its listing, a readable line per item."""

    model_config = ConfigDict(populate_by_name=True)

    agent_identifier: str = Field(alias="agentIdentifier")
    shape: str = Field(description="the seed shape the seller wrote it in")
    currency: str = Field(description="the name of the plan's unit: USDM, ADA")
    plan: PricingPlan
    listing: Listing
    display: list[DisplayLine]
    updated_at: int = Field(alias="updatedAt", description="POSIX ms")
