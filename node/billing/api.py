"""/billing routes (read permission): balance with a peer agent, usage and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from node.auth.api import ReadKey
from node.billing import service
from node.billing.schemas import BalanceOut, UsageList
from node.runtime import RuntimeDep, SessionDep
from node.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Success, success

router = APIRouter(tags=["billing"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(alias="cursorId", max_length=32)]
Peer = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get(
    "/billing/balance", summary="Locked, charged, refunded and fees with an agent, per unit"
)
def balance(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, peer_agent_id: Peer = None
) -> Success[BalanceOut]:
    return success(service.balance(session, runtime.profile.name, peer_agent_id))


@router.get("/billing/usage", summary="Our requests with an agent, most recent first")
def usage(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    peer_agent_id: Peer = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor_id: Cursor = None,
) -> Success[UsageList]:
    return success(service.usage(session, runtime.profile.name, peer_agent_id, limit, cursor_id))


@router.get("/billing/history", summary="All our requests, newest first")
def history(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor_id: Cursor = None,
) -> Success[UsageList]:
    return success(service.usage(session, runtime.profile.name, None, limit, cursor_id))
