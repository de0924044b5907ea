"""Hot wallets. The mnemonic is stored only as AES-GCM ciphertext (see node.wallets.crypto)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, LargeBinary, String, UniqueConstraint
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
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
