"""The HTTP side of `Idempotency-Key`: an ASGI middleware around every POST.

A POST with the header and a valid API key (`token`) is answered once: the first response
(status and body) is stored under (API key, Idempotency-Key); a retry with the same method, path
and body gets it again with `Idempotent-Replayed: true`; the same key with another request is a
422 naming the header; a duplicate while the first is still running is a 409. 5xx answers and
auth refusals are not stored. Without the header, or without a valid key, the POST runs as usual
(the route then answers 401 or 429 itself).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.auth import service as auth_service
from node.auth.throttle import AuthThrottle
from node.idempotency import service
from node.runtime import Runtime
from node.web import ApiError, error_response

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

HEADER_DESCRIPTION = (
    "Makes a retried POST safe: the first response to this key (from this API key) is stored "
    "for 24 h and replayed, with the header `Idempotent-Replayed: true`, to a retry with the "
    "same path and body. The same key with another request: 422; while the first is still "
    "running: 409. 5xx answers are not stored. 1 to 255 printable ASCII characters."
)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        runtime = getattr(scope["app"].state, "runtime", None)
        if key is None or not isinstance(runtime, Runtime):
            await self.app(scope, receive, send)
            return
        api_key_id = await self._api_key_id(scope, runtime, headers.get("token"))
        if api_key_id is None:  # the route answers 401 or 429 itself, nothing to keep
            await self.app(scope, receive, send)
            return
        if not service.valid_key(key):
            message = f"{HEADER}: must be 1 to {service.MAX_KEY_CHARS} printable ASCII characters"
            error = ApiError(422, message, code="invalid_idempotency_key", fields=[HEADER])
            await error_response(error)(scope, receive, send)
            return
        body = await _read_body(receive)
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        fingerprint = service.fingerprint("POST", path, query, body)
        outcome = await run_in_threadpool(
            service.claim, runtime.engine, api_key_id, key, "POST", path, fingerprint
        )
        if isinstance(outcome, service.Claimed):
            await self._run(scope, receive, send, runtime, outcome.row_id, body)
        elif isinstance(outcome, service.Replay):
            await _replay(outcome)(scope, receive, send)
        elif isinstance(outcome, service.Mismatch):
            error = ApiError(
                422,
                f"{HEADER}: this key was already used with another request (method, path or "
                "body) in the last 24 h; use a new key for a new request",
                code="idempotency_key_reused",
                fields=[HEADER],
            )
            await error_response(error)(scope, receive, send)
        else:
            error = ApiError(
                409,
                f"{HEADER}: the first request with this key is still running; retry later",
                code="idempotency_key_in_use",
                fields=[HEADER],
                headers={"Retry-After": "1"},
            )
            await error_response(error)(scope, receive, send)

    async def _api_key_id(self, scope: Scope, runtime: Runtime, token: str | None) -> str | None:
        """The id of the active key `token` names; None for none, or when the client address
        is throttled (then its token is not checked here either)."""
        if not token:
            return None
        throttle = getattr(scope["app"].state, "auth_throttle", None)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if isinstance(throttle, AuthThrottle) and throttle.retry_after_s(address) is not None:
            return None

        def lookup() -> str | None:
            with Session(runtime.engine) as session:
                caller = auth_service.authenticate(session, runtime.secrets, token)
                return caller.key.id if caller is not None else None

        return await run_in_threadpool(lookup)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, runtime: Runtime, row_id: int, body: bytes
    ) -> None:
        """Run the request on the body already read; keep its response unless it is not to be."""
        delivered = False

        async def receive_again() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # the body is read: only a disconnect can come now

        # The answer is held back until it is stored (or dropped): a client retrying the moment
        # it has the answer must find it replayable, not still in flight.
        held: list[Message] = []
        kept = False

        async def keep(message: Message) -> None:
            nonlocal kept
            held.append(message)
            if message["type"] != "http.response.body" or message.get("more_body", False):
                return
            await self._keep(runtime, row_id, held)
            kept = True
            for early in held:
                await send(early)
            held.clear()

        try:
            await self.app(scope, receive_again, keep)
        except BaseException:
            if not kept:
                await run_in_threadpool(service.release, runtime.engine, row_id)
            raise
        if not kept:  # the app answered nothing (cannot happen with FastAPI): keep nothing
            await run_in_threadpool(service.release, runtime.engine, row_id)

    async def _keep(self, runtime: Runtime, row_id: int, held: list[Message]) -> None:
        start = next(message for message in held if message["type"] == "http.response.start")
        status = int(start["status"])
        if not service.storable(status):
            await run_in_threadpool(service.release, runtime.engine, row_id)
            return
        content_type = Headers(raw=start.get("headers", [])).get("content-type")
        body = b"".join(
            bytes(message.get("body", b""))
            for message in held
            if message["type"] == "http.response.body"
        )
        await run_in_threadpool(
            service.complete, runtime.engine, row_id, status, content_type, body
        )


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(stored: service.Replay) -> Response:
    headers: dict[str, Any] = {REPLAYED_HEADER: "true"}
    return Response(
        content=stored.body,
        status_code=stored.status,
        headers=headers,
        media_type=stored.content_type,
    )
