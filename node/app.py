"""The FastAPI application: /health, and every domain's router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from node import __version__, health, metrics
from node.auth import api as auth_api
from node.pricing import api as pricing_api
from node.runtime import Runtime
from node.wallets import api as wallets_api
from node.web import ERROR_RESPONSES, install_error_handlers

API_PREFIX = "/api/v1"

DESCRIPTION = """A Masumi-compatible payment node for AI agents on Cardano.

Authenticate with the header `token: <api key>`. Answers are `{"status": "success", "data": ...}`
or `{"status": "error", "error": {"message", "code"}}`. Amounts are integers in the smallest unit,
as decimal strings; times are POSIX milliseconds.
"""


# Every domain's router, mounted under API_PREFIX (health also at the root).
DOMAIN_ROUTERS: list[APIRouter] = [
    health.router,
    auth_api.router,
    wallets_api.router,
    pricing_api.router,
    metrics.router,
]


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for domain_router in DOMAIN_ROUTERS:
        router.include_router(domain_router)
    return router


def create_app(runtime: Runtime | None) -> FastAPI:
    """The app for a runtime; `None` only to describe the API (OpenAPI export)."""
    app = FastAPI(title="paynode", version=__version__, description=DESCRIPTION)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router())
    return app
