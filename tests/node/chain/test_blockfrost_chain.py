"""BlockfrostChain against a devnet over real HTTP; Blockfrost's faults injected at the boundary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pycardano import TransactionBuilder, TransactionOutput, Value
from sqlalchemy import Engine
from sqlmodel import Session

from devnet.server import DevnetServer
from node.app import create_app
from node.bootstrap import open_chain
from node.chain.blockfrost import BlockfrostChain, RetryPolicy
from node.chain.context import PortChainContext
from node.chain.port import (
    ChainNotFound,
    ChainUnavailable,
    SubmitOutcomeUnknown,
    TransactionRejected,
)
from node.chain.ratelimit import TokenBucket
from node.crypto import SecretBox
from node.runtime import Runtime
from tests.conftest import TEST_ENCRYPTION_KEY, make_key, settings_for
from tests.devnet.http_helpers import HttpWallet, funded_wallet, multi_asset, usdm_unit
from tests.node.chain.conftest import no_sleep

ADA = 1_000_000


class FaultyTransport(httpx.BaseTransport):
    """The real transport, behind a script of faults: status codes or exceptions, in order."""

    def __init__(self, faults: list[int | Callable[[httpx.Request], Exception]]) -> None:
        self.inner = httpx.HTTPTransport()
        self.faults = list(faults)
        self.seen: list[str] = []
        self.delivered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, int):
                return httpx.Response(
                    fault, json={"status_code": fault, "error": "x", "message": "injected"}
                )
            error = fault(request)
            if isinstance(error, httpx.ReadTimeout):
                # the request reached the server; only the answer is lost
                self.inner.handle_request(request).read()
                self.delivered += 1
            raise error
        return self.inner.handle_request(request)


def faulty_chain(
    devnet: DevnetServer, transport: httpx.BaseTransport, attempts: int = 5
) -> BlockfrostChain:
    return BlockfrostChain(
        devnet.url + "/api", "chain-tests", retry=RetryPolicy(attempts=attempts),
        transport=transport, sleep=no_sleep,
    )  # fmt: skip


def transfer(chain: BlockfrostChain, payer: HttpWallet, to: str, lovelace: int) -> bytes:
    builder = TransactionBuilder(PortChainContext(chain, 0))
    builder.add_input_address(payer.address)
    builder.add_output(TransactionOutput.from_primitive([to, lovelace]))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    return bytes(tx.to_cbor())


def test_reads_the_chain(
    chain: BlockfrostChain, alice: HttpWallet, devnet_http: httpx.Client
) -> None:
    tip = chain.tip()
    assert tip.height >= 1 and tip.time_ms % 1000 == 0
    utxos = chain.utxos_at(str(alice.address))
    assert sum(u.output.amount.coin for u in utxos) == 500 * ADA
    unit = usdm_unit(devnet_http)
    with_usdm = chain.utxos_at(str(alice.address), unit)
    assert len(with_usdm) == 1
    tx_hash = with_usdm[0].input.transaction_id.payload.hex()
    info = chain.transaction(tx_hash)
    assert info.hash == tx_hash and info.block_height <= tip.height and info.fees > 0
    ios = chain.transaction_utxos(tx_hash)
    assert any(out.amount.get(unit) == 50_000_000 for out in ios.outputs)
    assert chain.block(info.block_height).hash == info.block_hash
    assert chain.asset(unit).quantity > 0
    assert chain.address_transactions(str(alice.address))[0].tx_hash == tx_hash


def test_unknown_things_are_not_found(chain: BlockfrostChain) -> None:
    with pytest.raises(ChainNotFound):
        chain.transaction("00" * 32)
    empty = "addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerspjrlsz"
    assert chain.utxos_at(empty) == []


def test_parameters_are_exact_and_cached(chain: BlockfrostChain) -> None:
    first = chain.protocol_parameters()
    second = chain.protocol_parameters()
    assert first is second
    assert chain.requests.snapshot()["GET /epochs/latest/parameters"] == 1
    assert (
        first.pycardano.price_mem.numerator == 577
        and first.pycardano.price_mem.denominator == 10_000
    )
    assert len(first.cost_models_raw["PlutusV3"]) == 297
    keys = list(first.pycardano.cost_models["PlutusV3"])
    assert keys == sorted(keys)  # ledger order survives pycardano's serialisation


def test_builds_and_submits_through_the_port(
    chain: BlockfrostChain, alice: HttpWallet, devnet_http: httpx.Client
) -> None:
    bob = funded_wallet(devnet_http, lovelace=5 * ADA)
    tx_hash = chain.submit(transfer(chain, alice, str(bob.address), 7 * ADA))
    assert chain.transaction(tx_hash).hash == tx_hash
    assert sum(u.output.amount.coin for u in chain.utxos_at(str(bob.address))) == 12 * ADA


def test_usdm_output_built_with_the_port(
    chain: BlockfrostChain, alice: HttpWallet, devnet_http: httpx.Client
) -> None:
    unit = usdm_unit(devnet_http)
    bob = funded_wallet(devnet_http, lovelace=5 * ADA)
    builder = TransactionBuilder(PortChainContext(chain, 0))
    builder.add_input_address(alice.address)
    builder.add_output(TransactionOutput(bob.address, Value(2 * ADA, multi_asset(unit, 1_500_000))))
    tx = builder.build_and_sign([alice.signing_key], change_address=alice.address)
    chain.submit(bytes(tx.to_cbor()))
    assert (
        chain.utxos_at(str(bob.address), unit)[0].output.amount.multi_asset.count(lambda *_: True)
        == 1
    )


def test_rejection_names_the_ledger_rule(chain: BlockfrostChain, alice: HttpWallet) -> None:
    with pytest.raises(TransactionRejected, match="rule malformed"):
        chain.submit(b"\x84\x00")
    signed = transfer(chain, alice, str(alice.address), 3 * ADA)
    chain.submit(signed)
    with pytest.raises(TransactionRejected, match="inputs"):
        chain.submit(signed)  # its inputs are spent now


def test_a_burst_of_429s_and_5xx_is_ridden_out(chain_devnet: DevnetServer) -> None:
    transport = FaultyTransport([429, 429, 500, 503])
    port = faulty_chain(chain_devnet, transport)
    assert port.tip().height >= 0
    assert transport.seen.count("GET /api/v0/blocks/latest") == 5
    assert port.requests.retries == 4


def test_gives_up_after_the_last_attempt(chain_devnet: DevnetServer) -> None:
    port = faulty_chain(chain_devnet, FaultyTransport([502] * 3), attempts=3)
    with pytest.raises(ChainUnavailable, match="3 attempts"):
        port.tip()


def test_read_timeouts_are_retried(chain_devnet: DevnetServer) -> None:
    timeout = lambda request: httpx.ReadTimeout("slow", request=request)  # noqa: E731
    port = faulty_chain(chain_devnet, FaultyTransport([timeout, timeout]))
    assert port.tip().height >= 0


def test_submit_timeout_is_outcome_unknown_and_the_tx_landed(
    chain_devnet: DevnetServer, chain: BlockfrostChain, alice: HttpWallet
) -> None:
    timeout = lambda request: httpx.ReadTimeout("lost answer", request=request)  # noqa: E731
    transport = FaultyTransport([timeout])
    port = faulty_chain(chain_devnet, transport)
    signed = transfer(chain, alice, str(alice.address), 4 * ADA)
    with pytest.raises(SubmitOutcomeUnknown):
        port.submit(signed)
    assert transport.delivered == 1
    assert transport.seen.count("POST /api/v0/tx/submit") == 1  # never sent twice by the port
    from pycardano import Transaction

    tx_hash = Transaction.from_cbor(signed).id.payload.hex()
    assert chain.transaction(tx_hash).hash == tx_hash


def test_submit_retries_when_the_request_never_left(
    chain_devnet: DevnetServer, chain: BlockfrostChain, alice: HttpWallet
) -> None:
    refused = lambda request: httpx.ConnectError("refused", request=request)  # noqa: E731
    port = faulty_chain(chain_devnet, FaultyTransport([refused, 503]))
    tx_hash = port.submit(transfer(chain, alice, str(alice.address), 2 * ADA))
    assert chain.transaction(tx_hash).hash == tx_hash


def test_requests_are_counted_per_endpoint(chain: BlockfrostChain, alice: HttpWallet) -> None:
    chain.tip()
    chain.tip()
    chain.utxos_at(str(alice.address))
    counts = chain.requests.snapshot()
    assert counts["GET /blocks/latest"] == 2
    assert counts["GET /addresses/{address}/utxos"] == 1
    assert chain.requests.total == 3


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = [0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += int(seconds * 1_000_000_000)

    bucket = TokenBucket(10, 5, clock_ns=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert slept == []
    bucket.acquire()
    assert slept == [0.1]
    clock[0] += 1_000_000_000  # a second refills 10, capped at the burst of 5
    for _ in range(5):
        bucket.acquire()
    assert slept == [0.1]


def test_token_bucket_is_shared_by_threads() -> None:
    clock = [0]
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock[0] += int(seconds * 1_000_000_000)

    bucket = TokenBucket(100, 10, clock_ns=lambda: clock[0], sleep=sleep)
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 50 tokens: 10 from the burst, 40 refilled at 100/s -> at least 0.4 s of (simulated) waiting
    assert clock[0] >= 400_000_000


def test_node_shows_its_blockfrost_requests(
    chain_devnet: DevnetServer, engine: Engine, session: Session, tmp_path: Path
) -> None:
    settings = settings_for("sqlite://", tmp_path, blockfrost_url=chain_devnet.url + "/api")
    chain = open_chain(settings)
    chain.tip()
    chain.tip()
    box = SecretBox(TEST_ENCRYPTION_KEY)
    runtime = Runtime(settings, settings.profile(), engine, box, chain)
    token = make_key(session, box, permission="Read")
    answer = TestClient(create_app(runtime)).get("/api/v1/metrics", headers={"token": token})
    blockfrost = answer.json()["data"]["blockfrost"]
    assert blockfrost["requests"] == {"GET /blocks/latest": 2}
    assert blockfrost["total"] == 2 and blockfrost["retries"] == 0
