"""A fault-injecting reverse proxy in front of the devnet's Blockfrost API (issue #10).

A small ASGI app, served by uvicorn on a free port in a thread, forwards every request with httpx
to the upstream (the devnet's root URL): method, path, query and body intact, the answer's status,
headers and body back. Faults are rules the test sets at run time; the first active rule that
matches a request (method, path fragment) and wins its seeded draw (`share`) decides its fate:

- `storm(...)`: answered 429 with Retry-After, not forwarded
- `errors(status, ...)`: answered 500/502/503/504, not forwarded
- `timeouts(hold_s, ...)`: held `hold_s` (set it beyond the client's timeout), not forwarded; the
  client has given up by then (a late 504 goes to a closed connection)
- `slow(delay_s, ...)`: a delay, then forwarded and the real answer
- `lose_submit_answer(mode, ...)`: POST /tx/submit forwarded (the transaction reaches the chain),
  then the answer is lost: 504, or with mode="drop" held `hold_s` like a timeout

A rule lasts for `count` faults, for `duration_s` seconds, or until `clear()`. Draws come from one
`random.Random(seed)`, so for a given order of requests the faulted ones are the same every run.
`stats()` counts requests, forwards and the faults served by kind; `submitted` lists the tx hashes
the upstream accepted through the proxy (including those whose answer was lost).
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FaultKind = Literal["429", "5xx", "timeout", "slow", "lost_answer"]
HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
    }
)
SUBMIT_PATH = "/tx/submit"


@dataclass
class Rule:
    """One fault: what it does, to which requests, how often and for how long."""

    kind: FaultKind
    status: int = 0  # 429 or 5xx answered (also the lost answer's status)
    retry_after_s: int | None = None
    delay_s: float = 0.0  # slow: before forwarding; timeout / dropped answer: the hold
    share: float = 1.0  # the fraction of matching requests faulted (seeded draw)
    count: int | None = None  # faults to serve, then the rule ends
    until: float | None = None  # time.monotonic() after which the rule ends
    method: str | None = None
    path: str | None = None  # a fragment of the path (after the upstream's root)
    served: int = 0

    def active(self, now: float) -> bool:
        if self.count is not None and self.served >= self.count:
            return False
        return self.until is None or now < self.until

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path in path


@dataclass
class Stats:
    requests: int = 0
    forwarded: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)  # "GET /api/v0/blocks/latest"


class FaultProxy:
    """Start with `with FaultProxy(upstream) as proxy:`; point clients at `proxy.url` + the same
    paths they would use upstream (the Blockfrost API is `proxy.url + "/api"`)."""

    def __init__(self, upstream: str, seed: int = 10, upstream_timeout_s: float = 60.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self._random = random.Random(seed)
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stats = Stats()
        self.submitted: list[str] = []
        self._upstream_timeout_s = upstream_timeout_s
        self._client: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- the faults, set by the test ---

    def add(self, rule: Rule, duration_s: float | None = None) -> Rule:
        if duration_s is not None:
            rule.until = time.monotonic() + duration_s
        with self._lock:
            self._rules.append(rule)
        return rule

    def storm(
        self,
        *,
        share: float = 1.0,
        count: int | None = None,
        duration_s: float | None = None,
        retry_after_s: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Rule:
        rule = Rule("429", 429, retry_after_s, 0.0, share, count, None, method, path)
        return self.add(rule, duration_s)

    def errors(
        self,
        status: int = 503,
        *,
        share: float = 1.0,
        count: int | None = None,
        duration_s: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Rule:
        if status not in (500, 502, 503, 504):
            raise ValueError(f"5xx faults are 500, 502, 503 or 504, not {status}")
        rule = Rule("5xx", status, None, 0.0, share, count, None, method, path)
        return self.add(rule, duration_s)

    def timeouts(
        self,
        hold_s: float,
        *,
        share: float = 1.0,
        count: int | None = None,
        duration_s: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Rule:
        rule = Rule("timeout", 504, None, hold_s, share, count, None, method, path)
        return self.add(rule, duration_s)

    def slow(
        self,
        delay_s: float,
        *,
        share: float = 1.0,
        count: int | None = None,
        duration_s: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Rule:
        rule = Rule("slow", 0, None, delay_s, share, count, None, method, path)
        return self.add(rule, duration_s)

    def lose_submit_answer(
        self,
        mode: Literal["504", "drop"] = "504",
        *,
        count: int | None = 1,
        hold_s: float = 0.0,
        share: float = 1.0,
        duration_s: float | None = None,
    ) -> Rule:
        """POST /tx/submit reaches the chain, its answer does not reach the client."""
        delay = hold_s if mode == "drop" else 0.0
        rule = Rule("lost_answer", 504, None, delay, share, count, None, "POST", SUBMIT_PATH)
        return self.add(rule, duration_s)

    def reseed(self, seed: int) -> None:
        """Start the draws again from `seed` (the same requests then get the same faults)."""
        with self._lock:
            self._random.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                self._stats.requests,
                self._stats.forwarded,
                Counter(self._stats.faults),
                Counter(self._stats.by_path),
            )

    def _decide(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self._stats.requests += 1
            self._stats.by_path[f"{method} {path}"] += 1
            now = time.monotonic()
            for rule in self._rules:
                if not rule.active(now) or not rule.matches(method, path):
                    continue
                if rule.share < 1.0 and self._random.random() >= rule.share:
                    continue
                rule.served += 1
                self._stats.faults[rule.kind] += 1
                return rule
            return None

    # --- the ASGI app ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        body = await _read_body(receive)
        rule = self._decide(method, path)
        if rule is None or rule.kind == "slow":
            if rule is not None:
                await asyncio.sleep(rule.delay_s)
            status, headers, content = await self._forward(scope, method, path, body)
            await _answer(send, status, headers, content)
            return
        if rule.kind == "lost_answer":
            status, _headers, content = await self._forward(scope, method, path, body)
            if rule.delay_s:
                await asyncio.sleep(rule.delay_s)
            await _answer(send, 504, [], b'{"status_code":504,"error":"Gateway Timeout"}')
            return
        if rule.kind == "timeout":
            await asyncio.sleep(rule.delay_s)
            await _answer(send, 504, [], b"")
            return
        headers = []
        if rule.retry_after_s is not None:
            headers.append((b"retry-after", str(rule.retry_after_s).encode()))
        message = b'{"status_code":%d,"error":"injected by the fault proxy"}' % rule.status
        await _answer(send, rule.status, headers, message)

    async def _forward(
        self, scope: Scope, method: str, path: str, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._upstream_timeout_s)
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + path + (f"?{query}" if query else "")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_HEADERS
        ]
        response = await self._client.request(method, url, headers=headers, content=body)
        with self._lock:
            self._stats.forwarded += 1
            if method == "POST" and path.endswith(SUBMIT_PATH) and response.status_code == 200:
                self.submitted.append(str(response.json()))
        out = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.items()
            if k.lower() not in HOP_HEADERS
        ]
        return response.status_code, out, response.content

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- serving ---

    def start(self) -> FaultProxy:
        port = _free_port()
        config = uvicorn.Config(
            self, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="fault-proxy")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fault proxy did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if not any(k.lower() == b"content-type" for k, _ in headers):
        headers = [*headers, (b"content-type", b"application/json")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    except OSError:  # the client went away while held: nothing to answer
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
