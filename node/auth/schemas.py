"""API key requests and responses, in the Masumi node's field names."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from node.auth.models import ApiKeyStatus
from node.units import UnitAmount, UnitDelta

NetworkDisplayName = Literal["Devnet", "Preview", "Preprod", "Mainnet"]
ALL_NETWORKS: list[NetworkDisplayName] = ["Devnet", "Preview", "Preprod", "Mainnet"]


class Permission(StrEnum):
    READ = "read"
    PAY = "pay"
    ADMIN = "admin"


LegacyPermission = Literal["Read", "ReadAndPay", "Admin"]
LEGACY_FLAGS: dict[str, tuple[bool, bool, bool]] = {
    "Read": (True, False, False),
    "ReadAndPay": (True, True, False),
    "Admin": (True, True, True),
}


def legacy_permission(can_read: bool, can_pay: bool, can_admin: bool) -> LegacyPermission:
    if can_admin:
        return "Admin"
    return "ReadAndPay" if can_pay else "Read"


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    can_read: bool | None = Field(default=None, alias="canRead")
    can_pay: bool | None = Field(default=None, alias="canPay")
    can_admin: bool | None = Field(default=None, alias="canAdmin")
    permission: LegacyPermission | None = None
    usage_limited: bool = Field(default=True, alias="usageLimited")
    usage_credits: list[UnitAmount] = Field(
        default_factory=list, alias="UsageCredits", max_length=25
    )
    network_limit: Annotated[list[NetworkDisplayName], Field(min_length=1)] = Field(
        default_factory=lambda: list(ALL_NETWORKS), alias="NetworkLimit"
    )

    @model_validator(mode="after")
    def _one_way_to_say_permissions(self) -> ApiKeyCreate:
        flags = (self.can_read, self.can_pay, self.can_admin)
        if self.permission is not None and any(flag is not None for flag in flags):
            raise ValueError("permission: give either permission or canRead/canPay/canAdmin")
        if self.permission is None and not any(flags):
            raise ValueError("canRead: the key needs at least one of canRead, canPay, canAdmin")
        return self

    def flags(self) -> tuple[bool, bool, bool]:
        """(read, pay, admin), where pay implies read and admin implies both."""
        if self.permission is not None:
            return LEGACY_FLAGS[self.permission]
        admin = bool(self.can_admin)
        pay = bool(self.can_pay) or admin
        return (bool(self.can_read) or pay, pay, admin)


class ApiKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32)
    token: str | None = Field(default=None, min_length=15, max_length=250)
    status: ApiKeyStatus | None = None
    usage_limited: bool | None = Field(default=None, alias="usageLimited")
    usage_credits_to_add_or_remove: list[UnitDelta] = Field(
        default_factory=list, alias="UsageCreditsToAddOrRemove", max_length=25
    )
    network_limit: list[NetworkDisplayName] | None = Field(
        default=None, alias="NetworkLimit", min_length=1
    )


class ApiKeyDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32)


class ApiKeyOut(BaseModel):
    """An API key as listed: the token is masked except right after creation."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    token: str
    can_read: bool = Field(alias="canRead")
    can_pay: bool = Field(alias="canPay")
    can_admin: bool = Field(alias="canAdmin")
    permission: LegacyPermission
    usage_limited: bool = Field(alias="usageLimited")
    remaining_usage_credits: list[UnitAmount] = Field(alias="RemainingUsageCredits")
    network_limit: list[NetworkDisplayName] = Field(alias="NetworkLimit")
    status: ApiKeyStatus
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")


class ApiKeyList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    api_keys: list[ApiKeyOut] = Field(alias="ApiKeys")
    next_cursor_id: str | None = Field(alias="nextCursorId")
