"""How fast the devnet validates and applies transactions, in process (`Ledger.submit`).

Every transaction is built and signed first, against disjoint inputs, so that only validation
(phase 1, phase 2) and applying (a block per submit in manual mode) are timed.

    .venv/bin/python bench/devnet_validate.py [--transfers N] [--spends N]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pycardano import (  # noqa: E402  (after the sys.path line: runs from a checkout)
    Address,
    Network,
    PaymentSigningKey,
    PlutusData,
    PlutusV3Script,
    Redeemer,
    TransactionBuilder,
    TransactionOutput,
    plutus_script_hash,
)

from devnet.context import LedgerChainContext  # noqa: E402
from devnet.genesis import Genesis  # noqa: E402
from devnet.ledger import Ledger  # noqa: E402
from devnet.params import ProtocolParams  # noqa: E402

ADA = 1_000_000
ESCROW_PATH = REPO_ROOT / "tests" / "devnet" / "scripts" / "escrow.v3.cbor.hex"
TARGETS_MS = {"transfer": 10.0, "Plutus V3 spend": 150.0}


@dataclass
class EscrowDatum(PlutusData):  # type: ignore[misc]  # pycardano is untyped
    CONSTR_ID = 0
    owner: bytes
    deadline: int


@dataclass
class Claim(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0


@dataclass(frozen=True)
class Result:
    name: str
    count: int
    median_ms: float
    p90_ms: float
    tx_per_s: float


def key(label: str) -> PaymentSigningKey:
    return PaymentSigningKey(hashlib.blake2b(label.encode(), digest_size=32).digest())


def address_of(signing_key: PaymentSigningKey) -> Address:
    return Address(signing_key.to_verification_key().hash(), network=Network.TESTNET)


def fresh_ledger(wallets: Sequence[PaymentSigningKey]) -> Ledger:
    funded = {str(address_of(k)): 100 * ADA for k in wallets}
    return Ledger(ProtocolParams.load(), Genesis(seed="bench", funded=funded), mode="manual")


def build_transfers(ledger: Ledger, wallets: Sequence[PaymentSigningKey]) -> list[bytes]:
    context = LedgerChainContext(ledger)
    receiver = address_of(key("receiver"))
    built = []
    for wallet in wallets:
        builder = TransactionBuilder(context)
        builder.add_input_address(address_of(wallet))
        builder.add_output(TransactionOutput(receiver, 5 * ADA))
        tx = builder.build_and_sign([wallet], change_address=address_of(wallet))
        built.append(bytes(tx.to_cbor()))
    return built


def build_claims(
    ledger: Ledger, wallets: Sequence[PaymentSigningKey], escrow: PlutusV3Script
) -> list[bytes]:
    """Lock one escrow output per wallet (submitted, not timed), then build each claim."""
    context = LedgerChainContext(ledger)
    escrow_address = Address(plutus_script_hash(escrow), network=Network.TESTNET)
    funder = ledger.genesis.wallet_signing_key
    builder = TransactionBuilder(context)
    builder.add_input_address(ledger.genesis.wallet_address)
    for wallet in wallets:
        datum = EscrowDatum(
            bytes(wallet.to_verification_key().hash().payload), ledger.slot_to_ms(0)
        )
        builder.add_output(TransactionOutput(escrow_address, 10 * ADA, datum=datum))
    lock = builder.build_and_sign([funder], change_address=ledger.genesis.wallet_address)
    ledger.submit(bytes(lock.to_cbor()))
    ledger.advance_time(10)
    locked = context.utxos(escrow_address)
    slot = ledger.current_slot
    built = []
    for wallet, utxo in zip(wallets, locked, strict=True):
        claim = TransactionBuilder(context)
        claim.add_script_input(utxo, script=escrow, redeemer=Redeemer(Claim()))
        claim.add_input_address(address_of(wallet))
        claim.required_signers = [wallet.to_verification_key().hash()]
        claim.validity_start, claim.ttl = slot, slot + 3_600
        tx = claim.build_and_sign([wallet], change_address=address_of(wallet))
        built.append(bytes(tx.to_cbor()))
    return built


def time_submits(name: str, ledger: Ledger, txs: Sequence[bytes]) -> Result:
    durations_ms = []
    started = time.perf_counter()
    for raw in txs:
        begin = time.perf_counter()
        ledger.submit(raw)
        durations_ms.append((time.perf_counter() - begin) * 1000)
    total_s = time.perf_counter() - started
    ordered = sorted(durations_ms)
    return Result(
        name=name,
        count=len(txs),
        median_ms=statistics.median(ordered),
        p90_ms=ordered[int(0.9 * (len(ordered) - 1))],
        tx_per_s=len(txs) / total_s,
    )


def run(name: str, count: int, prepare: Callable[[Ledger, list[PaymentSigningKey]], Any]) -> Result:
    wallets = [key(f"{name}/{i}") for i in range(count)]
    ledger = fresh_ledger(wallets)
    txs = prepare(ledger, wallets)
    return time_submits(name, ledger, txs)


def print_table(results: Sequence[Result]) -> None:
    print(f"{'transaction':<18}{'n':>5}{'median ms':>12}{'p90 ms':>10}{'tx/s':>9}{'target ms':>11}")
    for r in results:
        target = TARGETS_MS[r.name]
        verdict = "ok" if r.median_ms < target else "SLOW"
        print(
            f"{r.name:<18}{r.count:>5}{r.median_ms:>12.2f}{r.p90_ms:>10.2f}{r.tx_per_s:>9.1f}"
            f"{f'< {target:g}':>11} {verdict}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=200)
    parser.add_argument("--spends", type=int, default=30)
    args = parser.parse_args(argv)
    escrow = PlutusV3Script(bytes.fromhex(ESCROW_PATH.read_text().strip()))
    results = [
        run("transfer", args.transfers, build_transfers),
        run("Plutus V3 spend", args.spends, lambda ledger, w: build_claims(ledger, w, escrow)),
    ]
    print_table(results)


if __name__ == "__main__":
    main()
