"""The MIP-003 routes an agent mounts: `app.include_router(agent_router(config))`, or under a
prefix (`prefix="/my-agent"`, then register `apiBaseUrl` as `<host>/my-agent`).

Answers are MIP-003's plain JSON (no node envelope); an error is
`{"status": "error", "error": {"message", "code", "fields"}}` with 4xx/5xx, the field named.
The router's lifespan runs the payment poller every `poll_interval_s` (0: none; call
`kit.poll_once()` yourself)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from node.client import REQUEST_ID_HEADER
from node.jobs.schemas import (
    Availability,
    InputSchema,
    ProvideInputRequest,
    ProvideInputResponse,
    StartJobRequest,
    StartJobResponse,
    StatusResponse,
)
from node.jobs.service import AgentConfig, AgentKit, KitError

ModelT = TypeVar("ModelT", bound=BaseModel)


def error_response(error: KitError) -> JSONResponse:
    body = {
        "status": "error",
        "error": {"message": error.message, "code": error.code, "fields": error.fields},
    }
    return JSONResponse(status_code=error.status, content=body, headers=error.headers)


async def answer(work: Callable[[], Awaitable[ModelT]]) -> Any:
    """The result as MIP-003 JSON, with the job's request id in X-Request-Id when it has one."""
    try:
        result = await work()
    except KitError as error:
        return error_response(error)
    body = result.model_dump(mode="json", by_alias=True)
    request_id = body.get("requestId") or body.get("id")
    headers = {REQUEST_ID_HEADER: str(request_id)} if request_id else None
    return JSONResponse(body, headers=headers)


def poller_lifespan(
    kit: AgentKit,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if kit.config.poll_interval_s <= 0:
            yield
            return
        task = asyncio.create_task(kit.run(), name=f"{kit.config.name}-poller")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def build_router(kit: AgentKit) -> APIRouter:
    router = APIRouter(tags=["agent (MIP-003)"], lifespan=poller_lifespan(kit))

    @router.post("/start_job", response_model=StartJobResponse, summary="Start a job: its price")
    async def start_job(request: StartJobRequest) -> Any:
        return await answer(lambda: kit.start_job(request))

    @router.get("/status", response_model=StatusResponse, summary="A job's status and result")
    async def status(job_id: Annotated[str, Query(min_length=1, max_length=64)]) -> Any:
        async def read() -> StatusResponse:
            return kit.status(job_id)

        return await answer(read)

    @router.get("/availability", response_model=Availability, summary="Is the agent up")
    async def availability() -> Any:
        return kit.availability().model_dump(mode="json", by_alias=True)

    @router.get("/input_schema", response_model=InputSchema, summary="What input_data takes")
    async def input_schema() -> Any:
        return InputSchema(input_data=kit.schema).model_dump(mode="json", exclude_none=True)

    @router.post(
        "/provide_input",
        response_model=ProvideInputResponse,
        summary="More input for a job awaiting input: checked against its input_schema",
    )
    async def provide_input(request: ProvideInputRequest) -> Any:
        async def provide() -> ProvideInputResponse:
            taken = kit.provide_input(request)
            kit.resume_soon(taken.job_id)
            return taken

        return await answer(provide)

    return router


def agent_router(config: AgentConfig | AgentKit) -> APIRouter:
    """The MIP-003 router for an agent (its kit, with the job store and poller, on `.kit`)."""
    kit = config if isinstance(config, AgentKit) else AgentKit(config)
    router = build_router(kit)
    router.kit = kit  # type: ignore[attr-defined]
    return router
