"""A real HTTP receiver on a free port that records what it is sent and answers as told, and a
node runtime (no chain: deliveries need only the database and the secret box)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from node.auth.models import ApiKey
from node.auth.service import Caller, authenticate
from node.crypto import SecretBox
from node.runtime import Runtime
from node.webhooks import service
from node.webhooks.models import WebhookSubscription
from node.webhooks.schemas import WebhookCreate
from tests.conftest import make_key, settings_for


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each request with the next of `replies` (then `default`), after `delay_s`."""

    url: str
    requests: list[Received] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.replies.clear()
            self.default = 200
            self.delay_s = 0.0

    def answer(self, received: Received) -> tuple[int, float]:
        with self.lock:
            self.requests.append(received)
            status = self.replies.pop(0) if self.replies else self.default
            return status, self.delay_s


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, delay = receiver.answer(received)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up (timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def runtime(database_url: str, engine: Engine, secret_box: SecretBox, tmp_path: Path) -> Runtime:
    settings = settings_for(database_url, tmp_path)
    return Runtime(settings=settings, profile=settings.profile(), engine=engine, secrets=secret_box)


def caller_for(session: Session, box: SecretBox, **flags: object) -> Caller:
    token = make_key(session, box, **(flags or {"canPay": True}))
    caller = authenticate(session, box, token)
    assert caller is not None and isinstance(caller.key, ApiKey)
    return caller


@pytest.fixture
def caller(session: Session, secret_box: SecretBox) -> Caller:
    return caller_for(session, secret_box)


def subscribe(
    session: Session, box: SecretBox, caller: Caller, url: str, **fields: Any
) -> tuple[WebhookSubscription, str]:
    """A subscription to every event (unless `Events` is given), EXTENDED with a token."""
    body: dict[str, Any] = {
        "url": url,
        "Events": [
            "PAYMENT_ON_CHAIN_STATUS_CHANGED",
            "PURCHASE_ON_CHAIN_STATUS_CHANGED",
            "PAYMENT_ON_ERROR",
            "PURCHASE_ON_ERROR",
        ],
        "authToken": "receiver-token-0123",
    }
    body.update(fields)
    return service.create_subscription(session, box, caller, WebhookCreate.model_validate(body))
