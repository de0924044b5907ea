"""Requests and answers of the buyer routes, in Masumi's field names (masumi-protocol.md §9.3)
plus the quote the buyer confirms (`quoteId`, `confirmedAmounts`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from node.auth.schemas import NetworkDisplayName
from node.units import UnitAmount

HEX_PATTERN = r"^([0-9a-fA-F]{2})*$"
PURCHASER_PATTERN = r"^[0-9a-fA-F]{14,26}$"
VKEY_PATTERN = r"^[0-9a-fA-F]{56}$"
MAX_POSIX_MS = 10**15  # far beyond any deadline; keeps every time inside a BIGINT


def _posix_ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be POSIX milliseconds as a decimal string")
    text = str(value)
    if not text.isdigit() or len(text) > 16:
        raise ValueError("must be POSIX milliseconds as a decimal string")
    number = int(text)
    if number > MAX_POSIX_MS:
        raise ValueError("is too far in the future")
    return number


# POSIX ms in, decimal string out (Masumi sends and shows these as strings)
PosixMs = Annotated[
    int,
    BeforeValidator(_posix_ms),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,16}$", "examples": ["1767225600000"]}),
]
AgentIdentifierText = Annotated[str, Field(min_length=57, max_length=250, pattern=HEX_PATTERN)]
PurchaserId = Annotated[str, Field(pattern=PURCHASER_PATTERN)]
Amounts = Annotated[list[UnitAmount], Field(min_length=1, max_length=7)]


class PurchaseQuoteCreate(BaseModel):
    """Ask an agent for a job: the node calls its /start_job and verifies the answer."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    network: NetworkDisplayName
    agent_identifier: AgentIdentifierText = Field(alias="agentIdentifier")
    input_data: dict[str, Any] = Field(alias="inputData")
    identifier_from_purchaser: PurchaserId | None = Field(
        default=None,
        alias="identifierFromPurchaser",
        description="14-26 hex characters; a random one when left out",
    )
    option: int | None = Field(
        default=None, ge=0, le=24, description="the price tier of a Fixed+prices agent, by index"
    )
    buyer: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$",
        description="who buys, for the seller's quote (free quotas): an agent identifier or a "
        "payment key hash; Dynamic agents are told our purchasing wallet's when left out",
    )


class PurchaseAmount(BaseModel):
    amount: str
    unit: str


class PurchaseQuoteOut(BaseModel):
    """A verified offer: post it to POST /purchase with the amounts you confirm."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    network: str
    agent_identifier: str = Field(alias="agentIdentifier")
    pricing_mode: str = Field(alias="pricingMode")
    job_id: str = Field(alias="jobId")
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    request_id: str = Field(alias="requestId")
    pay_by_time: PosixMs = Field(alias="payByTime")
    submit_result_time: PosixMs = Field(alias="submitResultTime")
    unlock_time: PosixMs = Field(alias="unlockTime")
    external_dispute_unlock_time: PosixMs = Field(alias="externalDisputeUnlockTime")
    amounts: list[PurchaseAmount]
    seller_vkey: str = Field(alias="sellerVkey")
    seller_address: str = Field(alias="sellerAddress")
    input_hash: str = Field(alias="inputHash")
    identifier_from_purchaser: str = Field(alias="identifierFromPurchaser")
    seller_quote: dict[str, Any] | None = Field(
        alias="sellerQuote", description="the seller node's pricing quote (Dynamic agents)"
    )
    expires_at: PosixMs = Field(alias="expiresAt")
    verified: bool
    created_at: PosixMs = Field(alias="createdAt")


class PurchaseCreate(BaseModel):
    """Masumi's POST /purchase body, plus the quote the buyer confirms."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    blockchain_identifier: str = Field(
        alias="blockchainIdentifier", min_length=1, max_length=8000, pattern=HEX_PATTERN
    )
    network: NetworkDisplayName
    input_hash: str = Field(alias="inputHash", min_length=1, max_length=250, pattern=HEX_PATTERN)
    seller_vkey: str = Field(alias="sellerVkey", pattern=VKEY_PATTERN)
    agent_identifier: AgentIdentifierText = Field(alias="agentIdentifier")
    identifier_from_purchaser: PurchaserId = Field(alias="identifierFromPurchaser")
    pay_by_time: PosixMs = Field(alias="payByTime")
    submit_result_time: PosixMs = Field(alias="submitResultTime")
    unlock_time: PosixMs = Field(alias="unlockTime")
    external_dispute_unlock_time: PosixMs = Field(alias="externalDisputeUnlockTime")
    amounts: Amounts | None = Field(
        default=None,
        alias="Amounts",
        description="the RequestedFunds signed into the identifier (Dynamic, Fixed+prices)",
    )
    metadata: str | None = Field(default=None, max_length=10_000)
    payment_source_type: Literal["Web3CardanoV1"] | None = Field(
        default=None, alias="paymentSourceType"
    )
    smart_contract_address: str | None = Field(
        default=None, alias="smartContractAddress", max_length=250
    )
    quote_id: str | None = Field(default=None, alias="quoteId", max_length=32)
    confirmed_amounts: Amounts | None = Field(
        default=None,
        alias="confirmedAmounts",
        description="the amounts the buyer agrees to lock: must equal the quote's",
    )


