"""Hot wallets. The mnemonic is stored only as AES-GCM ciphertext (see node.wallets.crypto)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


class HotWalletType(StrEnum):
    SELLING = "Selling"
    PURCHASING = "Purchasing"


class HotWallet(SQLModel, table=True):
    __tablename__ = "hot_wallet"
    __table_args__ = (UniqueConstraint("network", "payment_key_hash"),)

    id: str = Field(primary_key=True, max_length=32)
    network: str = Field(max_length=16)
    type: HotWalletType = Field(sa_type=String(16))  # plain text: no database enum types
    payment_key_hash: str = Field(max_length=56)
    stake_key_hash: str | None = Field(default=None, max_length=56)
    address: str = Field(max_length=120)
    collection_address: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=250)
    encrypted_mnemonic: bytes = Field(sa_type=LargeBinary)
    # The wallet lock: who spends from this wallet now, and since when (one spender at a time).
    lock_holder: str | None = Field(default=None, max_length=64)
    locked_at: int | None = Field(default=None, sa_type=BigInteger)
    # The low-balance watch: when the balance was last read, and since when it is below the
    # threshold (WALLET_LOW_BALANCE was sent then; None again once it recovered).
    balance_checked_at: int | None = Field(default=None, sa_type=BigInteger)
    low_balance_since: int | None = Field(default=None, sa_type=BigInteger)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class TxStatus(StrEnum):
    """A wallet transaction's life. Its spent inputs stay reserved until it is Confirmed (and
    seen), Rejected or Expired: a spend whose outcome is unknown is never re-signed."""

    SIGNED = "Signed"  # the intended tx hash is recorded; not (known to be) sent
    SUBMITTED = "Submitted"  # Blockfrost accepted it
    OUTCOME_UNKNOWN = "OutcomeUnknown"  # sent, answer lost
    CONFIRMED = "Confirmed"  # in a block
    REJECTED = "Rejected"  # the ledger refused it
    EXPIRED = "Expired"  # past its TTL and not on chain


class WalletTransaction(SQLModel, table=True):
    """A transaction a hot wallet signed: recorded before it is sent, resent only as these bytes."""

    __tablename__ = "wallet_transaction"

    id: str = Field(primary_key=True, max_length=32)
    wallet_id: str = Field(foreign_key="hot_wallet.id", index=True, max_length=32)
    tx_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=32)
    request_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    spent_inputs: list[str] = Field(sa_column=Column(JSON, nullable=False))  # "txhash#index"
    signed_cbor: bytes = Field(sa_type=LargeBinary)
    fee: int = Field(sa_type=BigInteger)
    invalid_hereafter_slot: int | None = Field(default=None, sa_type=BigInteger)
    status: TxStatus = Field(sa_type=String(16), index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
