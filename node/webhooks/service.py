"""Webhooks: subscriptions, the outbox (`emit`), and the delivery worker.

`emit(session, event, data)` adds one Pending delivery per matching active subscription to the
caller's transaction; nothing is sent unless the caller commits. The worker step `deliver_due`
claims due deliveries (row locks, and a lease so that another replica does not send them too),
sends them with a 10 s timeout, signed (see node/webhooks/signing.py), and records the outcome:
2xx → Delivered and the subscription's failure count back to 0; otherwise a retry after
1 s, 2 s, 4 s … (plus up to 20 % jitter) until MAX_ATTEMPTS, then Failed. A subscription whose
DISABLE_AFTER_FAILURES deliveries in a row failed is disabled. Delivery is at least once: every
attempt carries the same `Paynode-Event-Id` for receivers to drop duplicates.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic_core import to_jsonable_python
from sqlalchemy import update
from sqlmodel import Session, col, select

from node import __version__
from node.auth.service import Caller
from node.clock import iso_from_ms
from node.clock import now_ms as clock_now_ms
from node.crypto import SecretBox
from node.ids import new_id
from node.runtime import Runtime
from node.web import ApiError, conflict, field_error, not_found
from node.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookFormat,
    WebhookSubscription,
)
from node.webhooks.schemas import (
    CreatedBy,
    WebhookCreate,
    WebhookDeleted,
    WebhookOut,
    WebhookRef,
    WebhookTestResult,
    WebhookUpdate,
)
from node.webhooks.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    new_signing_secret,
    sign,
    verify_signature,
)

__all__ = ["deliver_due", "emit", "verify_signature"]

logger = logging.getLogger(__name__)

SERVICE_NAME = "paynode"
TEST_EVENT = "WEBHOOK_TEST"
USER_AGENT = f"paynode-webhooks/{__version__}"
DELIVERY_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 8
RETRY_BASE_MS = 1_000
RETRY_CAP_MS = 15 * 60 * 1000
JITTER_DIVISOR = 5  # up to +20 %
DISABLE_AFTER_FAILURES = 10
LEASE_MS = 60_000  # a claimed delivery is due again after this, if its worker died
BATCH = 16
PARALLEL_SENDS = 16  # a whole batch at once: a tick waits one timeout at most
SUMMARY_LIMIT = 1_900  # Discord refuses content over 2000 characters
_KNOWN_EVENTS = frozenset(event.value for event in WebhookEvent)


# ---------------------------------------------------------------- the outbox


def emit(session: Session, event: str, data: dict[str, Any]) -> None:
    """Queue `event` with `data` for every active subscription to it, in the caller's transaction
    (the caller commits). `data` is Masumi's payload (`id`, `blockchainIdentifier`,
    `onChainState`, `NextAction`, …); `PaymentSource.id` in it, when present, limits delivery to
    subscriptions of that payment source or of none."""
    if event not in _KNOWN_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subscribers = _subscribers(session, event, _payment_source_of(data))
    if not subscribers:
        return
    now = clock_now_ms()
    event_id = new_id()
    body = to_jsonable_python(data)
    for subscription in subscribers:
        session.add(
            WebhookDelivery(
                id=new_id(),
                subscription_id=subscription.id,
                event_id=event_id,
                event=event,
                payload=_envelope(event, subscription.id, now, body),
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )


def _subscribers(
    session: Session, event: str, payment_source_id: str | None
) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(
        col(WebhookSubscription.is_active).is_(True),
        col(WebhookSubscription.deleted_at).is_(None),
    )
    return [
        subscription
        for subscription in session.exec(query).all()
        if event in subscription.events
        and (
            payment_source_id is None or subscription.payment_source_id in (None, payment_source_id)
        )
    ]


def _payment_source_of(data: dict[str, Any]) -> str | None:
    source = data.get("PaymentSource")
    if isinstance(source, dict) and isinstance(source.get("id"), str):
        return str(source["id"])
    value = data.get("paymentSourceId")
    return value if isinstance(value, str) else None


def _iso(posix_ms: int) -> str:
    return iso_from_ms(posix_ms).replace("+00:00", "Z")


def _envelope(event: str, subscription_id: str, now: int, data: Any) -> dict[str, Any]:
    """Masumi's EXTENDED body."""
    return {
        "event_type": event,
        "service_name": SERVICE_NAME,
        "timestamp": _iso(now),
        "webhook_id": subscription_id,
        "data": data,
    }


