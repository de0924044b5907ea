"""Registration requests and answers: seed 002's `POST /api/agents` body, Masumi's
`POST /api/v1/registry` body (masumi-protocol.md §9.3), and Masumi's registry entry.

What needs the node to check (the network's units, the selling wallet, the recipient's network)
is checked in the service; everything else here, so a bad body is refused before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from node.auth.schemas import NetworkDisplayName
from node.units import Amount, parse_amount
from registry.metadata import PricingMode


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise ValueError("must be an http(s) URL")
    return text


def _positive_quantity(value: object) -> int:
    # JSON numbers arrive as int or float; a float (1.5, or even 1.0) is refused, not rounded.
    quantity = parse_amount(value)
    if quantity <= 0:
        raise ValueError("must be a positive integer in the smallest unit")
    return quantity


HttpUrlText = Annotated[str, Field(max_length=250), AfterValidator(_http_url)]
Text250 = Annotated[str, Field(max_length=250)]
WalletVkey = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F]{56}$", description="payment key hash, 56 hex"),
    AfterValidator(str.lower),
]
Quantity = Annotated[
    int,
    BeforeValidator(_positive_quantity),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,25}$", "examples": ["1000000"]}),
]
PriceUnit = Annotated[
    str,
    Field(
        max_length=150,
        description="'' or 'lovelace' for ADA, else policy id + asset name hex (the stablecoin)",
    ),
]


class Capability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text250
    version: Text250


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(min_length=1, max_length=250)]
    contact_email: Text250 | None = Field(default=None, alias="contactEmail")
    contact_other: Text250 | None = Field(default=None, alias="contactOther")
    organization: Text250 | None = None


class Legal(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    privacy_policy: Text250 | None = Field(default=None, alias="privacyPolicy")
    terms: Text250 | None = None
    other: Text250 | None = None


class ExampleOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(max_length=60)]
    url: HttpUrlText
    mime_type: Annotated[str, Field(max_length=60)] = Field(alias="mimeType")


Tag = Annotated[str, Field(min_length=1, max_length=63)]


class AgentFields(BaseModel):
    """What both registration bodies say about the agent and the wallet that mints it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(min_length=1, max_length=250)]
    description: Text250
    api_base_url: HttpUrlText = Field(alias="apiBaseUrl")
    capability: Capability = Field(alias="Capability")
    author: Author = Field(alias="Author")
    legal: Legal | None = Field(default=None, alias="Legal")
    tags: list[Tag] = Field(alias="Tags", min_length=1, max_length=15)
    example_outputs: list[ExampleOutput] = Field(
        default_factory=list, alias="ExampleOutputs", max_length=25
    )
    selling_wallet_vkey: WalletVkey = Field(alias="sellingWalletVkey")
    recipient_wallet_address: str | None = Field(
        default=None, alias="recipientWalletAddress", max_length=120
    )
    send_funding_lovelace: Amount | None = Field(
        default=None,
        alias="sendFundingLovelace",
        description="lovelace sent with the NFT; at least (and by default) 5 ADA",
    )


class AmountIn(BaseModel):
    """`{"quantity": 1000000, "unit": "<USDM unit>"}` in raw units (seed 002)."""

    model_config = ConfigDict(extra="forbid")

    quantity: Quantity
    unit: PriceUnit


class AgentCreate(AgentFields):
    """Seed 002's `POST /api/agents`: the pricing mode and its amounts."""

    pricing_mode: PricingMode = Field(alias="pricingMode")
    amounts: list[AmountIn] | None = Field(default=None, max_length=25, validate_default=True)
    network: NetworkDisplayName | None = None

    @field_validator("amounts")
    @classmethod
    def _amounts_fit_the_mode(
        cls, amounts: list[AmountIn] | None, info: ValidationInfo
    ) -> list[AmountIn] | None:
        mode = info.data.get("pricing_mode")
        count = len(amounts or [])
        if mode in (PricingMode.FREE, PricingMode.DYNAMIC) and count:
            raise ValueError(f"must be left out for {mode} pricing")
        if mode == PricingMode.FIXED and count != 1:
            raise ValueError("Fixed pricing takes exactly one amount")
        if mode == PricingMode.FIXED_PRICES and count < 2:
            raise ValueError("Fixed+prices pricing takes at least two amounts")
        return amounts


class Price(BaseModel):
    """Masumi's `{"unit": "", "amount": "1000000"}`."""

    model_config = ConfigDict(extra="forbid")

    unit: PriceUnit
    amount: Quantity


