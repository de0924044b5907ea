"""/webhooks: subscribe to payment and purchase events (Masumi's routes, pay permission)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from node.auth.api import PayKey
from node.runtime import RuntimeDep, SessionDep
from node.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Success, success
from node.webhooks import service
from node.webhooks.schemas import (
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
    WebhookOut,
    WebhookRef,
    WebhookTestResult,
    WebhookUpdate,
)

router = APIRouter(tags=["webhooks"])


@router.get("/webhooks", summary="List webhooks, newest first (an admin key sees all)")
def list_webhooks(
    caller: PayKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
) -> Success[WebhookList]:
    rows = service.list_subscriptions(session, caller, limit, cursor_id)
    next_cursor = rows[-1].id if len(rows) == limit else None
    return success(
        WebhookList(webhooks=[service.to_out(row) for row in rows], next_cursor_id=next_cursor)
    )


@router.post(
    "/webhooks",
    summary="Register a webhook; its signingSecret is shown only in this answer",
)
def create_webhook(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: WebhookCreate
) -> Success[WebhookOut]:
    subscription, secret = service.create_subscription(session, runtime.secrets, caller, request)
    return success(service.to_out(subscription, signing_secret=secret))


@router.patch("/webhooks", summary="Change a webhook; isActive=true re-enables a disabled one")
def update_webhook(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: WebhookUpdate
) -> Success[WebhookOut]:
    subscription = service.update_subscription(session, runtime.secrets, caller, request)
    return success(service.to_out(subscription))


@router.delete("/webhooks", summary="Delete a webhook; its queued deliveries are cancelled")
def delete_webhook(
    caller: PayKey, session: SessionDep, request: Annotated[WebhookRef, Body()]
) -> Success[WebhookDeleted]:
    return success(service.delete_subscription(session, caller, request))


@router.post("/webhooks/test", summary="Send a test event now and report the receiver's answer")
def test_webhook(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: WebhookRef
) -> Success[WebhookTestResult]:
    return success(service.send_test(session, runtime.secrets, caller, request))
