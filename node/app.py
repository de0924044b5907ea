"""The FastAPI application: /health, every domain's router under /api/v1 (and seed 002's
/api/agents at the root), and the background workers while it serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from node import __version__, health, metrics, workers
from node.agents import api as agents_api
from node.auth import api as auth_api
from node.billing import api as billing_api
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


def create_app(runtime: Runtime | None) -> FastAPI:
    """The app for a runtime; `None` only to describe the API (OpenAPI export)."""
    app = FastAPI(title="paynode", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.scheduler = None
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router())
    for router in ROOT_ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    return app
