"""What every router shares: the Masumi envelope, errors that name the field, keyset pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from sqlalchemy import and_, or_
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.clock import ms_from_iso

DataT = TypeVar("DataT")


class Success(BaseModel, Generic[DataT]):
    """`{"status": "success", "data": ...}`"""

    status: Literal["success"] = "success"
    data: DataT


def success(data: DataT) -> Success[DataT]:
    return Success[DataT](data=data)


class ErrorBody(BaseModel):
    message: str
    code: str
    fields: list[str] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """`{"status": "error", "error": {"message", "code"}}`; a 409 adds `id` and `object`."""

    model_config = ConfigDict(extra="allow")

    status: Literal["error"] = "error"
    error: ErrorBody


class ApiError(Exception):
    """An error the API answers with its status and a message for the caller."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str,
        fields: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code
        self.fields = fields or []
        self.extra = extra or {}
        self.headers = headers


def field_error(field: str, message: str, status_code: int = 422) -> ApiError:
    """Bad input in one field: the message starts with the field's name, as validation errors do."""
    return ApiError(status_code, f"{field}: {message}", code="invalid_field", fields=[field])


def conflict(message: str, existing_id: str, existing: BaseModel) -> ApiError:
    """A duplicate create: 409 with the existing object, so a retry can carry on with it."""
    body = {"id": existing_id, "object": jsonable_encoder(existing, by_alias=True)}
    return ApiError(409, message, code="conflict", extra=body)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found", code="not_found")


def _error_response(error: ApiError) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(message=error.message, code=error.code, fields=error.fields)
    ).model_dump()
    body.update(error.extra)
    return JSONResponse(status_code=error.status_code, content=body, headers=error.headers)


def error_response(error: ApiError) -> JSONResponse:
    """The envelope of an error, for code outside the routes (middleware)."""
    return _error_response(error)


def _field_name(location: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _on_api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _error_response(error)


async def _on_validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [(_field_name(tuple(item["loc"])), item["msg"]) for item in error.errors()]
    message = "; ".join(
        f"{field}: {text.removeprefix('Value error, ')}" for field, text in problems
    )
    fields = list(dict.fromkeys(field for field, _ in problems))
    return _error_response(ApiError(422, message, code="validation_error", fields=fields))


async def _on_http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    return _error_response(
        ApiError(
            error.status_code,
            str(error.detail),
            code=code.get(error.status_code, "http_error"),
            headers=dict(error.headers) if error.headers else None,
        )
    )


async def _on_data_error(_request: Request, error: Exception) -> JSONResponse:
    """The database refused a value of the request (PostgreSQL: text with a NUL character, a
    number out of range): bad input, not a server fault (found by tests/fuzz)."""
    assert isinstance(error, DataError)
    message = "the input holds a value the database cannot take (a NUL character, a huge number)"
    return _error_response(ApiError(422, message, code="invalid_value"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "The body is not JSON"),
        (401, "Missing, unknown or revoked API key"),
        (403, "The API key lacks the permission or the network"),
        (404, "An object the request names does not exist"),
        (422, "Invalid input; the message names the field"),
    )
}

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class CountOut(BaseModel):
    """GET /payment/count, /purchase/count: how many rows the filters match."""

    total: int


@dataclass(frozen=True)
class ListFilters:
    """What GET /payment, /purchase and their /count filter on (masumi-protocol.md §9.3):
    the on-chain state, rows that need a person (WaitingForManualAction or an error), and a
    search text (lower case) matched inside identifiers, hashes and state names."""

    on_chain_state: str | None = None
    needs_manual_action: bool = False
    search: str | None = None
    source: SourceFilter | None = None

    def other_source(self, escrow_address: str | None) -> bool:
        """The filters name a payment source other than this node's one (V1, its escrow)."""
        return self.source is not None and not self.source.is_ours(escrow_address)


# Masumi's payment source types; this node has one source per network, the V1 escrow.
PaymentSourceType = Literal["Web3CardanoV1", "Web3CardanoV2"]


@dataclass(frozen=True)
class SourceFilter:
    """`filterSmartContractAddress` and `filterPaymentSourceType` of Masumi's list endpoints."""

    smart_contract_address: str | None = None
    payment_source_type: PaymentSourceType | None = None

    def is_ours(self, escrow_address: str | None) -> bool:
        wrong_type = self.payment_source_type not in (None, "Web3CardanoV1")
        address = self.smart_contract_address
        return not wrong_type and (address is None or address == escrow_address)


def source_filter(
    filter_smart_contract_address: Annotated[
        str | None, Query(alias="filterSmartContractAddress", min_length=1, max_length=200)
    ] = None,
    filter_payment_source_type: Annotated[
        PaymentSourceType | None, Query(alias="filterPaymentSourceType")
    ] = None,
) -> SourceFilter | None:
    if filter_smart_contract_address is None and filter_payment_source_type is None:
        return None
    return SourceFilter(filter_smart_contract_address, filter_payment_source_type)


SourceFilters = Annotated[SourceFilter | None, Depends(source_filter)]


# What a change feed follows (Masumi's /diff, /diff/next-action, /diff/onchain-state-or-result).
DiffKind = Literal["any", "next_action", "on_chain"]
DIFF_PAGING = "page on with the last row's updatedAt and id (cursorId)"
# (path suffix, what it follows, how the summary says it)
DIFF_FEEDS: list[tuple[str, DiffKind, str]] = [
    ("", "any", "changed (next action, error, result, on-chain state)"),
    ("/next-action", "next_action", "whose next action changed"),
    ("/onchain-state-or-result", "on_chain", "whose escrow changed on chain (a rollback too)"),
]


def changed_since(query: Any, changed: Any, row_id: Any, since: int, cursor_id: str | None) -> Any:
    """Rows whose `changed` time is at or after `since`, oldest change first; `cursor_id` (the
    last row read, changed at `since`) breaks ties between rows changed in the same ms."""
    after = changed >= since
    if cursor_id is not None:
        after = or_(changed > since, and_(changed == since, row_id > cursor_id))
    return query.where(after).order_by(changed, row_id)


def _time_query(value: object) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, str):
        try:
            return ms_from_iso(value)
        except ValueError:
            pass
    raise ValueError("must be an ISO 8601 date or POSIX milliseconds")


# A time in a query string: ISO 8601 (as Masumi's `lastUpdate`) or POSIX ms; POSIX ms inside.
TimeQuery = Annotated[
    int,
    BeforeValidator(_time_query),
    WithJsonSchema({"type": "string", "examples": ["2026-01-01T00:00:00.000Z", "1767225600000"]}),
]


@dataclass(frozen=True)
class DiffQuery:
    """The query of Masumi's change feeds: rows changed since `lastUpdate`, a page at a time."""

    since: int
    limit: int
    cursor_id: str | None
    include_history: bool


def diff_query(
    last_update: Annotated[TimeQuery, Query(alias="lastUpdate")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
    include_history: Annotated[bool, Query(alias="includeHistory")] = False,
) -> DiffQuery:
    return DiffQuery(last_update, limit, cursor_id, include_history)


DiffQueryDep = Annotated[DiffQuery, Depends(diff_query)]
