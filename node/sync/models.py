"""The mirror's tables: a checkpoint per watched address, every processed transaction, one row per
escrow (a request as the chain shows it) and the events that moved it.

Amount maps are JSON `{unit: int}` (Python ints, exact); single amounts are BIGINT. Times are POSIX
ms. Rows are never deleted: a rollback marks them RolledBack and the escrow rows are recomputed from
their remaining events.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

Amounts = dict[str, int]


class TxKind(StrEnum):
    LOCK = "Lock"
    WITHDRAW = "Withdraw"
    SET_REFUND_REQUESTED = "SetRefundRequested"
    UNSET_REFUND_REQUESTED = "UnSetRefundRequested"
    WITHDRAW_REFUND = "WithdrawRefund"
    WITHDRAW_DISPUTED = "WithdrawDisputed"
    SUBMIT_RESULT = "SubmitResult"
    AUTHORIZE_REFUND = "AuthorizeRefund"
    INVALID = "Invalid"  # breaks the protocol's shape (reference script, no continuation...)
    FOREIGN = "Foreign"  # touches the address but carries no escrow the mirror can follow


class RowStatus(StrEnum):
    CONFIRMED = "Confirmed"
    ROLLED_BACK = "RolledBack"


class OnChainState(StrEnum):
    FUNDS_LOCKED = "FundsLocked"
    RESULT_SUBMITTED = "ResultSubmitted"
    REFUND_REQUESTED = "RefundRequested"
    DISPUTED = "Disputed"
    WITHDRAWN = "Withdrawn"
    REFUND_WITHDRAWN = "RefundWithdrawn"
    DISPUTED_WITHDRAWN = "DisputedWithdrawn"


TERMINAL_STATES = frozenset(
    {OnChainState.WITHDRAWN, OnChainState.REFUND_WITHDRAWN, OnChainState.DISPUTED_WITHDRAWN}
)


class Validity(StrEnum):
    VALID = "Valid"
    FUNDS_OR_DATUM_INVALID = "FundsOrDatumInvalid"


class Role(StrEnum):
    BUYER = "Buyer"
    SELLER = "Seller"
    BOTH = "Both"
    NEITHER = "Neither"


class SyncCheckpoint(SQLModel, table=True):
    """How far the sync has followed one address: `position` transactions of its history (oldest
    first), the last of them `last_tx_hash`."""

    __tablename__ = "sync_checkpoint"
    __table_args__ = (UniqueConstraint("network", "address"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    address: str = Field(max_length=120)
    position: int = Field(default=0, sa_type=BigInteger)
    last_tx_hash: str | None = Field(default=None, max_length=64)
    block_height: int | None = Field(default=None, sa_type=BigInteger)
    block_hash: str | None = Field(default=None, max_length=64)
    block_time_ms: int | None = Field(default=None, sa_type=BigInteger)
    tip_height: int | None = Field(default=None, sa_type=BigInteger)  # at the last run
    caught_up_tip_hash: str | None = Field(default=None, max_length=64)  # read all history under it
    caught_up_drained: bool = False  # ... and no transaction of the history waited confirmations
    txs_synced: int = Field(default=0, sa_type=BigInteger)
    rollbacks: int = Field(default=0, sa_type=BigInteger)
    # False on checkpoints from before sync_output existed: the next run rescans from the start
    outputs_tracked: bool = Field(default=True)
    updated_at: int = Field(sa_type=BigInteger)


class SyncTransaction(SQLModel, table=True):
    """A transaction of a watched address's history, as processed."""

    __tablename__ = "sync_transaction"
    __table_args__ = (
        UniqueConstraint("network", "tx_hash"),
        Index("ix_sync_transaction_position", "network", "address", "position"),
    )

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    address: str = Field(max_length=120)
    tx_hash: str = Field(max_length=64)
    position: int = Field(sa_type=BigInteger)  # 1-based index in the address's history
    block_height: int = Field(sa_type=BigInteger)
    block_hash: str | None = Field(default=None, max_length=64)
    block_time_ms: int = Field(sa_type=BigInteger)
    tx_index: int
    fee: int = Field(sa_type=BigInteger)
    kind: TxKind = Field(sa_type=String(24))
    status: RowStatus = Field(sa_type=String(16))
    note: str | None = Field(default=None, max_length=500)
    updated_at: int = Field(sa_type=BigInteger)


