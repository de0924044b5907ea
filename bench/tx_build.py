"""How fast the chain layer builds and signs each transaction, and how many Blockfrost requests
one action costs in steady state.

An in-process devnet (manual mode) serves Blockfrost's API over HTTP; the builders read it through
BlockfrostChain, as the node does. Escrows are first brought into the state each action needs,
then every builder runs many times against the same chain state (nothing is submitted). Latency
is build-and-sign, measured with evaluation excluded (execution units given up front, taken from
one evaluated build) and included (pycardano asks Blockfrost's evaluate endpoint). Requests per
action are the counter's delta over the timed runs, after a warm-up.

    .venv/bin/python bench/tx_build.py [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# The node's package first, as `paynode` loads it: it chooses how pycardano checks types.
importlib.import_module("node")

import httpx  # noqa: E402  (after the sys.path line: runs from a checkout)
from pycardano import (  # noqa: E402
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    ScriptHash,
    Transaction,
    TransactionInput,
    UTxO,
    Value,
)

from contracts.datums import EscrowDatum, PlutusAddress  # noqa: E402
from contracts.params import registry_policy  # noqa: E402
from devnet.server import DevnetConfig, DevnetServer  # noqa: E402
from node.chain.blockfrost import BlockfrostChain  # noqa: E402
from node.chain.builders import (  # noqa: E402
    BuiltTx,
    EscrowBuilders,
    LockRequest,
)
from node.chain.context import PortChainContext  # noqa: E402
from node.chain.registry_builders import RegistryBuilders  # noqa: E402
from tests.node.chain import escrow_world as world  # noqa: E402

ADA, MINUTE_MS, HOUR_MS = world.ADA, world.MINUTE_MS, world.HOUR_MS
GOAL_LOCK_MS = 50.0
GOAL_REQUESTS = 3.0


BUYER, SELLER, ADMINS = world.BUYER, world.SELLER, world.ADMINS

Build = Callable[[ExecutionUnits | None], BuiltTx]


@dataclass(frozen=True)
class Row:
    name: str
    median_ms: float
    p90_ms: float
    per_s: float
    eval_median_ms: float
    eval_p90_ms: float
    requests: float
    eval_requests: float
    endpoints: str


class Bench:
    def __init__(self, devnet: DevnetServer) -> None:
        self.devnet = devnet
        self.http = httpx.Client(base_url=devnet.url, timeout=60)
        self.unit: str = self.http.get("/devnet/info").json()["usdm"]["unit"]
        self.slots = world.devnet_slot_config(self.http)
        # No throttling here: what is measured is the builders, not the token bucket.
        self.chain = BlockfrostChain(
            devnet.url + "/api", "bench", rate_per_s=100_000, burst=100_000
        )
        contract = world.parties_contract()
        self.context = PortChainContext(self.chain, 0)
        clock = self._now
        self.escrow = EscrowBuilders(self.context, contract, self.slots, clock=clock)
        policy = registry_policy(str(contract.address))
        self.registry = RegistryBuilders(
            self.context, policy.plutus_script, policy.hash, clock=clock, slot_config=self.slots
        )
        self.policy_id = policy.hash
        world.fund_parties(self.http, self.unit, 2_000 * ADA, 1_000_000_000)

    def _now(self) -> int:
        return self.devnet.ledger.now_ms

    def usdm(self, quantity: int) -> MultiAsset:
        policy, name = bytes.fromhex(self.unit[:56]), bytes.fromhex(self.unit[56:])
        return MultiAsset({ScriptHash(policy): Asset({AssetName(name): quantity})})

    def purchase(self, label: str, *hours: int) -> LockRequest:
        now = self._now()
        pay_by, submit, unlock, dispute = (now + h * HOUR_MS for h in hours)
        datum = EscrowDatum.make(
            buyer=PlutusAddress.from_address(BUYER.address),
            seller=PlutusAddress.from_address(SELLER.address),
            reference_key=bytes(40),
            reference_signature=bytes(120),
            seller_nonce=hashlib.sha256(label.encode()).digest(),
            buyer_nonce=bytes.fromhex("00112233445566778899"),
            collateral_return_lovelace=0,
            input_hash=hashlib.sha256(b"input " + label.encode()).digest(),
            pay_by_time=pay_by,
            submit_result_time=submit,
            unlock_time=unlock,
            external_dispute_unlock_time=dispute,
        )
        return LockRequest(
            datum, Value(0, self.usdm(10_000_000)), hashlib.sha256(label.encode()).hexdigest()
        )

    def submit(self, built: BuiltTx) -> Transaction:
        assert self.chain.submit(built.cbor) == built.tx_hash
        return built.tx

    def advance(self, ms: int) -> None:
        self.http.post("/devnet/time", json={"advance_seconds": -(-ms // 1000)}).raise_for_status()
        self.http.post("/devnet/blocks", json={"count": 1}).raise_for_status()


def utxo(tx: Transaction, index: int) -> UTxO:
    return UTxO(TransactionInput(tx.id, index), tx.transaction_body.outputs[index])


def prepare(bench: Bench) -> dict[str, Build]:
    """Escrows in every state an action needs, all usable at one moment (T0 + 4 h 10 min)."""
    e, result = bench.escrow, hashlib.sha256(b"bench result").digest()
    collect = bench.purchase("collect", 1, 2, 3, 4)
    refund = bench.purchase("refund", 1, 2, 3, 4)
    dispute = bench.purchase("dispute", 1, 2, 3, 4)
    late = bench.purchase("late", 1, 6, 7, 8)
    requested = bench.purchase("requested", 1, 6, 7, 8)
    lock = bench.submit(e.lock(BUYER, [collect, refund, dispute, late, requested]))
    collect_utxo = utxo(
        bench.submit(e.submit_result(SELLER, utxo(lock, 0), result, collect.request_id)), 0
    )
    with_result = bench.submit(e.submit_result(SELLER, utxo(lock, 2), result, dispute.request_id))
    dispute_utxo = utxo(
        bench.submit(e.set_refund_requested(BUYER, utxo(with_result, 0), dispute.request_id)), 0
    )
    requested_utxo = utxo(
        bench.submit(e.set_refund_requested(BUYER, utxo(lock, 4), requested.request_id)), 0
    )
    refund_utxo, late_utxo = utxo(lock, 1), utxo(lock, 3)
    minted, asset_name = bench.registry.mint(SELLER, {"name": "Bench agent", "tags": ["bench"]})
    nft = utxo(bench.submit(minted), 0)
    bench.advance(4 * HOUR_MS + 10 * MINUTE_MS)

    one = [bench.purchase("lock-one", 1, 2, 3, 4)]
    ten = [bench.purchase(f"lock-ten-{i}", 1, 2, 3, 4) for i in range(10)]
    half = Value(dispute_utxo.output.amount.coin // 2, bench.usdm(5_000_000))
    metadata = {
        "name": "Bench agent",
        "description": "An agent that exists to be registered many times by a benchmark. " * 2,
        "api_base_url": "https://agents.example.com/bench",
        "author": {"name": "Ada"},
        "tags": ["bench"],
        "image": "ipfs://QmBench",
        "metadata_version": "1",
    }
    return {
        "lock x1": lambda units: e.lock(BUYER, one),
        "lock batched x10": lambda units: e.lock(BUYER, ten),
        "SubmitResult": lambda units: e.submit_result(
            SELLER, late_utxo, result, late.request_id, ex_units=units
        ),
        "SetRefundRequested": lambda units: e.set_refund_requested(
            BUYER, late_utxo, late.request_id, ex_units=units
        ),
        "UnSetRefundRequested": lambda units: e.unset_refund_requested(
            BUYER, requested_utxo, requested.request_id, ex_units=units
        ),
        "AuthorizeRefund": lambda units: e.authorize_refund(
            SELLER, dispute_utxo, dispute.request_id, ex_units=units
        ),
        "WithdrawRefund": lambda units: e.withdraw_refund(
            BUYER, refund_utxo, refund.request_id, ex_units=units
        ),
        "Withdraw": lambda units: e.withdraw(
            SELLER, collect_utxo, collect.request_id, ex_units=units
        ),
        "WithdrawDisputed": lambda units: e.withdraw_disputed(
            ADMINS[:2],
            dispute_utxo,
            dispute.request_id,
            to_buyer=half,
            to_seller=dispute_utxo.output.amount - half,
            ex_units=units,
        ),
        "registry mint": lambda units: bench.registry.mint(SELLER, metadata, ex_units=units)[0],
        "registry burn": lambda units: bench.registry.burn(
            SELLER, nft, bytes.fromhex(asset_name), ex_units=units
        ),
    }


def ex_units_of(built: BuiltTx) -> ExecutionUnits | None:
    redeemers = built.tx.transaction_witness_set.redeemer
    if not redeemers:
        return None
    first = next(iter(redeemers.values())) if hasattr(redeemers, "values") else redeemers[0]
    units = first.ex_units
    return ExecutionUnits(units.mem, units.steps)


def timed(
    bench: Bench, build: Build, units: ExecutionUnits | None, runs: int
) -> tuple[list[float], float, dict[str, float]]:
    for _ in range(3):  # warm-up: caches filled (parameters, scripts), code paths hot
        build(units)
    before = bench.chain.requests.snapshot()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        build(units)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    after = bench.chain.requests.snapshot()
    delta = {k: (after.get(k, 0) - before.get(k, 0)) / runs for k in after}
    delta = {k: v for k, v in delta.items() if v}
    return samples, sum(delta.values()), delta


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def measure(bench: Bench, builds: dict[str, Build], runs: int) -> list[Row]:
    rows = []
    for name, build in builds.items():
        units = ex_units_of(build(None))
        fixed, fixed_requests, endpoints = timed(bench, build, units, runs)
        if units is None:  # no script: nothing to evaluate
            evaluated, eval_requests = fixed, fixed_requests
        else:
            evaluated, eval_requests, _ = timed(bench, build, None, runs)
        rows.append(
            Row(
                name,
                statistics.median(fixed),
                p90(fixed),
                1000 / statistics.mean(fixed),
                statistics.median(evaluated),
                p90(evaluated),
                fixed_requests,
                eval_requests,
                ", ".join(f"{k.split()[1]} {v:g}" for k, v in sorted(endpoints.items())),
            )
        )
    return rows


def print_table(rows: list[Row], runs: int) -> None:
    checks = os.environ.get("PYCARDANO_NO_TYPE_CHECK")
    print(
        f"build-and-sign, {runs} runs each, PYCARDANO_NO_TYPE_CHECK={checks}; "
        "evaluation excluded (ex units given) | included"
    )
    header = (
        f"{'action':<22}{'median ms':>10}{'p90 ms':>8}{'tx/s':>7} |"
        f"{'median ms':>10}{'p90 ms':>8} |{'req/act':>8}{'req/act':>8}  requests (no eval)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.name:<22}{r.median_ms:>10.1f}{r.p90_ms:>8.1f}{r.per_s:>7.0f} |"
            f"{r.eval_median_ms:>10.1f}{r.eval_p90_ms:>8.1f} |{r.requests:>8.2f}"
            f"{r.eval_requests:>8.2f}  {r.endpoints}"
        )
    lock = next(r for r in rows if r.name == "lock x1")
    worst = max(max(r.requests, r.eval_requests) for r in rows)
    print(
        f"\ngoals: lock x1 median {lock.median_ms:.1f} ms (goal < {GOAL_LOCK_MS:g}): "
        f"{'met' if lock.median_ms < GOAL_LOCK_MS else 'MISSED'}; "
        f"most requests per action {worst:g} (goal <= {GOAL_REQUESTS:g}): "
        f"{'met' if worst <= GOAL_REQUESTS else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    devnet = DevnetServer(DevnetConfig(port=0, block_time_s=None, seed="bench-tx-build"))
    devnet.start()
    try:
        bench = Bench(devnet)
        rows = measure(bench, prepare(bench), args.runs)
        print_table(rows, args.runs)
    finally:
        devnet.stop()


if __name__ == "__main__":
    main()
