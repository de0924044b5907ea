"""Billing answers: amounts as decimal strings per unit, times POSIX ms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class BillingAmount(_Camel):
    unit: str
    amount: str = Field(pattern=r"^[0-9]{1,25}$", description="integer, smallest unit")


class BalanceLine(_Camel):
    unit: str
    locked: str = Field(description="reserved in escrows not settled yet")
    charged: str
    refunded: str
    protocol_fees: str
    tx_fees: str = Field(description="transaction fees this side paid (lovelace)")


class BalanceSide(_Camel):
    requests: str
    amounts: list[BalanceLine]


class BalanceOut(_Camel):
    peer_agent_id: str | None
    as_buyer: BalanceSide
    as_seller: BalanceSide


class UsageRow(_Camel):
    id: str
    request_id: str
    blockchain_identifier: str
    agent_identifier: str
    role: str
    validity: str
    invalid_reason: str | None
    on_chain_state: str | None
    reserved: list[BillingAmount]
    charged: list[BillingAmount]
    refunded: list[BillingAmount]
    protocol_fees: list[BillingAmount]
    buyer_tx_fees: str
    seller_tx_fees: str
    result_hash: str
    buyer_address: str
    seller_address: str
    lock_tx_hash: str
    tx_hashes: list[str]
    locked_at: int
    updated_on_chain_at: int | None
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int


class UsageList(_Camel):
    items: list[UsageRow]
    next_cursor_id: str | None