class SyncOutput(SQLModel, table=True):
    """An output a synced transaction put at a watched address: what a later transaction spending
    it spent (value and datum), known without asking the chain again."""

    __tablename__ = "sync_output"
    __table_args__ = (UniqueConstraint("network", "tx_hash", "output_index"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    address: str = Field(max_length=120)
    tx_hash: str = Field(max_length=64)
    output_index: int
    position: int = Field(sa_type=BigInteger)  # of the transaction that created it
    amount: Amounts = Field(sa_column=Column(JSON, nullable=False))
    inline_datum: str | None = Field(default=None, sa_type=Text)
    data_hash: str | None = Field(default=None, max_length=64)
    reference_script: bool = False
    status: RowStatus = Field(sa_type=String(16))


class EscrowMirror(SQLModel, table=True):
    """One escrow output chain (a lock and its continuations): a request as the chain shows it.

    The datum's fields are copied at the lock; the mutable part (state, result hash, cooldowns,
    the UTxO holding it, what was paid out) is the last confirmed event's `after`."""

    __tablename__ = "escrow_mirror"
    __table_args__ = (
        UniqueConstraint("network", "lock_tx_hash", "lock_output_index"),
        Index("ix_escrow_mirror_utxo", "network", "utxo_tx_hash", "utxo_output_index"),
        Index("ix_escrow_mirror_request", "network", "request_id"),
        Index("ix_escrow_mirror_history", "network", "listed", "locked_at", "id"),
        Index("ix_escrow_mirror_usage", "network", "listed", "agent_identifier", "locked_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    status: RowStatus = Field(sa_type=String(16))
    listed: bool  # ours and confirmed: what usage and history list
    role: Role = Field(sa_type=String(8))
    validity: Validity = Field(sa_type=String(24))
    invalid_reason: str | None = Field(default=None, max_length=500)
    request_id: str = Field(max_length=64)
    blockchain_identifier: str = Field(sa_type=Text)
    agent_identifier: str = Field(max_length=200)
    purchaser_id: str = Field(max_length=200)
    buyer_address: str = Field(max_length=200)
    seller_address: str = Field(max_length=200)
    buyer_key_hash: str = Field(max_length=56)
    seller_key_hash: str = Field(max_length=56)
    input_hash: str = Field(max_length=200)
    pay_by_time: int = Field(sa_type=BigInteger)
    submit_result_time: int = Field(sa_type=BigInteger)
    unlock_time: int = Field(sa_type=BigInteger)
    external_dispute_unlock_time: int = Field(sa_type=BigInteger)
    collateral_return: int = Field(sa_type=BigInteger)
    locked: Amounts = Field(sa_column=Column(JSON, nullable=False))  # the escrow output's value
    reserved: Amounts = Field(sa_column=Column(JSON, nullable=False))  # locked minus collateral
    lock_tx_hash: str = Field(max_length=64)
    lock_output_index: int
    locked_at: int = Field(sa_type=BigInteger)  # block time of the lock
    # the mutable part, recomputed from the confirmed events
    state: OnChainState | None = Field(default=None, sa_type=String(24))
    result_hash: str = Field(default="", max_length=200)
    seller_cooldown_time: int = Field(default=0, sa_type=BigInteger)
    buyer_cooldown_time: int = Field(default=0, sa_type=BigInteger)
    utxo_tx_hash: str | None = Field(default=None, max_length=64)
    utxo_output_index: int | None = None
    last_tx_hash: str | None = Field(default=None, max_length=64)
    updated_on_chain_at: int | None = Field(default=None, sa_type=BigInteger)
    withdrawn_seller: Amounts = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    withdrawn_buyer: Amounts = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    protocol_fee: Amounts = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    charged: Amounts = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    refunded: Amounts = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    buyer_tx_fees: int = Field(default=0, sa_type=BigInteger)
    seller_tx_fees: int = Field(default=0, sa_type=BigInteger)
    tx_hashes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: int = Field(sa_type=BigInteger)


class EscrowEvent(SQLModel, table=True):
    """What one transaction did to one escrow: its kind, who paid its fee share, and the escrow's
    mutable fields after it (`after`)."""

    __tablename__ = "escrow_event"
    __table_args__ = (
        UniqueConstraint("escrow_id", "tx_hash"),
        Index("ix_escrow_event_tx", "tx_hash"),
    )

    id: str = Field(primary_key=True, max_length=32)
    escrow_id: str = Field(foreign_key="escrow_mirror.id", max_length=32)
    tx_hash: str = Field(max_length=64)
    position: int = Field(sa_type=BigInteger)
    block_height: int = Field(sa_type=BigInteger)
    block_time_ms: int = Field(sa_type=BigInteger)
    kind: TxKind = Field(sa_type=String(24))
    status: RowStatus = Field(sa_type=String(16))
    fee_side: str = Field(max_length=8)  # buyer | seller | none
    fee_share: int = Field(sa_type=BigInteger)
    after: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class RegistryAssetStatus(StrEnum):
    LIVE = "Live"  # minted, quantity 1
    BURNED = "Burned"  # quantity 0 on chain
    GONE = "Gone"  # no longer under the policy (its mint was rolled back)


class RegistryMirror(SQLModel, table=True):
    """One registry NFT under a watched policy, as the chain shows it: holder, mint transaction
    and the metadata it carries (raw, with the number of MIP-002 violations found)."""

    __tablename__ = "registry_mirror"
    __table_args__ = (UniqueConstraint("network", "unit"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    policy_id: str = Field(max_length=56, index=True)
    unit: str = Field(max_length=120)
    status: RegistryAssetStatus = Field(sa_type=String(8))
    quantity: int = Field(sa_type=BigInteger)
    holder: str | None = Field(default=None, max_length=200, index=True)
    mint_tx_hash: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=250)
    api_base_url: str | None = Field(default=None, max_length=250)
    pricing_mode: str | None = Field(default=None, max_length=16)
    violations: int = 0
    onchain_metadata: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: int = Field(sa_type=BigInteger)
