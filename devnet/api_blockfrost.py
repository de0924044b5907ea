"""Blockfrost's endpoints (the table of docs/blockfrost.md) over the devnet ledger."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

import cbor2
from fastapi import APIRouter, Depends, Request

from devnet import blockfrost_json as bf
from devnet import phase1
from devnet.api import (
    API_VERSION,
    ApiError,
    DevnetApi,
    Paging,
    blockfrost_router,
    check_address,
    check_unit,
    hex_bytes,
    paging,
    tx_body_bytes,
)
from devnet.errors import LedgerRejection
from devnet.genesis import EPOCH_LENGTH_SLOTS
from devnet.ledger import UtxoOverlap, address_bytes
from devnet.phase1 import Output, TxIn

Json = dict[str, Any]
T = TypeVar("T")
CBOR_TYPES = ("application/cbor", "application/octet-stream")


def router(api: DevnetApi) -> APIRouter:
    routes = blockfrost_router()
    _health_routes(routes, api)
    _chain_routes(routes, api)
    _address_routes(routes, api)
    _tx_routes(routes, api)
    _submit_routes(routes, api)
    _asset_routes(routes, api)
    _metadata_routes(routes, api)
    _script_routes(routes, api)
    return routes


def _health_routes(routes: APIRouter, api: DevnetApi) -> None:
    @routes.get("/")
    def root() -> Json:
        return {"url": "https://github.com/paynode/paynode (devnet)", "version": API_VERSION}

    @routes.get("/health")
    def health() -> Json:
        return {"is_healthy": True}

    @routes.get("/health/clock")
    def clock() -> Json:
        return {"server_time": api.read(lambda: api.ledger.now_ms)}

    @routes.get("/network")
    def network() -> Json:
        return api.read(lambda: bf.network_json(api.ledger))


def _chain_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    @routes.get("/blocks/latest")
    def latest_block() -> Json:
        return api.read(lambda: bf.block_json(ledger.block(ledger.tip().height)))

    @routes.get("/blocks/{hash_or_number}")
    def block(hash_or_number: str) -> Json:
        return api.read(lambda: bf.block_json(ledger.block(hash_or_number)))

    @routes.get("/blocks/{hash_or_number}/txs")
    def block_txs(hash_or_number: str, page: Paging = Depends(paging)) -> list[str]:
        return page.apply(api.read(lambda: ledger.block(hash_or_number).block.tx_hashes))

    @routes.get("/epochs/latest")
    def latest_epoch() -> Json:
        return api.read(lambda: bf.epoch_json(ledger, _current_epoch(api)))

    @routes.get("/epochs/latest/parameters")
    def parameters() -> Json:
        return bf.parameters_json(ledger.params, api.read(lambda: _current_epoch(api)))

    @routes.get("/genesis")
    def genesis() -> Json:
        return bf.genesis_json(ledger)


def _current_epoch(api: DevnetApi) -> int:
    return api.ledger.current_slot // EPOCH_LENGTH_SLOTS


def _address_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    @routes.get("/addresses/{address}/utxos")
    def utxos(address: str, page: Paging = Depends(paging)) -> list[Json]:
        check_address(address)
        found = api.read(lambda: ledger.utxos_at(address))
        if not found:  # Blockfrost answers 404 for an address without UTxOs
            raise ApiError(404, "The requested component has not been found.")
        return [bf.utxo_json(u) for u in page.apply(found)]

    @routes.get("/addresses/{address}/utxos/{asset}")
    def asset_utxos(address: str, asset: str, page: Paging = Depends(paging)) -> list[Json]:
        check_address(address)
        check_unit(asset)
        found = api.read(lambda: ledger.asset_utxos_at(address, asset))
        if not found:
            raise ApiError(404, "The requested component has not been found.")
        return [bf.utxo_json(u) for u in page.apply(found)]

    @routes.get("/addresses/{address}/transactions")
    def transactions(request: Request, address: str, page: Paging = Depends(paging)) -> list[Json]:
        check_address(address)
        refs = api.read(lambda: ledger.address_transactions(address))
        low, high = _block_range(request)
        refs = [r for r in refs if low <= (r.block_height, r.tx_index) <= high]
        return [bf.tx_ref_json(r) for r in page.apply(refs)]


def _block_range(request: Request) -> tuple[tuple[int, int], tuple[int, int]]:
    """Blockfrost's `from`/`to` filters: "height" or "height:tx index", both inclusive."""
    return (
        _block_bound(request.query_params.get("from"), "from", 0),
        _block_bound(request.query_params.get("to"), "to", 2**62),
    )


