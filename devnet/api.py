"""The devnet's HTTP face: Blockfrost's API under /api/v0 and the control API under /devnet.

Handlers are plain functions (FastAPI runs them in its thread pool) and every ledger call holds
the lock given to the app, which the server shares with its block-production thread.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from devnet.admins import escrow_parties
from devnet.errors import LedgerError, LedgerRejection, NotFound
from devnet.genesis import EPOCH_LENGTH_SLOTS, NETWORK_MAGIC, USDM_ASSET_NAME_HEX, USDM_DECIMALS
from devnet.ledger import Ledger, address_bytes

API_PREFIX = "/api/v0"
API_VERSION = "0.1.93"  # the Blockfrost OpenAPI release whose shapes we serve
MAX_PAGE_COUNT = 100
MAX_CONTROL_BLOCKS = 10_000
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    425: "Mempool Full",
    500: "Internal Server Error",
}
T = TypeVar("T")
Json = dict[str, Any]
ChangeHook = Callable[[], None]


class ApiError(Exception):
    """An answer in Blockfrost's error shape."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def error_response(status_code: int, message: str) -> JSONResponse:
    body = {
        "status_code": status_code,
        "error": REASONS.get(status_code, "Error"),
        "message": message,
    }
    return JSONResponse(body, status_code=status_code)


# Paging -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    page: int = 1
    count: int = MAX_PAGE_COUNT
    order: Literal["asc", "desc"] = "asc"

    def apply(self, items: Sequence[T]) -> list[T]:
        """Blockfrost orders the whole list from the chain's point of view, then pages it."""
        ordered = list(items) if self.order == "asc" else list(reversed(items))
        start = (self.page - 1) * self.count
        return ordered[start : start + self.count]


def _int_query(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"Invalid value for query parameter '{name}': {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, f"Query parameter '{name}' must be {bounds}, not {value}")
    return value


def paging(request: Request) -> Paging:
    order = request.query_params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ApiError(400, f"Query parameter 'order' must be 'asc' or 'desc', not {order!r}")
    return Paging(
        page=_int_query(request, "page", 1, 1, None),
        count=_int_query(request, "count", MAX_PAGE_COUNT, 1, MAX_PAGE_COUNT),
        order="asc" if order == "asc" else "desc",
    )


def require_project_id(request: Request) -> None:
    # Any non-empty key is accepted: the devnet has no accounts, but clients must send one.
    if not request.headers.get("project_id"):
        raise ApiError(403, "Missing project token. Please include project_id in your request.")


# Input parsing --------------------------------------------------------------------------------


def hex_bytes(text: str, what: str, length: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ApiError(400, f"Invalid {what}: not hexadecimal") from None
    if length is not None and len(raw) != length:
        raise ApiError(400, f"Invalid {what}: expected {length} bytes")
    return raw


def check_address(address: str) -> None:
    try:
        address_bytes(address)
    except Exception:  # pycardano raises several types for malformed addresses
        raise ApiError(
            400, "Invalid address for this network or malformed address format."
        ) from None


def check_unit(unit: str) -> None:
    raw = hex_bytes(unit, "asset", None)
    if not 28 <= len(raw) <= 60:
        raise ApiError(400, "Invalid asset: expected a policy id and an asset name of 0..32 bytes")


def tx_body_bytes(body: bytes) -> bytes:
    """Raw CBOR, or the same as hex text (accepted too: some clients send hex)."""
    stripped = body.strip()
    if stripped[:1].isalnum():
        try:
            return binascii.unhexlify(stripped)
        except (binascii.Error, ValueError):
            pass
    return body


# The app --------------------------------------------------------------------------------------


class DevnetApi:
    """Route handlers bound to one ledger and its lock."""

    def __init__(
        self, ledger: Ledger, lock: AbstractContextManager[Any], on_change: ChangeHook | None
    ) -> None:
        self.ledger = ledger
        self.lock = lock
        self.on_change = on_change

    def read(self, query: Callable[[], T]) -> T:
        with self.lock:
            try:
                return query()
            except NotFound as exc:
                raise ApiError(404, f"The requested component has not been found. {exc}") from exc

    def write(self, change: Callable[[], T]) -> T:
        with self.lock:
            result = change()
        if self.on_change is not None:
            self.on_change()
        return result

    @property
    def mempool_capacity_bytes(self) -> int:
        # cardano-node's mempool holds two blocks' worth of transactions
        return 2 * self.ledger.params.max_block_size


def create_devnet_app(
    ledger: Ledger,
    *,
    lock: AbstractContextManager[Any],
    on_change: ChangeHook | None = None,
) -> FastAPI:
    """The FastAPI app serving `ledger`; `on_change` runs after every change (to save state)."""
    api = DevnetApi(ledger, lock, on_change)
    app = FastAPI(
        title="paynode devnet", docs_url="/devnet/docs", openapi_url="/devnet/openapi.json"
    )
    _install_error_handlers(app)
    from devnet import api_blockfrost, api_control

    app.include_router(api_blockfrost.router(api), prefix=API_PREFIX)
    app.include_router(api_control.router(api), prefix="/devnet")
    return app


def blockfrost_router() -> APIRouter:
    return APIRouter(dependencies=[Depends(require_project_id)])


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = "The requested component has not been found."
        return error_response(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(LedgerRejection)
    def _rejection(_: Request, exc: LedgerRejection) -> JSONResponse:
        return error_response(400, rejection_message(exc))

    @app.exception_handler(LedgerError)
    def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return error_response(400, str(exc))


def rejection_message(exc: LedgerRejection) -> str:
    return f"rule {exc.rule}: {exc.message}"


def network_profile(ledger: Ledger) -> Json:
    """What a node needs to talk to this devnet (GET /devnet/info)."""
    tip = ledger.tip()
    slot_config = ledger.slot_config
    genesis = ledger.genesis
    return {
        "network": "devnet",
        "network_id": 0,
        "network_magic": NETWORK_MAGIC,
        "system_start": genesis.system_start_ms // 1000,
        "system_start_ms": genesis.system_start_ms,
        "slot_config": {
            "zero_time_ms": slot_config.zero_time_ms,
            "zero_slot": slot_config.zero_slot,
            "slot_length_ms": slot_config.slot_length_ms,
        },
        "epoch_length": EPOCH_LENGTH_SLOTS,
        "protocol_major_ver": ledger.params.protocol_major,
        "mode": ledger.mode,
        "usdm": {
            "unit": genesis.usdm_unit,
            "policy_id": genesis.usdm_unit[:56],
            "asset_name": USDM_ASSET_NAME_HEX,
            "decimals": USDM_DECIMALS,
        },
        "escrow": escrow_parties(),
        "genesis_wallet_address": str(genesis.wallet_address),
        "blockfrost_path": API_PREFIX,
        "current_slot": ledger.current_slot,
        "now_ms": ledger.now_ms,
        "tip": {
            "hash": tip.hash,
            "height": tip.height,
            "slot": tip.slot,
            "time": tip.time_ms // 1000,
        },
        "mempool": ledger.mempool,
    }
