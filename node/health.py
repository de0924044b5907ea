"""Liveness and readiness: public, no key."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from node import __version__
from node.runtime import RuntimeDep
from node.web import ApiError, Success, success

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    network: str
    version: str


@router.get("/health", summary="The node answers and its database is reachable")
def health(runtime: RuntimeDep) -> Success[Health]:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise ApiError(503, "database unreachable", code="database_unreachable") from error
    return success(Health(status="ok", network=runtime.profile.display_name, version=__version__))