class FixedPricing(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pricing_type: Literal["Fixed"] = Field(alias="pricingType")
    pricing: list[Price] = Field(alias="Pricing", min_length=1, max_length=5)


class FreePricing(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pricing_type: Literal["Free"] = Field(alias="pricingType")


class DynamicPricing(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pricing_type: Literal["Dynamic"] = Field(alias="pricingType")


AgentPricing = Annotated[
    FixedPricing | FreePricing | DynamicPricing, Field(discriminator="pricing_type")
]


class RegistryCreate(AgentFields):
    """Masumi's `POST /api/v1/registry` (V1: AgentPricing)."""

    network: NetworkDisplayName
    agent_pricing: AgentPricing = Field(alias="AgentPricing")


class RegistryDeregister(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    network: NetworkDisplayName
    agent_identifier: Annotated[str, Field(min_length=57, max_length=250)] = Field(
        alias="agentIdentifier"
    )


# Answers --------------------------------------------------------------------------------------


class CapabilityOut(BaseModel):
    name: str | None
    version: str | None


class AuthorOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    contact_email: str | None = Field(alias="contactEmail")
    contact_other: str | None = Field(alias="contactOther")
    organization: str | None


class LegalOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    privacy_policy: str | None = Field(alias="privacyPolicy")
    terms: str | None
    other: str | None


class ExampleOutputOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    url: str
    mime_type: str = Field(alias="mimeType")


class PriceOut(BaseModel):
    unit: str
    amount: str


class AmountOut(BaseModel):
    quantity: str
    unit: str


class FixedPricingOut(BaseModel):
    """Masumi's AgentPricing: Fixed with its `Pricing` (amounts paid together), Free or Dynamic.
    A Fixed+prices agent is Dynamic to Masumi: the chosen price is signed per job."""

    model_config = ConfigDict(populate_by_name=True)

    pricing_type: Literal["Fixed"] = Field(default="Fixed", alias="pricingType")
    pricing: list[PriceOut] = Field(alias="Pricing")


class FreePricingOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pricing_type: Literal["Free"] = Field(default="Free", alias="pricingType")


class DynamicPricingOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pricing_type: Literal["Dynamic"] = Field(default="Dynamic", alias="pricingType")


AgentPricingOut = FixedPricingOut | FreePricingOut | DynamicPricingOut


class WalletRef(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    wallet_vkey: str = Field(alias="walletVkey")
    wallet_address: str = Field(alias="walletAddress")


class CurrentTransaction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    tx_hash: str = Field(alias="txHash")
    status: Literal["Pending", "Confirmed", "FailedViaTimeout", "RolledBack"]


class AgentDescription(BaseModel):
    """The agent as its MIP-002 metadata describes it, with Masumi's field names."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    description: str | None
    api_base_url: str = Field(alias="apiBaseUrl")
    capability: CapabilityOut | None = Field(alias="Capability")
    author: AuthorOut = Field(alias="Author")
    legal: LegalOut | None = Field(alias="Legal")
    tags: list[str] = Field(alias="Tags")
    example_outputs: list[ExampleOutputOut] = Field(alias="ExampleOutputs")
    agent_pricing: AgentPricingOut = Field(alias="AgentPricing")
    pricing_mode: str = Field(alias="pricingMode")
    amounts: list[AmountOut]
    image: str | None = None
    metadata_version: str | None = Field(default=None, alias="metadataVersion")


class RegistryEntry(AgentDescription):
    """A registration as Masumi's `GET /registry` shows it, plus seed 002's pricing fields."""

    id: str
    network: str
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    state: str
    agent_identifier: str | None = Field(alias="agentIdentifier")
    send_funding_lovelace: str = Field(alias="sendFundingLovelace")
    smart_contract_wallet: WalletRef = Field(alias="SmartContractWallet")
    recipient_wallet_address: str | None = Field(alias="recipientWalletAddress")
    current_transaction: CurrentTransaction | None = Field(alias="CurrentTransaction")
    error: str | None


class RegistryList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    assets: list[RegistryEntry] = Field(alias="Assets")
    next_cursor_id: str | None = Field(alias="nextCursorId")


class ViolationOut(BaseModel):
    path: str
    message: str


class OnchainAgentOut(BaseModel):
    """An agent read from the chain: its NFT, holder, decoded metadata and what is wrong with it."""

    model_config = ConfigDict(populate_by_name=True)

    policy_id: str = Field(alias="policyId")
    asset_name: str = Field(alias="assetName")
    agent_identifier: str = Field(alias="agentIdentifier")
    holder: str | None
    quantity: int
    mint_tx_hash: str | None = Field(alias="mintTxHash")
    metadata: AgentDescription | None = Field(alias="Metadata")
    violations: list[ViolationOut]
    raw_name: str | None = Field(
        default=None, alias="rawName", description="the on-chain name, even when Metadata is null"
    )


class OnchainAgentList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    assets: list[OnchainAgentOut] = Field(alias="Assets")


class OnchainRegistryPage(OnchainAgentList):
    """One page of the registry policy's assets, read from the chain (Blockfrost's pages)."""

    policy_id: str = Field(alias="policyId")
    page: int
    next_page: int | None = Field(alias="nextPage")
