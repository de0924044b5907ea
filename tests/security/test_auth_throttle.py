"""Repeated failed API key checks from one address are slowed down (issue #10, ADR 0016).

Over real HTTP: a node served by uvicorn; the clients speak from distinct loopback addresses
(127.0.0.x), so the node sees distinct peers as it would on a network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from node.auth.throttle import AuthThrottle
from node.config import load_settings
from node.crypto import SecretBox
from node.runtime import Runtime
from tests.conftest import LiveNode, make_key, serve, settings_for

LIMIT = 3
WINDOW_S = 2
STATUS = "/api/v1/api-key-status"


@pytest.fixture
def throttled(engine: Engine, secret_box: SecretBox, tmp_path: Path) -> Iterator[LiveNode]:
    """A node that allows 3 failed checks per address in 2 s."""
    settings = settings_for(
        str(engine.url.render_as_string(hide_password=False)),
        tmp_path,
        auth_failure_limit=LIMIT,
        auth_failure_window_s=WINDOW_S,
    )
    runtime = Runtime(
        settings=settings, profile=settings.profile(), engine=engine, secrets=secret_box
    )
    with serve(runtime) as live:
        yield live


def client_from(node: LiveNode, address: str, token: str | None) -> httpx.Client:
    headers = {"token": token} if token is not None else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=node.url, headers=headers, transport=transport, timeout=30)


def status_of(node: LiveNode, address: str, token: str | None) -> httpx.Response:
    with client_from(node, address, token) as client:
        return client.get(STATUS)


def wrong_token(n: int) -> str:
    return f"paynode_guess_{n:040d}"


def test_failed_checks_from_one_address_answer_429_until_the_window_passes(
    throttled: LiveNode, session: Session, secret_box: SecretBox
) -> None:
    valid = make_key(session, secret_box, permission="Read")
    started = time.monotonic()
    for n in range(LIMIT):
        answer = status_of(throttled, "127.0.0.2", wrong_token(n))
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthorized"

    # the address is now refused, whatever it sends: a valid key is not even checked
    for token in (wrong_token(99), valid, None):
        refused = status_of(throttled, "127.0.0.2", token)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_failed_auth"
        assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_S
    # a guarded route of another domain is refused the same way
    with client_from(throttled, "127.0.0.2", valid) as client:
        assert client.get("/api/v1/payment").status_code == 429
        # the public routes check no key and stay open
        assert client.get("/api/v1/health").status_code == 200

    # other addresses are unaffected: valid keys work, their own failures count separately
    assert status_of(throttled, "127.0.0.3", valid).status_code == 200
    assert status_of(throttled, "127.0.0.3", wrong_token(1)).status_code == 401

    # once the window has passed since the failures, the address may try again
    time.sleep(max(0.0, started + WINDOW_S + 0.2 - time.monotonic()))
    again = status_of(throttled, "127.0.0.2", valid)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["permission"] == "Read"


def test_a_success_resets_no_counter(
    throttled: LiveNode, session: Session, secret_box: SecretBox
) -> None:
    valid = make_key(session, secret_box, permission="Read")
    for n in range(LIMIT - 1):
        assert status_of(throttled, "127.0.0.4", wrong_token(n)).status_code == 401
    # successes, from the same address and from another, between the failures
    assert status_of(throttled, "127.0.0.4", valid).status_code == 200
    assert status_of(throttled, "127.0.0.5", valid).status_code == 200
    assert status_of(throttled, "127.0.0.4", wrong_token(7)).status_code == 401
    assert status_of(throttled, "127.0.0.4", valid).status_code == 429
    assert status_of(throttled, "127.0.0.5", valid).status_code == 200


def test_requests_without_a_token_guess_nothing_and_are_not_counted(
    throttled: LiveNode, session: Session, secret_box: SecretBox
) -> None:
    valid = make_key(session, secret_box, permission="Read")
    for _ in range(LIMIT * 3):
        assert status_of(throttled, "127.0.0.6", None).status_code == 401
    assert status_of(throttled, "127.0.0.6", valid).status_code == 200


def test_the_default_node_allows_ten_failures_a_minute(node: LiveNode) -> None:
    """The suite's shared node runs with the defaults: the 11th failure in a minute is a 429."""
    codes = [status_of(node, "127.0.0.7", wrong_token(n)).status_code for n in range(11)]
    assert codes == [401] * 10 + [429]
    retry = int(status_of(node, "127.0.0.7", None).headers["Retry-After"])
    assert 50 <= retry <= 60


def test_settings_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [name for name in os.environ if name.startswith("PAYNODE_")]:
        monkeypatch.delenv(variable)
    defaults = load_settings()
    assert (defaults.auth_failure_limit, defaults.auth_failure_window_s) == (10, 60)
    monkeypatch.setenv("PAYNODE_AUTH_FAILURE_LIMIT", "0")
    monkeypatch.setenv("PAYNODE_AUTH_FAILURE_WINDOW_S", "300")
    changed = load_settings()
    assert (changed.auth_failure_limit, changed.auth_failure_window_s) == (0, 300)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_one_failure_at_a_time() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(limit=3, window_s=60, clock=clock)
    for step in range(3):
        assert throttle.retry_after_s("a") is None
        throttle.failed("a")
        clock.now += 10 if step < 2 else 0
    assert throttle.retry_after_s("a") == 40  # the first failure leaves the window at +60
    clock.now += 39.5
    assert throttle.retry_after_s("a") == 1
    clock.now += 0.5
    assert throttle.retry_after_s("a") is None  # one more try is allowed, not three
    throttle.failed("a")
    assert throttle.retry_after_s("a") == 10


def test_a_disabled_throttle_never_refuses() -> None:
    throttle = AuthThrottle(limit=0, window_s=60)
    for _ in range(100):
        throttle.failed("a")
    assert throttle.retry_after_s("a") is None


def test_a_flood_of_addresses_keeps_memory_bounded() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(limit=2, window_s=60, clock=clock, max_addresses=100)
    for _ in range(2):
        throttle.failed("attacker")
    for n in range(1000):
        clock.now += 0.001
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    tracked = throttle._failures
    assert len(tracked) <= 100
    # the least recently failing addresses were dropped first, the latest kept
    assert "attacker" not in tracked and "10.0.0.0" not in tracked
    assert "10.0.3.231" in tracked
