"""Hot wallet requests and responses (Masumi names: walletVkey is the payment key hash)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from node.auth.schemas import NetworkDisplayName
from node.wallets.models import HotWalletType


class WalletCreate(BaseModel):
    """Add a hot wallet from a 24-word mnemonic, or have the node generate one."""

    model_config = ConfigDict(extra="forbid")

    type: HotWalletType
    wallet_mnemonic: SecretStr | None = Field(default=None, alias="walletMnemonic", max_length=400)
    collection_address: str | None = Field(default=None, alias="collectionAddress", max_length=120)
    note: str | None = Field(default=None, max_length=250)
    network: NetworkDisplayName | None = None


class WalletUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32)
    collection_address: str | None = Field(default=None, alias="collectionAddress", max_length=120)
    note: str | None = Field(default=None, max_length=250)


class WalletSecret(BaseModel):
    mnemonic: str


class WalletOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    type: HotWalletType
    network: str
    wallet_vkey: str = Field(alias="walletVkey", description="payment key hash, 56 hex")
    wallet_address: str = Field(alias="walletAddress")
    stake_key_hash: str | None = Field(alias="stakeKeyHash")
    collection_address: str | None = Field(alias="collectionAddress")
    note: str | None
    locked_at: str | None = Field(alias="lockedAt")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    secret: WalletSecret | None = Field(default=None, alias="Secret")


class WalletList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    wallets: list[WalletOut] = Field(alias="Wallets")
    next_cursor_id: str | None = Field(alias="nextCursorId")
