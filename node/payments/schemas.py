"""Seller-side request bodies and the Masumi payment object (masumi-protocol.md §9.3).

Times arrive as decimal strings of POSIX ms (or ISO 8601 dates, as Masumi clients send them) and
leave as decimal strings of POSIX ms. RequestedFunds keep the strings the caller sent: they are
signed exactly as given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from node.auth.schemas import NetworkDisplayName

HEX = r"^(?:[0-9a-fA-F]{2})*$"


def parse_time(value: object) -> int:
    """POSIX ms from a decimal string or int, or from an ISO 8601 date (Masumi's body)."""
    if isinstance(value, (bool, float)):
        raise ValueError("must be POSIX milliseconds as a decimal string, or an ISO 8601 date")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return int(parsed.timestamp()) * 1000 + parsed.microsecond // 1000
    raise ValueError("must be POSIX milliseconds as a decimal string, or an ISO 8601 date")


TimeIn = Annotated[
    int,
    BeforeValidator(parse_time),
    WithJsonSchema({"type": "string", "examples": ["1767225600000"]}),
]
HexText = Annotated[str, Field(pattern=HEX)]
BlockchainIdentifierText = Annotated[str, Field(min_length=1, max_length=8000, pattern=HEX)]


class FundsIn(BaseModel):
    amount: Annotated[str, Field(pattern=r"^[0-9]{1,25}$")]
    unit: Annotated[str, Field(max_length=150)]


class PaymentCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    input_hash: Annotated[str, Field(alias="inputHash", min_length=1, max_length=250, pattern=HEX)]
    network: NetworkDisplayName
    agent_identifier: Annotated[
        str, Field(alias="agentIdentifier", min_length=57, max_length=250, pattern=HEX)
    ]
    identifier_from_purchaser: Annotated[
        str,
        Field(alias="identifierFromPurchaser", min_length=14, max_length=26, pattern=HEX),
    ]
    requested_funds: Annotated[
        list[FundsIn] | None, Field(alias="RequestedFunds", min_length=1, max_length=7)
    ] = None
    pay_by_time: Annotated[TimeIn | None, Field(alias="payByTime")] = None
    submit_result_time: Annotated[TimeIn | None, Field(alias="submitResultTime")] = None
    unlock_time: Annotated[TimeIn | None, Field(alias="unlockTime")] = None
    external_dispute_unlock_time: Annotated[
        TimeIn | None, Field(alias="externalDisputeUnlockTime")
    ] = None
    metadata: Annotated[str | None, Field(max_length=10_000)] = None
    quote_id: Annotated[str | None, Field(alias="quoteId", max_length=32)] = None


class PaymentRef(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    network: NetworkDisplayName
    blockchain_identifier: Annotated[BlockchainIdentifierText, Field(alias="blockchainIdentifier")]


class ResolveRequest(PaymentRef):
    include_history: Annotated[bool, Field(alias="includeHistory")] = False


class SubmitResult(PaymentRef):
    submit_result_hash: Annotated[
        str, Field(alias="submitResultHash", pattern=r"^[0-9a-fA-F]{64}$")
    ]
    usage: dict[str, Any] | None = None


class ErrorStateRecovery(PaymentRef):
    updated_at: Annotated[TimeIn, Field(alias="updatedAt")]
    retry_previous_action: Annotated[bool, Field(alias="retryPreviousAction")] = False


class DisputeResolution(PaymentRef):
    seller_amounts: Annotated[list[FundsIn], Field(alias="sellerAmounts", max_length=10)]
    buyer_amounts: Annotated[list[FundsIn], Field(alias="buyerAmounts", max_length=10)]


class DisputeSubmit(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    network: NetworkDisplayName
    tx_cbor: Annotated[str, Field(alias="txCbor", min_length=2, pattern=HEX)]
    witnesses: Annotated[list[Annotated[str, Field(pattern=HEX)]], Field(max_length=10)]


# --- the payment object --------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class FundsOut(Out):
    amount: str
    unit: str


class NextActionOut(Out):
    requested_action: str = Field(alias="requestedAction")
    error_type: str | None = Field(alias="errorType")
    error_note: str | None = Field(alias="errorNote")
    result_hash: str | None = Field(alias="resultHash")


class WalletOut(Out):
    id: str
    wallet_vkey: str = Field(alias="walletVkey")
    wallet_address: str = Field(alias="walletAddress")


class BuyerWalletOut(Out):
    wallet_vkey: str = Field(alias="walletVkey")
    wallet_address: str = Field(alias="walletAddress")


class TransactionOut(Out):
    tx_hash: str = Field(alias="txHash")
    status: str


class PaymentSourceOut(Out):
    network: str
    payment_source_type: str = Field(alias="paymentSourceType")
    smart_contract_address: str | None = Field(alias="smartContractAddress")
    policy_id: str | None = Field(alias="policyId")


class ActionOut(Out):
    requested_action: str = Field(alias="requestedAction")
    error_type: str | None = Field(alias="errorType")
    error_note: str | None = Field(alias="errorNote")
    tx_hash: str | None = Field(alias="txHash")
    created_at: str = Field(alias="createdAt")


class PaymentOut(Out):
    id: str
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    request_id: str = Field(alias="requestId")
    agent_identifier: str = Field(alias="agentIdentifier")
    agent_name: str | None = Field(alias="agentName")
    pricing_type: str = Field(alias="pricingType")
    pay_by_time: str = Field(alias="payByTime")
    submit_result_time: str = Field(alias="submitResultTime")
    unlock_time: str = Field(alias="unlockTime")
    external_dispute_unlock_time: str = Field(alias="externalDisputeUnlockTime")
    collateral_return_lovelace: str | None = Field(alias="collateralReturnLovelace")
    identifier_from_purchaser: str = Field(alias="identifierFromPurchaser")
    input_hash: str = Field(alias="inputHash")
    result_hash: str = Field(alias="resultHash")
    on_chain_state: str | None = Field(alias="onChainState")
    invalid_reason: str | None = Field(alias="invalidReason")
    cooldown_time: str = Field(alias="cooldownTime")
    cooldown_time_other_party: str = Field(alias="cooldownTimeOtherParty")
    requested_by_id: str = Field(alias="requestedById")
    quote_id: str | None = Field(alias="quoteId")
    usage: dict[str, Any] | None
    charge: FundsOut | None
    metadata: str | None
    next_action: NextActionOut = Field(alias="NextAction")
    current_transaction: TransactionOut | None = Field(alias="CurrentTransaction")
    requested_funds: list[FundsOut] = Field(alias="RequestedFunds")
    withdrawn_for_seller: list[FundsOut] = Field(alias="WithdrawnForSeller")
    withdrawn_for_buyer: list[FundsOut] = Field(alias="WithdrawnForBuyer")
    smart_contract_wallet: WalletOut = Field(alias="SmartContractWallet")
    buyer_wallet: BuyerWalletOut | None = Field(alias="BuyerWallet")
    payment_source: PaymentSourceOut = Field(alias="PaymentSource")
    transaction_history: list[TransactionOut] | None = Field(alias="TransactionHistory")
    action_history: list[ActionOut] | None = Field(alias="ActionHistory")


class PaymentList(Out):
    payments: list[PaymentOut] = Field(alias="Payments")
    next_cursor_id: str | None = Field(alias="nextCursorId")


class DisputeOut(Out):
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    tx_hash: str = Field(alias="txHash")
    status: str
    tx_cbor: str | None = Field(alias="txCbor")
    required_signers: list[str] = Field(alias="requiredSigners")
    required_signatures: int = Field(alias="requiredSignatures")
