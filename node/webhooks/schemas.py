"""Webhook requests and answers, in Masumi's field names (`Events`, `authToken`, `webhookId`).

`id` and `webhookId` are both accepted where a subscription is named; `events` is accepted for
`Events` (the older Masumi spelling).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from node.webhooks.models import WebhookEvent, WebhookFormat


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in text)
    ):
        raise ValueError("must be an http:// or https:// URL")
    return text


WebhookUrl = Annotated[str, Field(min_length=8, max_length=500), AfterValidator(_http_url)]
AuthToken = Annotated[str, Field(min_length=10, max_length=200)]
Events = Annotated[list[WebhookEvent], Field(min_length=1, max_length=10)]
SubscriptionId = Annotated[str, Field(min_length=1, max_length=32)]

_ID = AliasChoices("id", "webhookId")
_EVENTS = AliasChoices("Events", "events")


class WebhookCreate(BaseModel):
    """`authToken` is required for EXTENDED (checked by the service, which names the field)."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: Events = Field(validation_alias=_EVENTS, serialization_alias="Events")
    format: WebhookFormat = WebhookFormat.EXTENDED
    name: str | None = Field(default=None, max_length=100)
    auth_token: AuthToken | None = Field(default=None, alias="authToken")
    payment_source_id: str | None = Field(default=None, max_length=250, alias="paymentSourceId")


class WebhookUpdate(BaseModel):
    """Only what is given changes. `isActive: true` re-enables and clears the failure count."""

    model_config = ConfigDict(extra="forbid")

    id: SubscriptionId = Field(validation_alias=_ID)
    url: WebhookUrl | None = None
    events: Events | None = Field(default=None, validation_alias=_EVENTS)
    format: WebhookFormat | None = None
    name: str | None = Field(default=None, max_length=100)
    auth_token: AuthToken | None = Field(default=None, alias="authToken")
    is_active: bool | None = Field(default=None, alias="isActive")


class WebhookRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SubscriptionId = Field(validation_alias=_ID)


class CreatedBy(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    api_key_id: str = Field(alias="apiKeyId")


class WebhookOut(BaseModel):
    """A subscription as listed. `signingSecret` is in the create answer only."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    url: str
    format: WebhookFormat
    events: list[WebhookEvent] = Field(alias="Events")
    name: str | None
    is_active: bool = Field(alias="isActive")
    payment_source_id: str | None = Field(alias="paymentSourceId")
    has_auth_token: bool = Field(alias="hasAuthToken")
    failure_count: int = Field(alias="failureCount")
    last_success_at: str | None = Field(alias="lastSuccessAt")
    disabled_at: str | None = Field(alias="disabledAt")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    created_by: CreatedBy | None = Field(alias="CreatedBy")
    signing_secret: str | None = Field(
        default=None,
        alias="signingSecret",
        description="The HMAC key of the Paynode-Signature header; shown only when created",
    )


class WebhookList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    webhooks: list[WebhookOut] = Field(alias="Webhooks")
    next_cursor_id: str | None = Field(alias="nextCursorId")


class WebhookDeleted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    url: str
    name: str | None
    deleted_at: str = Field(alias="deletedAt")


class WebhookTestResult(BaseModel):
    """What the receiver answered to a test event sent now."""

    model_config = ConfigDict(populate_by_name=True)

    webhook_id: str = Field(alias="webhookId")
    success: bool
    response_code: int | None = Field(alias="responseCode")
    error_message: str | None = Field(alias="errorMessage")
    duration_ms: int = Field(alias="durationMs")
