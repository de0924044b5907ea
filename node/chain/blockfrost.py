"""`ChainPort` over Blockfrost's HTTP API (the real service, or the devnet that serves it).

Staying inside Blockfrost's limits is by design: every request takes a token from a bucket
(10/s, burst 500 by default), 429/5xx/timeouts are retried with exponential backoff and full
jitter (honouring Retry-After), protocol parameters and scripts are cached, and requests are
counted per endpoint. httpx rather than blockfrost-python: the latter sets no timeouts and opens a
new connection per request (docs/adr/0007-blockfrost-client.md).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, TypeAlias

import cbor2
import httpx
from pycardano import (
    Address,
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    PlutusV1Script,
    PlutusV2Script,
    PlutusV3Script,
    ProtocolParameters,
    RawPlutusData,
    ScriptHash,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
    plutus_script_hash,
)
from pycardano.hash import DatumHash

from node.chain.port import (
    AddressTx,
    AssetHolder,
    AssetInfo,
    BlockInfo,
    ChainError,
    ChainNotFound,
    ChainParameters,
    ChainUnavailable,
    PolicyAsset,
    SubmitOutcomeUnknown,
    Tip,
    TransactionRejected,
    TxInfo,
    TxIo,
    TxMetadata,
    TxRedeemer,
    TxUtxos,
)
from node.chain.ratelimit import TokenBucket

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGE_SIZE = 100
PARAMETERS_TTL_NS = 300 * 1_000_000_000
PlutusScript: TypeAlias = PlutusV1Script | PlutusV2Script | PlutusV3Script
_SCRIPT_TYPES: dict[str, type[PlutusV1Script] | type[PlutusV2Script] | type[PlutusV3Script]] = {
    "plutusV1": PlutusV1Script,
    "plutusV2": PlutusV2Script,
    "plutusV3": PlutusV3Script,
}


class RequestCounter:
    """Requests made, per endpoint template (`GET /addresses/{address}/utxos`), thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.retries = 0

    def add(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class RetryPolicy:
    def __init__(self, attempts: int = 6, base_ms: int = 250, cap_ms: int = 8_000) -> None:
        self.attempts = attempts
        self.base_ms = base_ms
        self.cap_ms = cap_ms

    def delay_ms(self, attempt: int, retry_after: str | None) -> int:
        if retry_after is not None and retry_after.isdigit():
            return min(int(retry_after) * 1000, self.cap_ms)
        ceiling = min(self.cap_ms, self.base_ms * 2**attempt)
        return random.randint(ceiling // 2, ceiling)  # full jitter, never zero


class BlockfrostChain:
    """Blockfrost, with a rate limit, retries, caches and a request count."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        *,
        rate_per_s: int = 10,
        burst: int = 500,
        retry: RetryPolicy | None = None,
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`base_url` as blockfrost clients take it (…/api); requests go to …/api/v0."""
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/v0",
            headers={"project_id": project_id},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
        )
        self.limiter = TokenBucket(rate_per_s, burst, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.requests = RequestCounter()
        self._sleep = sleep
        self._parameters: tuple[int, ChainParameters] | None = None
        self._scripts: dict[str, PlutusScript] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # HTTP ----------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        endpoint = f"{method} {template}"
        for attempt in range(self.retry.attempts):
            self.limiter.acquire()
            self.requests.add(endpoint)
            try:
                response = self._client.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TimeoutException as error:
                if not idempotent and not isinstance(error, httpx.ConnectTimeout):
                    raise SubmitOutcomeUnknown(f"{endpoint}: timed out after sending") from error
                self._pause(attempt, None)
                continue
            except httpx.TransportError as error:
                if not idempotent and not isinstance(error, httpx.ConnectError):
                    raise SubmitOutcomeUnknown(f"{endpoint}: connection lost: {error}") from error
                self._pause(attempt, None)
                continue
            if response.status_code in RETRIED_STATUSES:
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            return response
        raise ChainUnavailable(f"{endpoint}: no answer after {self.retry.attempts} attempts")

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        self.requests.add_retry()
        if attempt + 1 < self.retry.attempts:
            self._sleep(self.retry.delay_ms(attempt, retry_after) / 1000)

    def _get(self, template: str, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        response = self._send("GET", template, path, params=params)
        if response.status_code == 404:
            raise ChainNotFound(f"{path}: not found")
        if response.status_code != 200:
            raise ChainError(f"GET {path}: {response.status_code} {_message(response)}")
        return response.json()

    # ChainPort -----------------------------------------------------------------------------

    def tip(self) -> Tip:
        block = self._get("/blocks/latest", "/blocks/latest")
        return Tip(
            block["hash"], block["height"], block["slot"], block["time"] * 1000,
            block.get("previous_block"), block.get("tx_count"),
        )  # fmt: skip

    def block(self, hash_or_height: str | int) -> BlockInfo:
        block = self._get("/blocks/{hash_or_number}", f"/blocks/{hash_or_height}")
        return BlockInfo(
            block["hash"], block["height"], block["slot"], block["time"] * 1000,
            block["confirmations"],
        )  # fmt: skip

    def protocol_parameters(self) -> ChainParameters:
        now = time.monotonic_ns()
        with self._lock:
            if self._parameters is not None and now - self._parameters[0] < PARAMETERS_TTL_NS:
                return self._parameters[1]
        raw = self._get("/epochs/latest/parameters", "/epochs/latest/parameters")
        parameters = parameters_from_blockfrost(raw)
        with self._lock:
            self._parameters = (now, parameters)
        return parameters

    def utxos_at(self, address: str, asset: str | None = None) -> list[UTxO]:
        if asset is None:
            template, path = "/addresses/{address}/utxos", f"/addresses/{address}/utxos"
        else:
            template = "/addresses/{address}/utxos/{asset}"
            path = f"/addresses/{address}/utxos/{asset}"
        try:
            rows = self._all_pages(template, path)
        except ChainNotFound:
            return []  # Blockfrost answers 404 for an address that holds nothing
        return [self._utxo(row) for row in rows]

    def _all_pages(self, template: str, path: str) -> list[Any]:
        rows: list[Any] = []
        page = 1
        while True:
            batch = self._get(template, path, {"page": page, "count": PAGE_SIZE})
            rows.extend(batch)
            if len(batch) < PAGE_SIZE:
                return rows
            page += 1

    def _utxo(self, row: Mapping[str, Any]) -> UTxO:
        txin = TransactionInput.from_primitive([bytes.fromhex(row["tx_hash"]), row["output_index"]])
        output = TransactionOutput(Address.from_primitive(row["address"]), value_of(row["amount"]))
        if row.get("inline_datum"):
            output.datum = RawPlutusData.from_cbor(bytes.fromhex(row["inline_datum"]))
        elif row.get("data_hash"):
            output.datum_hash = DatumHash(bytes.fromhex(row["data_hash"]))
        if row.get("reference_script_hash"):
            output.script = self.plutus_script(row["reference_script_hash"])
        return UTxO(txin, output)

    def transaction(self, tx_hash: str) -> TxInfo:
        tx = self._get("/txs/{hash}", f"/txs/{tx_hash}")
        return TxInfo(
            hash=tx["hash"],
            block_hash=tx["block"],
            block_height=tx["block_height"],
            block_time_ms=tx["block_time"] * 1000,
            slot=tx["slot"],
            index=tx["index"],
            fees=int(tx["fees"]),
            size=tx["size"],
            valid_contract=tx["valid_contract"],
            invalid_before=_optional_int(tx.get("invalid_before")),
            invalid_hereafter=_optional_int(tx.get("invalid_hereafter")),
        )

    def transaction_utxos(self, tx_hash: str) -> TxUtxos:
        raw = self._get("/txs/{hash}/utxos", f"/txs/{tx_hash}/utxos")
        return TxUtxos(
            hash=raw["hash"],
            inputs=[_tx_io(row, row["tx_hash"]) for row in raw["inputs"]],
            outputs=[_tx_io(row, raw["hash"]) for row in raw["outputs"]],
        )

    def transaction_cbor(self, tx_hash: str) -> bytes:
        return bytes.fromhex(self._get("/txs/{hash}/cbor", f"/txs/{tx_hash}/cbor")["cbor"])

    def transaction_metadata(self, tx_hash: str) -> list[TxMetadata]:
        rows = self._get("/txs/{hash}/metadata", f"/txs/{tx_hash}/metadata")
        return [TxMetadata(int(row["label"]), row["json_metadata"]) for row in rows]

    def transaction_redeemers(self, tx_hash: str) -> list[TxRedeemer]:
        rows = self._get("/txs/{hash}/redeemers", f"/txs/{tx_hash}/redeemers")
        return [
            TxRedeemer(
                tx_index=row["tx_index"],
                purpose=row["purpose"],
                script_hash=row["script_hash"],
                redeemer_data_hash=row["redeemer_data_hash"],
                mem=int(row["unit_mem"]),
                steps=int(row["unit_steps"]),
                fee=int(row["fee"]),
            )
            for row in rows
        ]

    def address_transactions(
        self, address: str, *, page: int = 1, count: int = PAGE_SIZE, newest_first: bool = True
    ) -> list[AddressTx]:
        params: dict[str, str | int] = {
            "page": page,
            "count": count,
            "order": "desc" if newest_first else "asc",
        }
        template = "/addresses/{address}/transactions"
        try:
            rows = self._get(template, f"/addresses/{address}/transactions", params)
        except ChainNotFound:
            return []
        return [
            AddressTx(
                row["tx_hash"], row["tx_index"], row["block_height"], row["block_time"] * 1000
            )
            for row in rows
        ]

    def asset(self, unit: str) -> AssetInfo:
        raw = self._get("/assets/{asset}", f"/assets/{unit}")
        return AssetInfo(
            unit=raw["asset"],
            policy_id=raw["policy_id"],
            asset_name=raw.get("asset_name") or "",
            quantity=int(raw["quantity"]),
            initial_mint_tx_hash=raw["initial_mint_tx_hash"],
            onchain_metadata=raw.get("onchain_metadata"),
        )

    def asset_holders(self, unit: str) -> list[AssetHolder]:
        rows = self._all_pages("/assets/{asset}/addresses", f"/assets/{unit}/addresses")
        return [AssetHolder(row["address"], int(row["quantity"])) for row in rows]

    def policy_assets(
        self, policy_id: str, *, page: int = 1, count: int = PAGE_SIZE
    ) -> list[PolicyAsset]:
        params: dict[str, str | int] = {"page": page, "count": count}
        try:
            rows = self._get("/assets/policy/{policy_id}", f"/assets/policy/{policy_id}", params)
        except ChainNotFound:
            return []
        return [PolicyAsset(row["asset"], int(row["quantity"])) for row in rows]

    def script_cbor(self, script_hash: str) -> bytes:
        return bytes(self.plutus_script(script_hash))

    def plutus_script(self, script_hash: str) -> PlutusScript:
        """A Plutus script by hash, fetched once: the deployed escrow is loaded this way."""
        with self._lock:
            cached = self._scripts.get(script_hash)
        if cached is not None:
            return cached
        kind = self._get("/scripts/{script_hash}", f"/scripts/{script_hash}")["type"]
        if kind not in _SCRIPT_TYPES:
            raise ChainError(f"script {script_hash} is a {kind} script, not Plutus")
        raw = self._get("/scripts/{script_hash}/cbor", f"/scripts/{script_hash}/cbor")["cbor"]
        script = _script_with_hash(_SCRIPT_TYPES[kind], bytes.fromhex(raw), script_hash)
        with self._lock:
            self._scripts[script_hash] = script
        return script

    def submit(self, tx_cbor: bytes) -> str:
        """The tx hash. A timeout after sending raises SubmitOutcomeUnknown: never re-sign then."""
        response = self._send(
            "POST",
            "/tx/submit",
            "/tx/submit",
            content=tx_cbor,
            headers={"Content-Type": "application/cbor"},
            idempotent=False,
        )
        if response.status_code != 200:
            raise TransactionRejected(_message(response))
        tx_hash: str = response.json()
        return tx_hash

    def evaluate(
        self, tx_cbor: bytes, additional_utxos: Sequence[UTxO] = ()
    ) -> dict[str, ExecutionUnits]:
        """Blockfrost's evaluator (Ogmios v5) resolves inputs against the ledger tip, not the
        mempool: the outputs of pending transactions the tx spends go along as its additional
        UTxO set (`/utils/txs/evaluate/utxos`). One the ledger has meanwhile (our view of it
        lagged) is refused as an overlap; it is dropped and the evaluation asked once more."""
        extra = list(additional_utxos)
        if not extra:
            return _execution_units(self._evaluate_plain(tx_cbor))
        result = self._evaluate_with_utxos(tx_cbor, extra)
        overlap = _overlap(result)
        if overlap:
            extra = [utxo for utxo in extra if _reference(utxo) not in overlap]
            result = (
                self._evaluate_with_utxos(tx_cbor, extra)
                if extra
                else self._evaluate_plain(tx_cbor)
            )
        return _execution_units(result)

    def _evaluate_plain(self, tx_cbor: bytes) -> Any:
        response = self._send(
            "POST",
            "/utils/txs/evaluate",
            "/utils/txs/evaluate",
            content=tx_cbor.hex().encode(),
            headers={"Content-Type": "application/cbor"},
        )
        return _evaluation_result(response)

    def _evaluate_with_utxos(self, tx_cbor: bytes, utxos: Sequence[UTxO]) -> Any:
        body = {"cbor": tx_cbor.hex(), "additionalUtxoSet": [ogmios_utxo(u) for u in utxos]}
        response = self._send(
            "POST",
            "/utils/txs/evaluate/utxos",
            "/utils/txs/evaluate/utxos",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _evaluation_result(response)


def _evaluation_result(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise TransactionRejected(_message(response))
    body = response.json()
    return body.get("result", {}) if isinstance(body, dict) else {}


def _execution_units(result: Any) -> dict[str, ExecutionUnits]:
    if not isinstance(result, dict) or "EvaluationResult" not in result:
        raise TransactionRejected(f"evaluation failed: {result}")
    return {
        purpose: ExecutionUnits(units["memory"], units["steps"])
        for purpose, units in result["EvaluationResult"].items()
    }


def _overlap(result: Any) -> set[tuple[str, int]]:
    """The references Ogmios v5 names in an AdditionalUtxoOverlap failure."""
    failure = result.get("EvaluationFailure") if isinstance(result, dict) else None
    overlap = failure.get("AdditionalUtxoOverlap") if isinstance(failure, dict) else None
    if not isinstance(overlap, list):
        return set()
    return {(str(ref["txId"]), int(ref["index"])) for ref in overlap if isinstance(ref, dict)}


def _reference(utxo: UTxO) -> tuple[str, int]:
    return utxo.input.transaction_id.payload.hex(), int(utxo.input.index)


def ogmios_utxo(utxo: UTxO) -> list[dict[str, Any]]:
    """One [TxIn, TxOut] pair of an Ogmios v5 additional UTxO set: `{txId, index}` and
    `{address, value: {coins, assets: {"policy.name": n}}, datumHash | datum, script}`."""
    output = utxo.output
    assets: dict[str, int] = {}
    for policy, named in output.amount.multi_asset.items():
        for name, quantity in named.items():
            key = policy.payload.hex()
            if name.payload:
                key += "." + name.payload.hex()
            assets[key] = int(quantity)
    out: dict[str, Any] = {
        "address": str(output.address),
        "value": {"coins": int(output.amount.coin), "assets": assets},
    }
    if output.datum is not None:
        out["datum"] = output.datum.to_cbor().hex()
    elif output.datum_hash is not None:
        out["datumHash"] = output.datum_hash.payload.hex()
    if output.script is not None:
        language = _OGMIOS_LANGUAGES.get(type(output.script))
        if language is None:
            raise ChainError("a native reference script cannot go in an additional UTxO set")
        out["script"] = {language: bytes(output.script).hex()}
    txin = {"txId": utxo.input.transaction_id.payload.hex(), "index": int(utxo.input.index)}
    return [txin, out]


_OGMIOS_LANGUAGES: dict[type, str] = {
    PlutusV1Script: "plutus:v1",
    PlutusV2Script: "plutus:v2",
    PlutusV3Script: "plutus:v3",
}


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)
    return str(body)


def _optional_int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _tx_io(row: Mapping[str, Any], tx_hash: str) -> TxIo:
    """An input (`tx_hash` of the transaction that made it) or an output (of this one)."""
    return TxIo(
        address=row["address"],
        amount={item["unit"]: int(item["quantity"]) for item in row["amount"]},
        tx_hash=tx_hash,
        output_index=row["output_index"],
        data_hash=row.get("data_hash"),
        inline_datum=row.get("inline_datum"),
        reference_script_hash=row.get("reference_script_hash"),
        collateral=bool(row.get("collateral", False)),
        reference=bool(row.get("reference", False)),
    )


def value_of(amounts: list[Mapping[str, Any]]) -> Value:
    """Blockfrost's `[{unit, quantity}]` as a pycardano Value."""
    coin = 0
    multi = MultiAsset()
    for item in amounts:
        quantity = int(item["quantity"])
        unit = item["unit"]
        if unit == "lovelace":
            coin += quantity
            continue
        policy = ScriptHash(bytes.fromhex(unit[:56]))
        multi.setdefault(policy, Asset())[AssetName(bytes.fromhex(unit[56:]))] = quantity
    return Value(coin, multi)


def _script_with_hash(
    kind: type[PlutusV1Script] | type[PlutusV2Script] | type[PlutusV3Script],
    raw: bytes,
    script_hash: str,
) -> PlutusScript:
    """Blockfrost's `cbor` may carry one CBOR wrapping more than pycardano wants: the hash tells."""
    candidates = [raw]
    try:
        inner = cbor2.loads(raw)
        if isinstance(inner, bytes):
            candidates.append(inner)
    except cbor2.CBORDecodeError:
        pass
    for candidate in candidates:
        script: PlutusScript = kind(candidate)
        if plutus_script_hash(script).payload.hex() == script_hash:
            return script
    raise ChainError(f"script bytes served for {script_hash} do not hash to it")


def parameters_from_blockfrost(raw: Mapping[str, Any]) -> ChainParameters:
    """Blockfrost's /epochs/latest/parameters for pycardano. Prices arrive as JSON numbers: read
    through their decimal text so 0.0577 is 577/10000, not a binary fraction."""
    raw_models: dict[str, list[int]] = {
        language: [int(value) for value in values]
        for language, values in (raw.get("cost_models_raw") or {}).items()
    }
    # Keys that sort in ledger order: pycardano serialises V2/V3 in insertion order, V1 sorted.
    cost_models = {
        language: {f"{index:03d}": value for index, value in enumerate(values)}
        for language, values in raw_models.items()
    }
    coins_per_byte = int(raw.get("coins_per_utxo_size") or raw.get("coins_per_utxo_word") or 4310)
    parameters = ProtocolParameters(
        min_fee_constant=int(raw["min_fee_b"]),
        min_fee_coefficient=int(raw["min_fee_a"]),
        max_block_size=int(raw["max_block_size"]),
        max_tx_size=int(raw["max_tx_size"]),
        max_block_header_size=int(raw["max_block_header_size"]),
        key_deposit=int(raw["key_deposit"]),
        pool_deposit=int(raw["pool_deposit"]),
        pool_influence=_exact(raw["a0"]),
        monetary_expansion=_exact(raw["rho"]),
        treasury_expansion=_exact(raw["tau"]),
        decentralization_param=_exact(raw.get("decentralisation_param") or 0),
        extra_entropy=raw.get("extra_entropy") or "",
        protocol_major_version=int(raw["protocol_major_ver"]),
        protocol_minor_version=int(raw["protocol_minor_ver"]),
        min_utxo=int(raw.get("min_utxo") or 0),
        min_pool_cost=int(raw["min_pool_cost"]),
        price_mem=_exact(raw["price_mem"]),
        price_step=_exact(raw["price_step"]),
        max_tx_ex_mem=int(raw["max_tx_ex_mem"]),
        max_tx_ex_steps=int(raw["max_tx_ex_steps"]),
        max_block_ex_mem=int(raw["max_block_ex_mem"]),
        max_block_ex_steps=int(raw["max_block_ex_steps"]),
        max_val_size=int(raw["max_val_size"]),
        collateral_percent=int(raw["collateral_percent"]),
        max_collateral_inputs=int(raw["max_collateral_inputs"]),
        coins_per_utxo_word=int(raw.get("coins_per_utxo_word") or coins_per_byte * 8),
        coins_per_utxo_byte=coins_per_byte,
        cost_models=cost_models,
        maximum_reference_scripts_size={"bytes": 200 * 1024},
        min_fee_reference_scripts={
            "base": _exact(raw.get("min_fee_ref_script_cost_per_byte") or 15),
            "range": 25_600,
            "multiplier": Fraction(12, 10),
        },
    )
    return ChainParameters(parameters, raw_models, coins_per_byte)


def _exact(number: Any) -> Fraction:
    return Fraction(str(number))
