"""emit → outbox → the worker sends, signed, to a real HTTP receiver; retries, disabling, and two
workers sharing the outbox. The worker's clock is driven through its `now_ms` parameter."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, col, select

from node.auth.service import Caller
from node.crypto import SecretBox
from node.runtime import Runtime
from node.webhooks import service
from node.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from node.webhooks.service import deliver_due, emit, verify_signature
from node.webhooks.signing import sign
from node.workers import STEPS, Scheduler
from tests.node.webhooks.conftest import Receiver, subscribe

PAYMENT_DATA: dict[str, Any] = {
    "id": "payment-1",
    "blockchainIdentifier": "b" * 300,
    "onChainState": "FundsLocked",
    "NextAction": {"requestedAction": "WaitingForExternalAction", "errorType": None},
    "PaymentSource": {"id": "source-1", "network": "Devnet"},
    "RequestedFunds": [{"unit": "", "amount": "5000000"}],
}


def deliveries(session: Session) -> list[WebhookDelivery]:
    session.expire_all()
    query = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))
    return list(session.exec(query).all())


def the_delivery(session: Session) -> WebhookDelivery:
    rows = deliveries(session)
    assert len(rows) == 1
    return rows[0]


def fresh(session: Session, subscription: WebhookSubscription) -> WebhookSubscription:
    session.expire_all()
    row = session.get(WebhookSubscription, subscription.id)
    assert row is not None
    return row


def emit_committed(session: Session, event: str = "PAYMENT_ON_CHAIN_STATUS_CHANGED") -> None:
    emit(session, event, PAYMENT_DATA)
    session.commit()


def test_emit_writes_in_the_callers_transaction_only(
    session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscribe(session, secret_box, caller, receiver.url)
    emit(session, "PAYMENT_ON_CHAIN_STATUS_CHANGED", PAYMENT_DATA)
    session.rollback()
    assert deliveries(session) == []
    emit_committed(session)
    assert the_delivery(session).status == DeliveryStatus.PENDING


def test_emit_matches_events_activity_and_payment_source(
    session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    url = receiver.url
    errors_only, _ = subscribe(session, secret_box, caller, url + "?1", Events=["PAYMENT_ON_ERROR"])
    everything, _ = subscribe(session, secret_box, caller, url + "?2")
    same_source, _ = subscribe(session, secret_box, caller, url + "?3", paymentSourceId="source-1")
    other_source, _ = subscribe(session, secret_box, caller, url + "?4", paymentSourceId="source-2")
    inactive, _ = subscribe(session, secret_box, caller, url + "?5")
    inactive.is_active = False
    session.add(inactive)
    session.commit()
    emit_committed(session)
    rows = deliveries(session)
    assert {row.subscription_id for row in rows} == {everything.id, same_source.id}
    assert len({row.event_id for row in rows}) == 1  # one event, one id for every receiver
    with pytest.raises(ValueError, match="unknown webhook event"):
        emit(session, "NOT_AN_EVENT", {})
    assert errors_only.id and other_source.id


def test_extended_delivery_is_signed_with_bearer_token_and_masumi_body(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscription, secret = subscribe(session, secret_box, caller, receiver.url)
    emit_committed(session)
    now = the_delivery(session).next_attempt_at
    assert deliver_due(runtime, now) == 1
    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer receiver-token-0123"
    assert request.headers["content-type"] == "application/json"
    signature = request.headers["paynode-signature"]
    assert signature.startswith(f"t={now // 1000},v1=")
    assert verify_signature(secret, signature, request.body, 300, now_s=now // 1000)
    assert not verify_signature(secret, signature, request.body + b" ", 300, now_s=now // 1000)
    assert not verify_signature("whsec_other", signature, request.body, 300, now_s=now // 1000)
    assert not verify_signature(secret, signature, request.body, 300, now_s=now // 1000 + 301)
    body = request.json()
    assert set(body) == {"event_type", "service_name", "timestamp", "webhook_id", "data"}
    assert body["event_type"] == "PAYMENT_ON_CHAIN_STATUS_CHANGED"
    assert body["webhook_id"] == subscription.id
    assert body["data"] == PAYMENT_DATA
    assert body["timestamp"].endswith("Z")
    delivery = the_delivery(session)
    assert request.headers["paynode-event-id"] == delivery.event_id
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert deliver_due(runtime, now + 3_600_000) == 0  # delivered once, never again
    assert fresh(session, subscription).last_success_at == now


@pytest.mark.parametrize(
    ("format", "key", "content_type"),
    [
        ("SLACK", "text", "application/json"),
        ("GOOGLE_CHAT", "text", "application/json; charset=UTF-8"),
        ("DISCORD", "content", "application/json"),
    ],
)
def test_chat_formats_send_a_text_summary(
    runtime: Runtime,
    session: Session,
    secret_box: SecretBox,
    caller: Caller,
    receiver: Receiver,
    format: str,
    key: str,
    content_type: str,
) -> None:
    _subscription, secret = subscribe(
        session, secret_box, caller, receiver.url, format=format, authToken=None
    )
    emit_committed(session, "PAYMENT_ON_ERROR")
    now = the_delivery(session).next_attempt_at
    assert deliver_due(runtime, now) == 1
    [request] = receiver.requests
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == content_type
    assert verify_signature(secret, request.headers["paynode-signature"], request.body, 0)
    body = request.json()
    assert list(body) == [key]
    text = body[key]
    assert text.splitlines()[0] == "Payment error"
    assert "ID: payment-1" in text and "On-chain state: FundsLocked" in text
    assert "Network: Devnet" in text and "Service: paynode" in text
    assert len(text) < 2000 and "b" * 100 not in text  # the long identifier is shortened


def test_failures_retry_with_growing_delays_and_a_success_resets(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscription, _ = subscribe(session, secret_box, caller, receiver.url)
    subscription.consecutive_failures = 3
    session.add(subscription)
    session.commit()
    receiver.replies.extend([500, 503, 404])
    emit_committed(session)
    now = the_delivery(session).next_attempt_at
    waits = []
    for _ in range(3):
        assert deliver_due(runtime, now) == 1
        delivery = the_delivery(session)
        waits.append(delivery.next_attempt_at - now)
        assert deliver_due(runtime, delivery.next_attempt_at - 1) == 0  # not before it is due
        now = delivery.next_attempt_at
    assert [1000 <= waits[0] <= 1200, 2000 <= waits[1] <= 2400, 4000 <= waits[2] <= 4800] == [
        True
    ] * 3
    assert delivery.last_status_code == 404 and delivery.last_error == "HTTP 404"
    assert deliver_due(runtime, now) == 1
    delivery = the_delivery(session)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 4
    assert len(receiver.requests) == 4
    assert len({request.headers["paynode-event-id"] for request in receiver.requests}) == 1
    assert fresh(session, subscription).consecutive_failures == 0


def test_a_receiver_that_times_out_is_retried(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscribe(session, secret_box, caller, receiver.url)
    emit_committed(session)
    receiver.delay_s = 1.0
    now = the_delivery(session).next_attempt_at
    assert deliver_due(runtime, now, timeout_s=0.2) == 1
    delivery = the_delivery(session)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_error is not None and delivery.last_error.startswith("timeout")
    assert delivery.last_status_code is None
    receiver.delay_s = 0.0
    assert deliver_due(runtime, delivery.next_attempt_at) == 1
    assert the_delivery(session).status == DeliveryStatus.DELIVERED


def fail_one_delivery(runtime: Runtime, session: Session, now: int) -> int:
    """Drive the newest Pending delivery through all its attempts; the clock afterwards."""
    for _ in range(service.MAX_ATTEMPTS):
        rows = [row for row in deliveries(session) if row.status == DeliveryStatus.PENDING]
        now = max(now, rows[-1].next_attempt_at)
        assert deliver_due(runtime, now) == 1
    return now


def test_a_delivery_fails_after_max_attempts_and_counts_one_failure(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscription, _ = subscribe(session, secret_box, caller, receiver.url)
    receiver.default = 500
    emit_committed(session)
    now = fail_one_delivery(runtime, session, 0)
    delivery = the_delivery(session)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == service.MAX_ATTEMPTS == len(receiver.requests)
    assert deliver_due(runtime, now + 86_400_000) == 0
    assert fresh(session, subscription).consecutive_failures == 1
    assert fresh(session, subscription).is_active


def test_ten_failed_deliveries_in_a_row_disable_the_subscription(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscription, _ = subscribe(session, secret_box, caller, receiver.url)
    receiver.default = 500
    now = 0
    for _ in range(service.DISABLE_AFTER_FAILURES - 1):
        emit_committed(session)
        now = fail_one_delivery(runtime, session, now)
    assert fresh(session, subscription).is_active
    emit_committed(session)  # the tenth, and one more queued behind it
    emit_committed(session, "PURCHASE_ON_ERROR")
    for _ in range(service.MAX_ATTEMPTS):
        pending = [row for row in deliveries(session) if row.status == DeliveryStatus.PENDING]
        now = max([now, *[row.next_attempt_at for row in pending]])
        deliver_due(runtime, now)
    row = fresh(session, subscription)
    assert not row.is_active and row.disabled_at is not None
    assert row.consecutive_failures >= service.DISABLE_AFTER_FAILURES
    statuses = Counter(delivery.status for delivery in deliveries(session))
    assert statuses[DeliveryStatus.PENDING] == 0
    assert statuses[DeliveryStatus.FAILED] >= service.DISABLE_AFTER_FAILURES
    sent = len(receiver.requests)
    emit_committed(session)
    assert deliver_due(runtime, now + 86_400_000) == 0
    assert len(receiver.requests) == sent
    assert len(deliveries(session)) == sum(statuses.values())  # a disabled one gets nothing


def test_two_workers_at_once_deliver_each_event_once(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    subscribe(session, secret_box, caller, receiver.url + "?a")
    subscribe(session, secret_box, caller, receiver.url + "?b")
    for _ in range(15):
        emit(session, "PURCHASE_ON_CHAIN_STATUS_CHANGED", PAYMENT_DATA)
    session.commit()
    receiver.delay_s = 0.02
    now = max(row.next_attempt_at for row in deliveries(session))
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        moved = 1
        while moved:
            moved = deliver_due(runtime, now, limit=4)
            counts.append(moved)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    seen = Counter(
        (request.path, request.headers["paynode-event-id"]) for request in receiver.requests
    )
    assert len(seen) == 30 and set(seen.values()) == {1}
    assert sum(counts) == 30
    assert {row.status for row in deliveries(session)} == {DeliveryStatus.DELIVERED}


def test_verify_signature_refuses_malformed_headers() -> None:
    body = b'{"a":1}'
    header = sign("whsec_x", body, 1_700_000_000)
    assert verify_signature("whsec_x", header, body, 60, now_s=1_700_000_030)
    assert verify_signature("whsec_x", f"{header},v1=00", body.decode(), 60, now_s=1_700_000_000)
    for bad in (None, "", "t=1700000000", "v1=abc", "t=abc,v1=00", header.replace("v1", "v0")):
        assert not verify_signature("whsec_x", bad, body, 60, now_s=1_700_000_000)


def test_the_delivery_step_runs_in_the_scheduler(
    runtime: Runtime, session: Session, secret_box: SecretBox, caller: Caller, receiver: Receiver
) -> None:
    [step] = [step for step in STEPS if step.name == "webhooks.deliver"]
    subscribe(session, secret_box, caller, receiver.url)
    emit_committed(session)
    assert Scheduler(runtime, [step], interval_ms=1000).run_once() == {"webhooks.deliver": 1}
    assert the_delivery(session).status == DeliveryStatus.DELIVERED