# ---------------------------------------------------------------- rendering and sending


@dataclass(frozen=True)
class Outgoing:
    """One request to make: everything decrypted, nothing left to read from the database."""

    delivery_id: str | None  # None for a test event
    subscription_id: str
    event_id: str
    url: str
    format: WebhookFormat
    auth_token: str | None
    signing_secret: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def render(
    format: WebhookFormat, payload: dict[str, Any], auth_token: str | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one format (before signing)."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if format is WebhookFormat.EXTENDED:
        if auth_token is not None:
            headers["Authorization"] = f"Bearer {auth_token}"
        headers["X-Masumi-Event"] = str(payload.get("event_type", ""))
        headers["X-Masumi-Timestamp"] = str(payload.get("timestamp", ""))
        return _json_bytes(payload), headers
    text = summary(payload)
    if format is WebhookFormat.DISCORD:
        return _json_bytes({"content": text}), headers
    if format is WebhookFormat.GOOGLE_CHAT:
        headers["Content-Type"] = "application/json; charset=UTF-8"
    return _json_bytes({"text": text}), headers


_TITLES = {
    "PAYMENT_ON_CHAIN_STATUS_CHANGED": "Payment status updated",
    "PURCHASE_ON_CHAIN_STATUS_CHANGED": "Purchase status updated",
    "PAYMENT_ON_ERROR": "Payment error",
    "PURCHASE_ON_ERROR": "Purchase error",
    "WALLET_LOW_BALANCE": "Wallet balance low",
    TEST_EVENT: "Test webhook delivery",
}


def _short(value: object, limit: int = 72) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def summary(payload: dict[str, Any]) -> str:
    """The chat text (SLACK, GOOGLE_CHAT, DISCORD): a title and the fields that are present."""
    event = str(payload.get("event_type", ""))
    data = _section(payload, "data")
    action = _section(data, "NextAction")
    source = _section(data, "PaymentSource")
    fields = [
        ("Service", payload.get("service_name")),
        ("Message", data.get("message")),
        ("ID", data.get("id")),
        ("Blockchain ID", data.get("blockchainIdentifier")),
        ("Network", source.get("network") or data.get("network")),
        ("On-chain state", data.get("onChainState")),
        ("Next action", action.get("requestedAction")),
        ("Error type", action.get("errorType")),
        ("Error note", action.get("errorNote")),
        ("Event time", payload.get("timestamp")),
    ]
    lines = [_TITLES.get(event, event)]
    lines += [f"{label}: {_short(value)}" for label, value in fields if value not in (None, "")]
    return "\n".join(lines)[:SUMMARY_LIMIT]


def send(client: httpx.Client, item: Outgoing, now: int) -> SendResult:
    """One signed POST. Any answer but 2xx, and any transport error, is a failure."""
    body, headers = render(item.format, item.payload, item.auth_token)
    headers[SIGNATURE_HEADER] = sign(item.signing_secret, body, now // 1000)
    headers[EVENT_ID_HEADER] = item.event_id
    started = time.monotonic_ns()
    try:
        response = client.post(item.url, content=body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        elapsed = (time.monotonic_ns() - started) // 1_000_000
        return SendResult(False, None, _describe(error), elapsed)
    elapsed = (time.monotonic_ns() - started) // 1_000_000
    ok = 200 <= response.status_code < 300
    problem = None if ok else f"HTTP {response.status_code}"
    return SendResult(ok, response.status_code, problem, elapsed)


def _describe(error: Exception) -> str:
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else type(error).__name__
    return f"{kind}: {error}"[:1000]


def backoff_ms(attempts: int) -> int:
    """The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … capped, plus jitter."""
    delay: int = min(RETRY_BASE_MS * 2 ** max(attempts - 1, 0), RETRY_CAP_MS)
    return delay + secrets.randbelow(delay // JITTER_DIVISOR + 1)


# ---------------------------------------------------------------- the worker


def deliver_due(
    runtime: Runtime,
    now_ms: int | None = None,
    *,
    timeout_s: float = DELIVERY_TIMEOUT_S,
    limit: int = BATCH,
) -> int:
    """The worker step: send the deliveries due at `now_ms` (default: the clock) and record what
    happened. The number of deliveries attempted."""
    now = clock_now_ms() if now_ms is None else now_ms
    outgoing = _claim(runtime.engine, runtime.secrets, now, limit)
    if not outgoing:
        return 0
    with (
        httpx.Client(timeout=timeout_s, follow_redirects=False) as client,
        ThreadPoolExecutor(max_workers=PARALLEL_SENDS) as pool,
    ):
        results = list(pool.map(lambda item: send(client, item, now), outgoing))
    for item, result in zip(outgoing, results, strict=True):
        _record(runtime, item, result, now)
    return len(outgoing)


def _claim(engine: Any, box: SecretBox, now: int, limit: int) -> list[Outgoing]:
    """Due deliveries of active subscriptions, each pushed LEASE_MS ahead so no other worker
    takes it meanwhile. PostgreSQL skips rows another replica has locked; on both databases the
    conditional update lets only one worker win a row."""
    query = (
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription)
        .where(
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            col(WebhookSubscription.is_active).is_(True),
            col(WebhookSubscription.deleted_at).is_(None),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(query).all()
        claimed = [(d, s) for d, s in rows if _take(session, d.id, now)]
        session.commit()
    return [_outgoing(box, delivery, subscription) for delivery, subscription in claimed]


def _take(session: Session, delivery_id: str, now: int) -> bool:
    statement = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .values(next_attempt_at=now + LEASE_MS)
    )
    taken: bool = session.exec(statement).rowcount == 1
    return taken


def _outgoing(
    box: SecretBox, delivery: WebhookDelivery, subscription: WebhookSubscription
) -> Outgoing:
    return Outgoing(
        delivery_id=delivery.id,
        subscription_id=subscription.id,
        event_id=delivery.event_id,
        url=subscription.url,
        format=WebhookFormat(subscription.format),
        auth_token=auth_token_of(box, subscription),
        signing_secret=signing_secret_of(box, subscription),
        payload=delivery.payload,
    )


def _record(runtime: Runtime, item: Outgoing, result: SendResult, now: int) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        delivery = session.get(WebhookDelivery, item.delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        delivery.updated_at = now
        if result.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            _count_success(session, item.subscription_id, now)
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            _count_failure(session, item.subscription_id, now)
        else:
            delivery.next_attempt_at = now + backoff_ms(delivery.attempts)
        session.add(delivery)
        session.commit()
    _log(item, result)


def _log(item: Outgoing, result: SendResult) -> None:
    if result.ok:
        logger.info("webhook %s delivered to %s", item.event_id, item.subscription_id)
    else:
        logger.warning(
            "webhook %s to %s failed: %s", item.event_id, item.subscription_id, result.error
        )


def _count_success(session: Session, subscription_id: str, now: int) -> None:
    statement = (
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(consecutive_failures=0, last_success_at=now)
    )
    session.exec(statement)


def _count_failure(session: Session, subscription_id: str, now: int) -> None:
    """One more failed delivery in a row; the DISABLE_AFTER_FAILURES-th disables the
    subscription and cancels what it still had queued."""
    statement = (
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(consecutive_failures=col(WebhookSubscription.consecutive_failures) + 1)
    )
    session.exec(statement)
    subscription = session.get(WebhookSubscription, subscription_id, populate_existing=True)
    if subscription is None or not subscription.is_active:
        return
    if subscription.consecutive_failures >= DISABLE_AFTER_FAILURES:
        logger.warning("webhook subscription %s disabled after failures", subscription_id)
        _deactivate(session, subscription, now, "subscription disabled after repeated failures")


def _deactivate(session: Session, subscription: WebhookSubscription, now: int, why: str) -> None:
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.updated_at = now
    session.add(subscription)
    statement = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == subscription.id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error=why, updated_at=now)
    )
    session.exec(statement)


# ---------------------------------------------------------------- secrets


def _aad(subscription_id: str, purpose: str) -> bytes:
    return f"webhook_subscription:{subscription_id}:{purpose}".encode()


def _seal(box: SecretBox, subscription_id: str, purpose: str, value: str) -> bytes:
    return box.encrypt(value.encode(), _aad(subscription_id, purpose))


def auth_token_of(box: SecretBox, subscription: WebhookSubscription) -> str | None:
    blob = subscription.encrypted_auth_token
    if blob is None:
        return None
    return box.decrypt(blob, _aad(subscription.id, "auth-token")).decode()


def signing_secret_of(box: SecretBox, subscription: WebhookSubscription) -> str:
    aad = _aad(subscription.id, "signing-secret")
    return box.decrypt(subscription.encrypted_signing_secret, aad).decode()


# ---------------------------------------------------------------- subscriptions


def to_out(subscription: WebhookSubscription, signing_secret: str | None = None) -> WebhookOut:
    def iso(value: int | None) -> str | None:
        return None if value is None else _iso(value)

    creator = subscription.created_by
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        format=WebhookFormat(subscription.format),
        events=[WebhookEvent(event) for event in subscription.events],
        name=subscription.name,
        is_active=subscription.is_active,
        payment_source_id=subscription.payment_source_id,
        has_auth_token=subscription.encrypted_auth_token is not None,
        failure_count=subscription.consecutive_failures,
        last_success_at=iso(subscription.last_success_at),
        disabled_at=iso(subscription.disabled_at),
        created_at=_iso(subscription.created_at),
        updated_at=_iso(subscription.updated_at),
        created_by=None if creator is None else CreatedBy(api_key_id=creator),
        signing_secret=signing_secret,
    )


def create_subscription(
    session: Session, box: SecretBox, caller: Caller, request: WebhookCreate
) -> tuple[WebhookSubscription, str]:
    """A new active subscription and its signing secret (returned this once, stored encrypted).
    The same url and payment source again for the same key → 409 with the existing one."""
    if request.format is WebhookFormat.EXTENDED and request.auth_token is None:
        raise field_error("authToken", "required when format is EXTENDED")
    _refuse_duplicate(session, caller, request.url, request.payment_source_id, None)
    now = clock_now_ms()
    subscription_id = new_id()
    secret = new_signing_secret()
    subscription = WebhookSubscription(
        id=subscription_id,
        name=request.name,
        url=request.url,
        events=_unique(request.events),
        format=request.format,
        payment_source_id=request.payment_source_id,
        encrypted_signing_secret=_seal(box, subscription_id, "signing-secret", secret),
        created_by=caller.key.id,
        created_at=now,
        updated_at=now,
    )
    if request.auth_token is not None:
        subscription.encrypted_auth_token = _seal(
            box, subscription_id, "auth-token", request.auth_token
        )
    session.add(subscription)
    session.commit()
    return subscription, secret


def _unique(events: Sequence[WebhookEvent]) -> list[str]:
    return list(dict.fromkeys(event.value for event in events))


def _refuse_duplicate(
    session: Session, caller: Caller, url: str, source: str | None, except_id: str | None
) -> None:
    query = select(WebhookSubscription).where(
        col(WebhookSubscription.url) == url,
        col(WebhookSubscription.deleted_at).is_(None),
        col(WebhookSubscription.created_by) == caller.key.id,
        col(WebhookSubscription.payment_source_id).is_(None)
        if source is None
        else col(WebhookSubscription.payment_source_id) == source,
    )
    existing = next((row for row in session.exec(query).all() if row.id != except_id), None)
    if existing is not None:
        raise conflict(
            "a webhook for this url and payment source already exists",
            existing.id,
            to_out(existing),
        )


def list_subscriptions(
    session: Session, caller: Caller, limit: int, cursor_id: str | None
) -> list[WebhookSubscription]:
    """Newest first; a key sees the subscriptions it created, an admin key sees all."""
    query = select(WebhookSubscription).where(col(WebhookSubscription.deleted_at).is_(None))
    if not caller.key.can_admin:
        query = query.where(col(WebhookSubscription.created_by) == caller.key.id)
    if cursor_id is not None:
        query = query.where(col(WebhookSubscription.id) < cursor_id)
    query = query.order_by(col(WebhookSubscription.id).desc()).limit(limit)
    return list(session.exec(query).all())


def owned(session: Session, caller: Caller, subscription_id: str) -> WebhookSubscription:
    """The live subscription, if this key created it or is an admin key."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.deleted_at is not None:
        raise not_found("webhook")
    if not caller.key.can_admin and subscription.created_by != caller.key.id:
        raise ApiError(
            403, "only the key that created this webhook or an admin key may", code="forbidden"
        )
    return subscription


def update_subscription(
    session: Session, box: SecretBox, caller: Caller, request: WebhookUpdate
) -> WebhookSubscription:
    subscription = owned(session, caller, request.id)
    now = clock_now_ms()
    _apply_fields(session, box, caller, subscription, request)
    if request.is_active is True and not subscription.is_active:
        subscription.is_active = True
        subscription.consecutive_failures = 0
        subscription.disabled_at = None
    elif request.is_active is False and subscription.is_active:
        _deactivate(session, subscription, now, "subscription disabled by its owner")
    subscription.updated_at = now
    session.add(subscription)
    session.commit()
    return subscription


def _apply_fields(
    session: Session,
    box: SecretBox,
    caller: Caller,
    subscription: WebhookSubscription,
    request: WebhookUpdate,
) -> None:
    format = request.format or WebhookFormat(subscription.format)
    has_token = request.auth_token is not None or subscription.encrypted_auth_token is not None
    if format is WebhookFormat.EXTENDED and not has_token:
        raise field_error("authToken", "required when format is EXTENDED")
    if request.url is not None and request.url != subscription.url:
        _refuse_duplicate(
            session, caller, request.url, subscription.payment_source_id, subscription.id
        )
        subscription.url = request.url
    if request.events is not None:
        subscription.events = _unique(request.events)
    if request.name is not None:
        subscription.name = request.name
    if request.auth_token is not None:
        sealed = _seal(box, subscription.id, "auth-token", request.auth_token)
        subscription.encrypted_auth_token = sealed
    subscription.format = format


def delete_subscription(session: Session, caller: Caller, ref: WebhookRef) -> WebhookDeleted:
    """Soft delete (kept with its deliveries for the record); queued deliveries are cancelled."""
    subscription = owned(session, caller, ref.id)
    now = clock_now_ms()
    _deactivate(session, subscription, now, "subscription deleted")
    subscription.deleted_at = now
    session.add(subscription)
    session.commit()
    return WebhookDeleted(
        id=subscription.id, url=subscription.url, name=subscription.name, deleted_at=_iso(now)
    )


def send_test(
    session: Session,
    box: SecretBox,
    caller: Caller,
    ref: WebhookRef,
    *,
    timeout_s: float = DELIVERY_TIMEOUT_S,
) -> WebhookTestResult:
    """Send a WEBHOOK_TEST event now (also to a disabled subscription) and report the answer.
    A 2xx clears the failure count, as any delivered event does; a failure counts nothing."""
    subscription = owned(session, caller, ref.id)
    now = clock_now_ms()
    data = {
        "message": "This is a test webhook delivery from paynode.",
        "webhookName": subscription.name,
        "webhookFormat": subscription.format,
        "paymentSourceId": subscription.payment_source_id,
        "triggeredByApiKeyId": caller.key.id,
    }
    item = Outgoing(
        delivery_id=None,
        subscription_id=subscription.id,
        event_id=new_id(),
        url=subscription.url,
        format=WebhookFormat(subscription.format),
        auth_token=auth_token_of(box, subscription),
        signing_secret=signing_secret_of(box, subscription),
        payload=_envelope(TEST_EVENT, subscription.id, now, data),
    )
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        result = send(client, item, now)
    if result.ok:
        _count_success(session, subscription.id, now)
        session.commit()
    return WebhookTestResult(
        webhook_id=subscription.id,
        success=result.ok,
        response_code=result.status_code,
        error_message=result.error,
        duration_ms=result.duration_ms,
    )