def _block_bound(text: str | None, name: str, default_index: int) -> tuple[int, int]:
    if text is None:
        return (0, 0) if name == "from" else (2**62, 2**62)
    height, _, index = text.partition(":")
    try:
        return int(height), int(index) if index else default_index
    except ValueError:
        raise ApiError(400, f"Invalid value for query parameter '{name}': {text!r}") from None


def _tx_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    @routes.get("/txs/{tx_hash}")
    def tx(tx_hash: str) -> Json:
        return bf.tx_json(api.read(lambda: ledger.transaction(_tx_hash(tx_hash))))

    @routes.get("/txs/{tx_hash}/utxos")
    def tx_utxos(tx_hash: str) -> Json:
        return bf.tx_utxos_json(api.read(lambda: ledger.transaction_utxos(_tx_hash(tx_hash))))

    @routes.get("/txs/{tx_hash}/cbor")
    def tx_cbor(tx_hash: str) -> Json:
        return {"cbor": api.read(lambda: ledger.transaction_cbor(_tx_hash(tx_hash))).hex()}

    @routes.get("/txs/{tx_hash}/redeemers")
    def tx_redeemers(tx_hash: str) -> list[Json]:
        found = api.read(lambda: ledger.transaction_redeemers(_tx_hash(tx_hash)))
        return [bf.redeemer_json(r) for r in found]

    @routes.get("/txs/{tx_hash}/metadata")
    def tx_metadata(tx_hash: str) -> list[Json]:
        found = api.read(lambda: ledger.transaction_metadata(_tx_hash(tx_hash)))
        return [bf.metadata_json(m) for m in found]

    @routes.get("/txs/{tx_hash}/metadata/cbor")
    def tx_metadata_cbor(tx_hash: str) -> list[Json]:
        found = api.read(lambda: ledger.transaction_metadata(_tx_hash(tx_hash)))
        return [bf.metadata_cbor_json(m) for m in found]


def _tx_hash(text: str) -> str:
    hex_bytes(text, "transaction hash", 32)
    return text.lower()


def _submit_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    @routes.post("/tx/submit")
    async def submit(request: Request) -> str:
        _require_cbor_content(request)
        raw = tx_body_bytes(await request.body())
        return await _in_thread(lambda: _submit(api, raw))

    @routes.post("/utils/txs/evaluate")
    async def evaluate(request: Request) -> Json:
        raw = tx_body_bytes(await request.body())
        return await _in_thread(lambda: _evaluate(ledger, raw))

    @routes.post("/utils/txs/evaluate/utxos")
    async def evaluate_with_utxos(request: Request) -> Json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "expected a JSON body {cbor, additionalUtxoSet}") from None
        raw, additional = _evaluation_request(body)
        return await _in_thread(lambda: _evaluate(ledger, raw, additional))


async def _in_thread(work: Callable[[], T]) -> T:
    # The body is read asynchronously; validation is blocking, so it runs in the thread pool.
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