class PurchaseRef(BaseModel):
    """`request-refund`, `cancel-refund-request`: one purchase by its identifier."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    network: NetworkDisplayName
    blockchain_identifier: str = Field(
        alias="blockchainIdentifier", min_length=1, max_length=8000, pattern=HEX_PATTERN
    )


def _flag(value: object) -> object:
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


Flag = Annotated[bool, BeforeValidator(_flag)]


class PurchaseResolve(PurchaseRef):
    filter_smart_contract_address: str | None = Field(
        default=None, alias="filterSmartContractAddress", max_length=250
    )
    include_history: Flag = Field(default=False, alias="includeHistory")


class PurchaseErrorRecovery(PurchaseRef):
    updated_at: str = Field(
        alias="updatedAt",
        max_length=40,
        description="the purchase's updatedAt as last read (ISO 8601 or POSIX ms)",
    )
    retry_previous_action: Flag = Field(default=False, alias="retryPreviousAction")


class PurchaseNextAction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    requested_action: str = Field(alias="requestedAction")
    error_type: str | None = Field(alias="errorType")
    error_note: str | None = Field(alias="errorNote")


class PurchaseWallet(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    wallet_vkey: str = Field(alias="walletVkey")
    wallet_address: str = Field(alias="walletAddress")


class PurchaseTransaction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    tx_hash: str = Field(alias="txHash")
    kind: str | None = None
    status: str
    block_height: int | None = Field(default=None, alias="blockHeight")
    block_time: PosixMs | None = Field(default=None, alias="blockTime")
    new_on_chain_state: str | None = Field(default=None, alias="newOnChainState")


class PurchaseActionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    requested_action: str = Field(alias="requestedAction")
    error_type: str | None = Field(default=None, alias="errorType")
    error_note: str | None = Field(default=None, alias="errorNote")
    at: PosixMs


class PurchasePaymentSource(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    network: str
    payment_source_type: str = Field(default="Web3CardanoV1", alias="paymentSourceType")
    smart_contract_address: str | None = Field(alias="smartContractAddress")
    policy_id: str | None = Field(alias="policyId")


class PurchaseOut(BaseModel):
    """Masumi's purchase object: times as decimal strings of POSIX ms, amounts as strings."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    request_id: str = Field(alias="requestId")
    agent_identifier: str = Field(alias="agentIdentifier")
    pricing_type: str = Field(alias="pricingType")
    pay_by_time: PosixMs = Field(alias="payByTime")
    submit_result_time: PosixMs = Field(alias="submitResultTime")
    unlock_time: PosixMs = Field(alias="unlockTime")
    external_dispute_unlock_time: PosixMs = Field(alias="externalDisputeUnlockTime")
    collateral_return_lovelace: str | None = Field(alias="collateralReturnLovelace")
    requested_by_id: str | None = Field(alias="requestedById")
    input_hash: str = Field(alias="inputHash")
    result_hash: str | None = Field(alias="resultHash")
    identifier_from_purchaser: str = Field(alias="identifierFromPurchaser")
    on_chain_state: str | None = Field(alias="onChainState")
    invalid_reason: str | None = Field(alias="invalidReason")
    cooldown_time: PosixMs = Field(alias="cooldownTime")
    cooldown_time_other_party: PosixMs = Field(alias="cooldownTimeOtherParty")
    buyer_tx_fees_lovelace: str = Field(alias="buyerTxFeesLovelace")
    next_action: PurchaseNextAction = Field(alias="NextAction")
    current_transaction: PurchaseTransaction | None = Field(alias="CurrentTransaction")
    transaction_history: list[PurchaseTransaction] | None = Field(
        default=None, alias="TransactionHistory"
    )
    action_history: list[PurchaseActionOut] | None = Field(default=None, alias="ActionHistory")
    paid_funds: list[PurchaseAmount] = Field(alias="PaidFunds")
    withdrawn_for_seller: list[PurchaseAmount] = Field(alias="WithdrawnForSeller")
    withdrawn_for_buyer: list[PurchaseAmount] = Field(alias="WithdrawnForBuyer")
    payment_source: PurchasePaymentSource = Field(alias="PaymentSource")
    seller_wallet: PurchaseWallet = Field(alias="SellerWallet")
    smart_contract_wallet: PurchaseWallet = Field(alias="SmartContractWallet")
    quote_id: str | None = Field(alias="quoteId")
    metadata: str | None


class PurchaseList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    purchases: list[PurchaseOut] = Field(alias="Purchases")
    next_cursor_id: str | None = Field(alias="nextCursorId")
