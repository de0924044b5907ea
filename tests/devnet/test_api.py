"""The devnet's HTTP API: Blockfrost's shapes (checked against its OpenAPI spec), paging,
errors, concurrency, the control API, and restarts from a state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator
from pycardano import TransactionBuilder, TransactionOutput

from devnet.ledger import Ledger
from devnet.server import DevnetConfig, DevnetServer
from tests.devnet.http_helpers import (
    ADA,
    HEADERS,
    OPENAPI_PATH,
    ChainStory,
    HttpWallet,
    blockfrost_api,
    chain_context,
    faucet,
    free_port,
    funded_wallet,
    load_openapi,
    resolve_refs,
    response_schema,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CBOR = {"Content-Type": "application/cbor"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = load_openapi()
    if loaded is None:
        pytest.skip(f"Blockfrost's OpenAPI spec is not at {OPENAPI_PATH}")
    return loaded


def assert_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"status_code", "error", "message"}
    assert body["status_code"] == status
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    return body


def utxos(client: httpx.Client, address: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v0/addresses/{address}/utxos")
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def signed_transfer(devnet_url: str, payer: HttpWallet, lovelace: int = 2 * ADA) -> bytes:
    context = chain_context(devnet_url)
    builder = TransactionBuilder(context)
    builder.add_input_address(payer.address)
    builder.add_output(TransactionOutput(HttpWallet.generate().address, lovelace))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    return bytes(tx.to_cbor())


# ---------------------------------------------------------------------------------------------
# Shapes


def endpoint_calls(story: ChainStory, latest_hash: str) -> list[tuple[str, str]]:
    """(spec path template, concrete path) for every GET endpoint of docs/blockfrost.md."""
    asset, nft, datum = story.usdm_unit, story.nft_unit, story.lock_datum_hash
    bob, alice = story.bob.bech32, story.alice.bech32
    return [
        ("/", "/"),
        ("/health", "/health"),
        ("/network", "/network"),
        ("/blocks/latest", "/blocks/latest"),
        ("/blocks/{hash_or_number}", f"/blocks/{latest_hash}"),
        ("/blocks/{hash_or_number}", "/blocks/0"),
        ("/epochs/latest", "/epochs/latest"),
        ("/epochs/latest/parameters", "/epochs/latest/parameters"),
        ("/genesis", "/genesis"),
        ("/addresses/{address}/utxos", f"/addresses/{alice}/utxos"),
        ("/addresses/{address}/utxos/{asset}", f"/addresses/{bob}/utxos/{asset}"),
        ("/addresses/{address}/transactions", f"/addresses/{alice}/transactions?order=desc"),
        ("/txs/{hash}", f"/txs/{story.spend_tx}"),
        ("/txs/{hash}", f"/txs/{story.transfer_tx}"),
        ("/txs/{hash}/utxos", f"/txs/{story.lock_tx}/utxos"),
        ("/txs/{hash}/utxos", f"/txs/{story.spend_tx}/utxos"),
        ("/txs/{hash}/cbor", f"/txs/{story.spend_tx}/cbor"),
        ("/txs/{hash}/redeemers", f"/txs/{story.spend_tx}/redeemers"),
        ("/txs/{hash}/metadata", f"/txs/{story.transfer_tx}/metadata"),
        ("/txs/{hash}/metadata/cbor", f"/txs/{story.transfer_tx}/metadata/cbor"),
        ("/assets/{asset}", f"/assets/{nft}"),
        ("/assets/{asset}", f"/assets/{asset}"),
        ("/assets/{asset}/addresses", f"/assets/{asset}/addresses"),
        ("/assets/policy/{policy_id}", f"/assets/policy/{story.native_policy_hash}"),
        ("/assets/{asset}/history", f"/assets/{nft}/history"),
        ("/assets/{asset}/transactions", f"/assets/{asset}/transactions"),
        ("/metadata/txs/labels", "/metadata/txs/labels"),
        ("/metadata/txs/labels/{label}", "/metadata/txs/labels/674"),
        ("/metadata/txs/labels/{label}/cbor", "/metadata/txs/labels/674/cbor"),
        ("/scripts/{script_hash}", f"/scripts/{story.escrow_hash}"),
        ("/scripts/{script_hash}", f"/scripts/{story.native_policy_hash}"),
        ("/scripts/{script_hash}/cbor", f"/scripts/{story.escrow_hash}/cbor"),
        ("/scripts/{script_hash}/json", f"/scripts/{story.native_policy_hash}/json"),
        ("/scripts/datum/{datum_hash}", f"/scripts/datum/{datum}"),
        ("/scripts/datum/{datum_hash}/cbor", f"/scripts/datum/{datum}/cbor"),
    ]


def test_every_endpoint_answers_the_spec_shape(
    client: httpx.Client, story: ChainStory, spec: dict[str, Any]
) -> None:
    latest = client.get("/api/v0/blocks/latest").json()["hash"]
    for template, path in endpoint_calls(story, latest):
        answer = client.get("/api/v0" + path)
        assert answer.status_code == 200, f"{path}: {answer.text}"
        body = answer.json()
        assert body, f"{path} answered nothing"
        OAS30Validator(response_schema(spec, template)).validate(body)


def test_submit_and_evaluate_answer_the_spec_shape(
    devnet_url: str, client: httpx.Client, story: ChainStory, spec: dict[str, Any]
) -> None:
    spend_cbor = client.get(f"/api/v0/txs/{story.spend_tx}/cbor").json()["cbor"]
    # inputs already spent: the evaluator cannot build a context, in Ogmios' words
    evaluated = client.post("/api/v0/utils/txs/evaluate", content=spend_cbor, headers=CBOR)
    assert evaluated.status_code == 200
    OAS30Validator(response_schema(spec, "/utils/txs/evaluate", "post")).validate(evaluated.json())
    assert "CannotCreateEvaluationContext" in evaluated.json()["result"]["EvaluationFailure"]
    raw = signed_transfer(devnet_url, funded_wallet(client, 10 * ADA))
    submitted = client.post("/api/v0/tx/submit", content=raw, headers=CBOR)
    assert submitted.status_code == 200, submitted.text
    OAS30Validator(response_schema(spec, "/tx/submit", "post")).validate(submitted.json())
    assert client.get(f"/api/v0/txs/{submitted.json()}").status_code == 200


def test_parameters_serve_named_cost_models_in_ledger_order(client: httpx.Client) -> None:
    params = client.get("/api/v0/epochs/latest/parameters").json()
    for language, raw in params["cost_models_raw"].items():
        assert list(params["cost_models"][language].values()) == raw
    v3_names = list(params["cost_models"]["PlutusV3"])
    assert v3_names[:2] == ["addInteger-cpu-arguments-intercept", "addInteger-cpu-arguments-slope"]
    assert v3_names[-1] == "ripemd_160-memory-arguments"
    assert isinstance(params["price_mem"], float) and params["max_tx_ex_mem"] == "16500000"
    genesis = client.get("/api/v0/genesis").json()
    assert len(genesis) == 10


def test_error_shapes_follow_the_spec(client: httpx.Client, spec: dict[str, Any]) -> None:
    for status in ("400", "403", "404"):
        schema = resolve_refs(spec, spec["components"]["responses"][status])
        validator = OAS30Validator(schema["content"]["application/json"]["schema"])
        answer = {
            "400": lambda: client.get("/api/v0/metadata/txs/labels?count=0"),
            "403": lambda: httpx.get(str(client.base_url) + "/api/v0/blocks/latest"),
            "404": lambda: client.get("/api/v0/nothing/here"),
        }[status]()
        assert answer.status_code == int(status)
        validator.validate(answer.json())


# ---------------------------------------------------------------------------------------------
# Paging and errors


@pytest.fixture(scope="module")
def crowded_address(devnet_url: str, client: httpx.Client) -> tuple[str, str]:
    """An address holding 120 UTxOs, all made by one transaction (output order = chain order)."""
    payer = funded_wallet(client, 400 * ADA)
    receiver = HttpWallet.generate()
    context = chain_context(devnet_url)
    builder = TransactionBuilder(context)
    builder.add_input_address(payer.address)
    for _ in range(120):
        builder.add_output(TransactionOutput(receiver.address, 2 * ADA))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    tx_hash = str(context.submit_tx(tx))
    return receiver.bech32, tx_hash


def test_pages_of_utxos(client: httpx.Client, crowded_address: tuple[str, str]) -> None:
    address, tx_hash = crowded_address

    def page(query: str) -> list[int]:
        answer = client.get(f"/api/v0/addresses/{address}/utxos?{query}")
        assert answer.status_code == 200, answer.text
        assert all(u["tx_hash"] == tx_hash for u in answer.json())
        return [u["output_index"] for u in answer.json()]

    assert page("") == list(range(100))
    assert page("page=2") == list(range(100, 120))
    assert page("page=3") == []
    assert page("count=7&page=3") == list(range(14, 21))
    assert page("order=desc") == list(range(119, 19, -1))
    assert page("order=desc&page=2&count=100") == list(range(19, -1, -1))


def test_clients_gather_every_page(devnet_url: str, crowded_address: tuple[str, str]) -> None:
    address, _ = crowded_address
    assert len(blockfrost_api(devnet_url).address_utxos(address, gather_pages=True)) == 120
    assert len(chain_context(devnet_url).utxos(address)) == 120


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=x", "count=0", "count=101", "count=", "order=up"]
)
def test_bad_paging_is_a_400(client: httpx.Client, story: ChainStory, query: str) -> None:
    body = assert_error(client.get(f"/api/v0/addresses/{story.alice.bech32}/utxos?{query}"), 400)
    assert query.split("=")[0] in body["message"]


def test_malformed_cbor_is_a_400(client: httpx.Client) -> None:
    for content in (b"\x84\x01", b"not cbor at all", b"", bytes.fromhex("a0")):
        body = assert_error(client.post("/api/v0/tx/submit", content=content, headers=CBOR), 400)
        assert body["message"].startswith("rule malformed")
    assert_error(
        client.post("/api/v0/utils/txs/evaluate", content="84zz", headers=CBOR),
        400,
    )


def test_submit_needs_the_cbor_content_type(client: httpx.Client) -> None:
    answer = client.post(
        "/api/v0/tx/submit", content=b"\x84", headers={"Content-Type": "text/plain"}
    )
    assert "Content-Type" in assert_error(answer, 400)["message"]


def test_not_found_answers(client: httpx.Client) -> None:
    assert_error(client.get("/api/v0/no/such/endpoint"), 404)
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.get("/api/v0/txs/" + "00" * 32), 404)
    assert_error(client.get("/api/v0/blocks/999999"), 404)
    assert_error(client.get("/api/v0/assets/" + "11" * 28), 404)
    assert_error(client.get("/api/v0/scripts/" + "22" * 28), 404)
    assert_error(client.get("/api/v0/scripts/datum/" + "33" * 32), 404)
    empty = HttpWallet.generate().bech32
    assert_error(client.get(f"/api/v0/addresses/{empty}/utxos"), 404)


def test_malformed_identifiers_are_a_400(client: httpx.Client) -> None:
    assert_error(client.get("/api/v0/addresses/addr_test1nonsense/utxos"), 400)
    assert_error(client.get("/api/v0/txs/xyz"), 400)
    assert_error(client.get("/api/v0/metadata/txs/labels/abc"), 400)
    assert_error(client.get("/api/v0/assets/policy/1234"), 400)


def test_missing_project_id_is_a_403(client: httpx.Client) -> None:
    base = str(client.base_url)
    assert_error(httpx.get(base + "/api/v0/blocks/latest"), 403)
    assert_error(httpx.get(base + "/api/v0/blocks/latest", headers={"project_id": ""}), 403)
    assert httpx.get(base + "/api/v0/blocks/latest", headers={"project_id": "x"}).status_code == 200


def test_concurrent_double_spend_accepts_exactly_one(devnet_url: str, client: httpx.Client) -> None:
    payer = funded_wallet(client, 20 * ADA)
    first, second = signed_transfer(devnet_url, payer), signed_transfer(devnet_url, payer, 3 * ADA)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def submit(raw: bytes) -> None:
        with httpx.Client(base_url=devnet_url, headers=HEADERS) as own:
            barrier.wait()
            statuses.append(own.post("/api/v0/tx/submit", content=raw, headers=CBOR).status_code)

    threads = [threading.Thread(target=submit, args=(raw,)) for raw in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400]


def test_rejection_names_the_ledger_rule(devnet_url: str, client: httpx.Client) -> None:
    payer = funded_wallet(client, 20 * ADA)
    raw = signed_transfer(devnet_url, payer)
    assert client.post("/api/v0/tx/submit", content=raw, headers=CBOR).status_code == 200
    again = assert_error(client.post("/api/v0/tx/submit", content=raw, headers=CBOR), 400)
    assert again["message"].startswith("rule ")


# ---------------------------------------------------------------------------------------------
# Control API


def tip(client: httpx.Client) -> dict[str, Any]:
    latest: dict[str, Any] = client.get("/api/v0/blocks/latest").json()
    return latest


def test_time_moves_only_on_request_and_blocks_follow(client: httpx.Client) -> None:
    before = client.get("/devnet/info").json()
    moved = client.post("/devnet/time", json={"advance_seconds": 120})
    assert moved.status_code == 200
    assert moved.json()["slot"] == before["current_slot"] + 120
    assert tip(client)["height"] == before["tip"]["height"]
    made = client.post("/devnet/blocks", json={"count": 2}).json()
    assert [b["height"] for b in made["blocks"]] == [
        before["tip"]["height"] + 1,
        before["tip"]["height"] + 2,
    ]
    assert tip(client)["slot"] == before["current_slot"] + 120


def test_rollback_restores_the_exact_utxo_set(client: httpx.Client) -> None:
    wallet = funded_wallet(client, 10 * ADA)
    before = utxos(client, wallet.bech32)
    hashes = [faucet(client, wallet.bech32, 3 * ADA), faucet(client, wallet.bech32, 4 * ADA)]
    after = utxos(client, wallet.bech32)
    assert len(after) == 3
    undone = client.post("/devnet/rollback", json={"blocks": 2})
    assert undone.status_code == 200, undone.text
    assert undone.json()["tx_hashes"] == hashes
    assert utxos(client, wallet.bech32) == before
    assert_error(client.get(f"/api/v0/txs/{hashes[0]}"), 404)
    # the transactions went back to the mempool: the next block has them again
    client.post("/devnet/blocks", json={"count": 1})
    restored = utxos(client, wallet.bech32)
    assert sorted((u["tx_hash"], u["output_index"]) for u in restored) == sorted(
        (u["tx_hash"], u["output_index"]) for u in after
    )


def test_rollback_with_drop_discards(client: httpx.Client) -> None:
    wallet = funded_wallet(client, 10 * ADA)
    before = utxos(client, wallet.bech32)
    faucet(client, wallet.bech32, 3 * ADA)
    assert client.post("/devnet/rollback", json={"blocks": 1, "drop": True}).status_code == 200
    client.post("/devnet/blocks", json={"count": 1})
    assert utxos(client, wallet.bech32) == before


def test_faucet_pays_lovelace_and_usdm(client: httpx.Client) -> None:
    info = client.get("/devnet/info").json()
    unit = info["usdm"]["unit"]
    assert info["usdm"]["decimals"] == 6 and info["network_id"] == 0
    assert set(info["slot_config"]) == {"zero_time_ms", "zero_slot", "slot_length_ms"}
    wallet = HttpWallet.generate()
    tx_hash = faucet(client, wallet.bech32, 5 * ADA, {unit: 42_000_000})
    (utxo,) = utxos(client, wallet.bech32)
    assert utxo["tx_hash"] == tx_hash
    assert {a["unit"]: a["quantity"] for a in utxo["amount"]} == {
        "lovelace": str(5 * ADA),
        unit: "42000000",
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/devnet/time", {"advance_seconds": -1}, "advance_seconds"),
        ("/devnet/time", {"advance_seconds": "10"}, "advance_seconds"),
        ("/devnet/blocks", {}, "count"),
        ("/devnet/blocks", {"count": 0}, "count"),
        ("/devnet/rollback", {"blocks": 1, "drop": "yes"}, "drop"),
        ("/devnet/rollback", {"blocks": 10**9}, "roll back"),
        ("/devnet/faucet", {"lovelace": 1}, "address"),
        ("/devnet/faucet", {"address": "addr_test1xyz", "lovelace": 5}, "address"),
        ("/devnet/faucet", {"address": None, "lovelace": 5}, "address"),
        ("/devnet/faucet", {"address": "ADDRESS", "lovelace": True}, "lovelace"),
        ("/devnet/faucet", {"address": "ADDRESS", "lovelace": 5, "assets": []}, "assets"),
        ("/devnet/faucet", {"address": "ADDRESS", "lovelace": 5 * ADA, "assets": {"zz": 1}}, "zz"),
    ],
)
def test_bad_control_bodies_are_a_400_naming_the_field(
    client: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    if body.get("address") == "ADDRESS":
        body = {**body, "address": HttpWallet.generate().bech32}
    assert field in assert_error(client.post(path, json=body), 400)["message"]
    assert "body" in assert_error(client.post(path, content=b"[1,"), 400)["message"]


# ---------------------------------------------------------------------------------------------
# The server program


@pytest.fixture
def devnet_process(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(state: Path, port: int) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devnet",
                "--state",
                str(state),
                "--port",
                str(port),
                "--manual",
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        _wait_healthy(f"http://127.0.0.1:{port}", process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"devnet exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(base + "/api/v0/health", headers=HEADERS).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("devnet did not start in 60 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_restart_from_state_keeps_the_chain(tmp_path: Path, devnet_process: Any) -> None:
    state, port = tmp_path / "devnet.json", free_port()
    base = f"http://127.0.0.1:{port}"
    process = devnet_process(state, port)
    wallet = HttpWallet.generate()
    with httpx.Client(base_url=base, headers=HEADERS) as http:
        tx_hash = faucet(http, wallet.bech32, 7 * ADA)
        before = utxos(http, wallet.bech32)
        tip_before = tip(http)
    output = _stop(process)
    assert f"{base}/api/v0" in output and "USDM unit" in output and "genesis wallet" in output
    assert state.exists()
    devnet_process(state, port)
    with httpx.Client(base_url=base, headers=HEADERS) as http:
        assert utxos(http, wallet.bech32) == before
        assert before[0]["tx_hash"] == tx_hash
        assert tip(http)["hash"] == tip_before["hash"]


def test_realtime_mode_forges_blocks_on_its_own(tmp_path: Path) -> None:
    state = tmp_path / "realtime.json"
    config = DevnetConfig(port=0, block_time_s=0.2, state_path=state, seed="realtime-test")
    server = DevnetServer(config)
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS) as http:
            assert http.get("/devnet/info").json()["mode"] == "realtime"
            tx_hash = faucet(http, HttpWallet.generate().bech32, 3 * ADA)
            deadline = time.monotonic() + 10
            while http.get(f"/api/v0/txs/{tx_hash}").status_code != 200:
                assert time.monotonic() < deadline, "no block took the transaction"
                time.sleep(0.1)
    finally:
        server.stop()
    # saved (on shutdown at the latest), block and transaction included
    assert Ledger.load(str(state)).transaction(tx_hash).hash == tx_hash
