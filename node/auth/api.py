"""The `token` header check every route uses, and the /api-key routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from node.auth import service
from node.auth.schemas import (
    ApiKeyCreate,
    ApiKeyDelete,
    ApiKeyList,
    ApiKeyOut,
    ApiKeyUpdate,
    Permission,
)
from node.auth.service import Caller
from node.auth.throttle import AuthThrottle
from node.runtime import RuntimeDep, SessionDep
from node.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ApiError, Success, success

token_header = APIKeyHeader(name="token", scheme_name="API-Key", auto_error=False)


class RequirePermission:
    """A dependency that lets a request through only with an active key of enough permission.

    `permission=None` asks only for a valid key (any permission, any network).
    """

    def __init__(self, permission: Permission | None) -> None:
        self.permission = permission

    def __call__(
        self,
        request: Request,
        runtime: RuntimeDep,
        session: SessionDep,
        token: Annotated[str | None, Security(token_header)] = None,
    ) -> Caller:
        throttle = auth_throttle(request)
        address = client_address(request)
        if throttle is not None:
            wait_s = throttle.retry_after_s(address)
            if wait_s is not None:
                raise too_many_failures(wait_s)
        caller = service.authenticate(session, runtime.secrets, token)
        if caller is None:
            if token and throttle is not None:
                throttle.failed(address)
            raise ApiError(401, "missing, unknown or revoked API key", code="unauthorized")
        if self.permission is None:
            return caller
        network = runtime.profile.display_name
        if not caller.allows_network(network):
            raise ApiError(403, f"this API key is not valid on {network}", code="forbidden_network")
        if not caller.allows(self.permission):
            raise ApiError(
                403, f"this API key lacks the {self.permission} permission", code="forbidden"
            )
        return caller


def auth_throttle(request: Request) -> AuthThrottle | None:
    """The app's failed-auth throttle (node.app makes one per app from the settings)."""
    throttle = getattr(request.app.state, "auth_throttle", None)
    return throttle if isinstance(throttle, AuthThrottle) else None


def client_address(request: Request) -> str:
    """The peer's address (behind a proxy, as uvicorn's --forwarded-allow-ips lets it say)."""
    return request.client.host if request.client is not None else "unknown"


def too_many_failures(wait_s: int) -> ApiError:
    return ApiError(
        429,
        f"too many failed API key checks from this address; try again in {wait_s} s",
        code="too_many_failed_auth",
        headers={"Retry-After": str(wait_s)},
    )


AnyKey = Annotated[Caller, Depends(RequirePermission(None))]
ReadKey = Annotated[Caller, Depends(RequirePermission(Permission.READ))]
PayKey = Annotated[Caller, Depends(RequirePermission(Permission.PAY))]
AdminKey = Annotated[Caller, Depends(RequirePermission(Permission.ADMIN))]

router = APIRouter(tags=["api-key"])


@router.get("/api-key-status", summary="The calling key: permissions, limits, credits")
def api_key_status(caller: AnyKey, session: SessionDep) -> Success[ApiKeyOut]:
    return success(service.to_out(session, caller.key))


@router.get("/api-key", summary="List API keys, newest first")
def list_api_keys(
    _caller: AdminKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
) -> Success[ApiKeyList]:
    keys = service.list_keys(session, limit, cursor_id)
    next_cursor = keys[-1].id if len(keys) == limit else None
    rows = [service.to_out(session, key) for key in keys]
    return success(ApiKeyList(api_keys=rows, next_cursor_id=next_cursor))


@router.post("/api-key", summary="Create an API key; the token is shown only in this answer")
def create_api_key(
    _caller: AdminKey, runtime: RuntimeDep, session: SessionDep, request: ApiKeyCreate
) -> Success[ApiKeyOut]:
    key, token = service.create_key(session, runtime.secrets, request)
    return success(service.to_out(session, key, token=token))


@router.patch("/api-key", summary="Change a key's status, limits, credits or token")
def update_api_key(
    _caller: AdminKey, runtime: RuntimeDep, session: SessionDep, request: ApiKeyUpdate
) -> Success[ApiKeyOut]:
    key = service.update_key(session, runtime.secrets, request)
    return success(service.to_out(session, key))


@router.delete("/api-key", summary="Revoke a key (kept for the audit trail)")
def delete_api_key(
    _caller: AdminKey, session: SessionDep, request: Annotated[ApiKeyDelete, Body()]
) -> Success[ApiKeyOut]:
    return success(service.to_out(session, service.revoke_key(session, request.id)))
