"""The control API (no Blockfrost prefix): move time, forge blocks, roll back, pay from the
faucet, and describe the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from devnet.api import (
    MAX_CONTROL_BLOCKS,
    ApiError,
    DevnetApi,
    check_address,
    check_unit,
    network_profile,
)
from devnet.ledger import Block

Json = dict[str, Any]
T = TypeVar("T")


def router(api: DevnetApi) -> APIRouter:
    routes = APIRouter()
    ledger = api.ledger

    @routes.get("/info")
    def info() -> Json:
        return api.read(lambda: network_profile(ledger))

    @routes.post("/time")
    async def advance_time(request: Request) -> Json:
        seconds = _int_field(await _body(request), "advance_seconds", low=0)
        slot = api.write(lambda: ledger.advance_time(seconds))
        return {"slot": slot, "now_ms": ledger.now_ms}

    @routes.post("/blocks")
    async def produce_blocks(request: Request) -> Json:
        count = _int_field(await _body(request), "count", low=1, high=MAX_CONTROL_BLOCKS)
        made = api.write(lambda: ledger.produce_blocks(count))
        return {"blocks": [_block_ref(b) for b in made], "tip": _block_ref(made[-1])}

    @routes.post("/rollback")
    async def rollback(request: Request) -> Json:
        body = await _body(request)
        blocks = _int_field(body, "blocks", low=0)
        drop = body.get("drop", False)
        if not isinstance(drop, bool):
            raise ApiError(400, "drop: must be true or false")
        undone = api.write(lambda: ledger.rollback(blocks, drop=drop))
        return {"tx_hashes": undone, "tip": _block_ref(api.read(ledger.tip))}

    @routes.post("/faucet")
    async def faucet(request: Request) -> Json:
        body = await _body(request)
        address, lovelace, assets = _faucet_request(body)
        tx_hash = await _threaded(lambda: api.write(lambda: _pay(api, address, lovelace, assets)))
        return {"tx_hash": tx_hash}

    return routes


async def _threaded(work: Callable[[], T]) -> T:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


async def _body(request: Request) -> Json:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "body: expected a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: expected a JSON object")
    return body


def _int_field(body: Json, name: str, *, low: int, high: int | None = None) -> int:
    return _int_value(body.get(name), name, low=low, high=high)


def _int_value(value: Any, name: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{name}: expected an integer")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ApiError(400, f"{name}: must be {bounds}, not {value}")
    return value


def _faucet_request(body: Json) -> tuple[str, int, dict[str, int]]:
    address = body.get("address")
    if not isinstance(address, str):
        raise ApiError(400, "address: expected a bech32 address")
    try:
        check_address(address)
    except ApiError:
        raise ApiError(400, f"address: {address!r} is not a valid address") from None
    lovelace = _int_field(body, "lovelace", low=1)
    raw_assets = body.get("assets", {})
    if not isinstance(raw_assets, dict):
        raise ApiError(400, "assets: expected an object {unit: quantity}")
    assets: dict[str, int] = {}
    for unit, quantity in raw_assets.items():
        try:
            check_unit(unit)
        except ApiError:
            raise ApiError(400, f"assets: {unit!r} is not an asset unit") from None
        assets[unit.lower()] = _int_value(quantity, f"assets.{unit}", low=1)
    return address, lovelace, assets


def _pay(api: DevnetApi, address: str, lovelace: int, assets: dict[str, int]) -> str:
    from devnet.errors import LedgerError

    try:
        return api.ledger.faucet(address, lovelace, assets)
    except LedgerError:
        raise
    except Exception as exc:  # pycardano's builder: not enough funds, below min-ADA, ...
        raise ApiError(400, f"faucet: {exc}") from exc


def _block_ref(block: Block) -> Json:
    return {"hash": block.hash, "height": block.height, "slot": block.slot}