def _require_cbor_content(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CBOR_TYPES:
        raise ApiError(400, "Invalid Content-Type header: expected application/cbor")


def _submit(api: DevnetApi, raw: bytes) -> str:
    def change() -> str:
        queued = api.ledger.mempool_size_bytes
        if queued + len(raw) > api.mempool_capacity_bytes:
            raise ApiError(425, f"Mempool is full ({queued} bytes queued), please try later.")
        return api.ledger.submit(raw)

    return api.write(change)


def _evaluation_request(body: Any) -> tuple[bytes, dict[TxIn, Output]]:
    """`{cbor, additionalUtxoSet: [[TxIn, TxOut], ...]}` in Ogmios v5's shapes: TxIn
    `{txId, index}`, TxOut `{address, value: {coins, assets: {"policy.name": n}}, datumHash |
    datum (CBOR hex), script: {"plutus:v1|v2|v3": hex}}`."""
    if not isinstance(body, dict) or not isinstance(body.get("cbor"), str):
        raise ApiError(400, "cbor: the transaction as base16 (or base64) CBOR is required")
    text = body["cbor"].strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "cbor: neither base16 nor base64") from None
    pairs = body.get("additionalUtxoSet") or []
    if not isinstance(pairs, list):
        raise ApiError(400, "additionalUtxoSet: expected an array of [TxIn, TxOut]")
    additional: dict[TxIn, Output] = {}
    for position, pair in enumerate(pairs):
        try:
            txin, txout = pair
            reference = TxIn(bytes.fromhex(txin["txId"]), int(txin["index"]))
            if len(reference.tx_id) != 32:
                raise ValueError("txId is not 32 bytes")
            additional[reference] = phase1.decode_output(_ogmios_output(txout))
        except ApiError:
            raise
        except Exception as exc:  # any malformed entry is the client's error
            raise ApiError(400, f"additionalUtxoSet[{position}]: {exc}") from None
    return raw, additional


_SCRIPT_PREFIX = {"plutus:v1": 1, "plutus:v2": 2, "plutus:v3": 3}


def _ogmios_output(txout: Json) -> bytes:
    """An Ogmios v5 TxOut as a post-Alonzo output's CBOR."""
    check_address(txout["address"])
    value = txout["value"]
    coin = int(value["coins"])
    assets: dict[bytes, dict[bytes, int]] = {}
    for unit, quantity in (value.get("assets") or {}).items():
        policy, _, name = unit.partition(".")
        assets.setdefault(bytes.fromhex(policy), {})[bytes.fromhex(name)] = int(quantity)
    output: dict[int, Any] = {
        0: address_bytes(txout["address"]),
        1: [coin, assets] if assets else coin,
    }
    if txout.get("datum"):
        output[2] = [1, cbor2.CBORTag(24, bytes.fromhex(txout["datum"]))]
    elif txout.get("datumHash"):
        output[2] = [0, bytes.fromhex(txout["datumHash"])]
    script = txout.get("script")
    if script:
        ((language, text),) = script.items()
        if language not in _SCRIPT_PREFIX:
            raise ApiError(400, f"script: {language} scripts are not supported by the devnet")
        ref = cbor2.dumps([_SCRIPT_PREFIX[language], bytes.fromhex(text)])
        output[3] = cbor2.CBORTag(24, ref)
    encoded: bytes = cbor2.dumps(output)
    return encoded


def _evaluate(ledger: Any, raw: bytes, additional: dict[TxIn, Output] | None = None) -> Json:
    """Ogmios v5's EvaluateTx answer, as Blockfrost relays it."""
    try:
        results = ledger.evaluate(raw, additional)
    except UtxoOverlap as exc:
        overlap = [{"txId": t.tx_id.hex(), "index": t.index} for t in exc.references]
        return _ogmios({"EvaluationFailure": {"AdditionalUtxoOverlap": overlap}})
    except LedgerRejection as exc:
        if exc.rule == "malformed":
            raise
        return _ogmios(
            {"EvaluationFailure": {"CannotCreateEvaluationContext": {"reason": str(exc)}}}
        )
    failed = {
        f"{r.tag}:{r.index}": [{"validatorFailed": {"error": r.error or "", "traces": r.logs}}]
        for r in results
        if not r.ok
    }
    if failed:
        return _ogmios({"EvaluationFailure": {"ScriptFailures": failed}})
    units = {f"{r.tag}:{r.index}": {"memory": r.mem, "steps": r.steps} for r in results}
    return _ogmios({"EvaluationResult": units})


def _ogmios(result: Json) -> Json:
    return {
        "type": "jsonwsp/response",
        "version": "1.0",
        "servicename": "ogmios",
        "methodname": "EvaluateTx",
        "result": result,
        "reflection": None,
    }


