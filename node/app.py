"""The FastAPI application: /health, every domain's router under /api/v1 (and seed 002's
/api/agents at the root), and the background workers while it serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from node import __version__, health, metrics, workers
from node.agents import api as agents_api
from node.auth import api as auth_api
from node.auth.throttle import AuthThrottle
from node.billing import api as billing_api
from node.idempotency.api import HEADER as IDEMPOTENCY_HEADER
from node.idempotency.api import HEADER_DESCRIPTION as IDEMPOTENCY_DESCRIPTION
from node.idempotency.api import IdempotencyMiddleware
from node.payments import api as payments_api
from node.pricing import api as pricing_api
from node.purchases import api as purchases_api
from node.runtime import Runtime
from node.wallets import api as wallets_api
from node.web import ERROR_RESPONSES, install_error_handlers
from node.webhooks import api as webhooks_api

API_PREFIX = "/api/v1"

DESCRIPTION = """A Masumi-compatible payment node for AI agents on Cardano.

Authenticate with the header `token: <api key>`. Answers are `{"status": "success", "data": ...}`
or `{"status": "error", "error": {"message", "code"}}`. Amounts are integers in the smallest unit,
as decimal strings; times are POSIX milliseconds.

A POST may carry `Idempotency-Key` (up to 255 characters): a retry with the same key, path and
body gets the first response again (header `Idempotent-Replayed: true`) instead of running twice.
After repeated failed API key checks an address is answered 429 with `Retry-After` for a while.
"""


# Every domain's router, mounted under API_PREFIX (health also at the root).
DOMAIN_ROUTERS: list[APIRouter] = [
    health.router,
    auth_api.router,
    wallets_api.router,
    pricing_api.router,
    agents_api.router,
    billing_api.router,
    payments_api.router,
    purchases_api.router,
    webhooks_api.router,
    metrics.router,
]

# Routers at the root, outside API_PREFIX: seed 002's POST /api/agents.
ROOT_ROUTERS: list[APIRouter] = [
    agents_api.seed_router,
]


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for domain_router in DOMAIN_ROUTERS:
        router.include_router(domain_router)
    return router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The background workers run while the app serves (when the node has a chain)."""
    scheduler = workers.start_scheduler(app.state.runtime)
    app.state.scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            await asyncio.to_thread(scheduler.stop)


def _error_reply(description: str, **extra: Any) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {"description": description, "content": {"application/json": {"schema": schema}}} | extra


def document_headers(schema: dict[str, Any]) -> None:
    """What middleware and the key check add to the routes, which FastAPI cannot see: 429 on
    every route that checks a key, and `Idempotency-Key` (with its 409) on such POSTs."""
    retry_after = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if "security" not in operation:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "429",
                _error_reply(
                    "Too many failed API key checks from this address", headers=retry_after
                ),
            )
            if method != "post":
                continue
            operation.setdefault("parameters", []).append(
                {
                    "name": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": IDEMPOTENCY_DESCRIPTION,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            )
            responses.setdefault(
                "409",
                _error_reply(
                    "A duplicate, or the first request with this Idempotency-Key is still running"
                ),
            )


def create_app(runtime: Runtime | None) -> FastAPI:
    """The app for a runtime; `None` only to describe the API (OpenAPI export)."""
    app = FastAPI(title="paynode", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.scheduler = None
    app.state.auth_throttle = (
        AuthThrottle(runtime.settings.auth_failure_limit, runtime.settings.auth_failure_window_s)
        if runtime is not None
        else None
    )
    app.add_middleware(IdempotencyMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router())
    for router in ROOT_ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_headers(plain_openapi())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