def _asset_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    # registered before /assets/{asset}/...: "policy" is not an asset
    @routes.get("/assets/policy/{policy_id}")
    def policy_assets(policy_id: str, page: Paging = Depends(paging)) -> list[Json]:
        hex_bytes(policy_id, "policy id", 28)
        found = api.read(lambda: ledger.policy_assets(policy_id.lower()))
        return [bf.policy_asset_json(a) for a in page.apply(found)]

    @routes.get("/assets/{asset}")
    def asset(asset: str) -> Json:
        check_unit(asset)
        return bf.asset_json(api.read(lambda: ledger.asset(asset.lower())))

    @routes.get("/assets/{asset}/addresses")
    def holders(asset: str, page: Paging = Depends(paging)) -> list[Json]:
        check_unit(asset)
        found = api.read(lambda: ledger.asset_holders(asset.lower()))
        return [bf.holder_json(h) for h in page.apply(found)]

    @routes.get("/assets/{asset}/history")
    def history(asset: str, page: Paging = Depends(paging)) -> list[Json]:
        check_unit(asset)
        found = api.read(lambda: ledger.asset_history(asset.lower()))
        return [bf.history_json(h) for h in page.apply(found)]

    @routes.get("/assets/{asset}/transactions")
    def asset_txs(asset: str, page: Paging = Depends(paging)) -> list[Json]:
        check_unit(asset)
        found = api.read(lambda: ledger.asset_transactions(asset.lower()))
        return [bf.tx_ref_json(r) for r in page.apply(found)]


def _metadata_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    @routes.get("/metadata/txs/labels")
    def labels(page: Paging = Depends(paging)) -> list[Json]:
        found = list(api.read(ledger.metadata_labels).items())
        return [{"label": str(k), "cip10": None, "count": str(n)} for k, n in page.apply(found)]

    @routes.get("/metadata/txs/labels/{label}")
    def label_json(label: str, page: Paging = Depends(paging)) -> list[Json]:
        found = api.read(lambda: ledger.label_transactions(_label(label)))
        return [{"tx_hash": t.tx_hash, "json_metadata": t.json_metadata} for t in page.apply(found)]

    @routes.get("/metadata/txs/labels/{label}/cbor")
    def label_cbor(label: str, page: Paging = Depends(paging)) -> list[Json]:
        found = api.read(lambda: ledger.label_transactions(_label(label)))
        return [
            {
                "tx_hash": t.tx_hash,
                "cbor_metadata": "\\x" + t.cbor_metadata,
                "metadata": t.cbor_metadata,
            }
            for t in page.apply(found)
        ]


def _label(text: str) -> int:
    if not text.isdigit():
        raise ApiError(400, f"Invalid metadata label {text!r}: expected an unsigned integer")
    return int(text)


def _script_routes(routes: APIRouter, api: DevnetApi) -> None:
    ledger = api.ledger

    # registered before /scripts/{script_hash}/...: "datum" is not a script hash
    @routes.get("/scripts/datum/{datum_hash}")
    def datum(datum_hash: str) -> Json:
        hex_bytes(datum_hash, "datum hash", 32)
        return {
            "json_value": bf.datum_json_value(api.read(lambda: ledger.datum(datum_hash.lower())))
        }

    @routes.get("/scripts/datum/{datum_hash}/cbor")
    def datum_cbor(datum_hash: str) -> Json:
        hex_bytes(datum_hash, "datum hash", 32)
        return {"cbor": api.read(lambda: ledger.datum(datum_hash.lower())).hex()}

    @routes.get("/scripts/{script_hash}")
    def script(script_hash: str) -> Json:
        hex_bytes(script_hash, "script hash", 28)
        return bf.script_json(api.read(lambda: ledger.script(script_hash.lower())))

    @routes.get("/scripts/{script_hash}/cbor")
    def script_cbor(script_hash: str) -> Json:
        hex_bytes(script_hash, "script hash", 28)
        view = api.read(lambda: ledger.script(script_hash.lower()))
        return {"cbor": None if view.type == "timelock" else view.cbor}

    @routes.get("/scripts/{script_hash}/json")
    def script_json(script_hash: str) -> Json:
        hex_bytes(script_hash, "script hash", 28)
        return {"json": api.read(lambda: ledger.script(script_hash.lower())).native_json}
