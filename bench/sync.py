"""The chain mirror's catch-up speed and the billing queries' latency.

1. Catch-up: an in-process devnet (manual mode, a block per submit) gets N escrow transactions
   (locks, one escrow output each, and the seller's SubmitResult after every Kth); an empty
   SQLite database then catches up from nothing. Prints transactions per second and Blockfrost
   requests per tx.
2. Billing latency (PostgreSQL, PAYNODE_TEST_DATABASE_URL or --postgres): synthetic mirror rows
   bulk-inserted (10,000 then 1,000,000), running balances as the sync keeps them; balance and
   usage (first page and a deep keyset page for one agent) timed through the billing service.

    .venv/bin/python bench/sync.py [--txs N] [--result-every K] [--rows 10000,1000000]
                                   [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
importlib.import_module("node")  # the node's package first, as `paynode` loads it

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from node.billing import service as billing  # noqa: E402
from node.db import migrate  # noqa: E402
from node.db.engine import make_engine, normalise_url  # noqa: E402
from tests.node.chain.escrow_world import BUYER, SELLER  # noqa: E402
from tests.node.sync.world import Mirror, purchase, sync_world  # noqa: E402

AGENT = "ab" * 28 + "01"
USDM = "a0" * 28 + "0014df105553444d"
RESULT = hashlib.sha256(b"bench result").digest()


def catch_up(count: int, result_every: int) -> list[tuple[str, str]]:
    """`count` escrow transactions: locks, and after every `result_every`-th lock the seller's
    SubmitResult on it (a script spend, classified from its recorded escrow input)."""
    with sync_world("bench-sync") as escrow:
        funding = {
            "address": str(BUYER.address),
            "lovelace": (count + 10) * 4_000_000,
            # one USDM per lock: the parties' own 1,000 USDM would run out
            "assets": {escrow.unit: (count + 10) * 1_000_000},
        }
        escrow.http.post("/devnet/faucet", json=funding).raise_for_status()
        if result_every:  # the seller pays each SubmitResult's fee (under 1 ADA with the script)
            results = count // result_every + 10
            seller = {"address": str(SELLER.address), "lovelace": results * 1_000_000}
            escrow.http.post("/devnet/faucet", json=seller).raise_for_status()
        started, made = time.monotonic(), 0
        while made < count:
            job = purchase(escrow, f"bench-{made}", 1_000_000)
            lock = escrow.submit(escrow.builders.lock(BUYER, [job]))
            made += 1
            if result_every and made % result_every == 0 and made < count:
                utxo = escrow.escrow_utxo(lock)
                escrow.submit(escrow.builders.submit_result(SELLER, utxo, RESULT, job.request_id))
                made += 1
            if made % 1000 < 2 and made >= 1000:
                print(f"  {made} escrow transactions made", file=sys.stderr, flush=True)
        made_s = time.monotonic() - started
        with tempfile.TemporaryDirectory() as directory:
            engine = make_engine(f"sqlite:///{directory}/bench.sqlite")
            migrate.upgrade(engine)
            mirror = Mirror(engine, escrow, [str(BUYER.address), str(SELLER.address)])
            started = time.monotonic()
            report = mirror.sync()
            synced_s = time.monotonic() - started
            with engine.connect() as connection:
                kinds = connection.execute(
                    text("SELECT kind, count(*) FROM sync_transaction GROUP BY kind ORDER BY kind")
                ).all()
            engine.dispose()
    return [
        ("escrow transactions made", f"{count} in {made_s:.0f} s"),
        ("of which", ", ".join(f"{kind} {number}" for kind, number in kinds)),
        ("synced (empty SQLite database)", f"{report.processed} in {synced_s:.1f} s"),
        ("transactions per second", f"{report.processed / synced_s:.0f}"),
        ("Blockfrost requests", str(report.requests)),
        ("requests per synced tx", f"{report.requests / max(report.processed, 1):.3f}"),
    ]


def fill(engine_url: str, rows: int) -> None:
    """`rows` mirror rows: half with AGENT, the rest spread over 1,000 agents; balances summed."""
    engine = create_engine(engine_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM escrow_mirror"))
        connection.execute(text("DELETE FROM billing_balance"))
        connection.execute(
            text(f"""
            INSERT INTO escrow_mirror SELECT
              lpad(to_hex(n), 32, '0'), 'devnet', 'Confirmed', true, 'Buyer', 'Valid', NULL,
              md5(n::text) || md5(n::text), '00', CASE WHEN n % 2 = 0 THEN '{AGENT}'
              ELSE 'cd' || (n % 1000)::text END, '0011', 'addr_b', 'addr_s', 'b', 's', 'i',
              n, n, n, n, 0, '{{"{USDM}": 10000000}}', '{{"{USDM}": 10000000}}',
              md5(n::text) || md5(n::text), 0, 1700000000000 + n * 1000, 'Withdrawn', '', 0, 0,
              NULL, NULL, NULL, NULL, '{{}}', '{{"{USDM}": 4000000}}', '{{"{USDM}": 500000}}',
              '{{"{USDM}": 6000000}}', '{{"{USDM}": 4000000}}', 200000, 0, '[]', 0
            FROM generate_series(1, {rows}) AS n"""),
        )
        connection.execute(
            text(f"""
            INSERT INTO billing_balance
            SELECT 'devnet', agent_identifier, 'buyer', '{USDM}', 0, 6000000 * count(*),
              4000000 * count(*), 500000 * count(*), 0, 0
            FROM escrow_mirror GROUP BY agent_identifier""")
        )
        connection.execute(text("ANALYZE escrow_mirror"))
    engine.dispose()


def timed(work: Callable[[], object], runs: int = 300) -> tuple[float, float]:
    for _ in range(20):
        work()
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        work()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def latency(base_url: str, sizes: list[int]) -> list[tuple[str, str]]:
    name = "paynode_bench_sync"
    admin = create_engine(normalise_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(base_url)).set(database=name).render_as_string(False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    lines = []
    try:
        for size in sizes:
            started = time.monotonic()
            fill(url, size)
            lines.append((f"{size:,} rows inserted", f"{time.monotonic() - started:.0f} s"))
            lines += _measure(engine, size)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return lines


def _measure(engine: object, size: int) -> list[tuple[str, str]]:
    with Session(engine) as session:  # type: ignore[arg-type]
        deep = billing.usage(session, "devnet", AGENT, 100)
        for _ in range(20):  # a cursor 2,000 rows deep
            deep = billing.usage(session, "devnet", AGENT, 100, deep.next_cursor_id)
        queries = {
            "balance": lambda: billing.balance(session, "devnet", AGENT),
            "usage, first page of 25": lambda: billing.usage(session, "devnet", AGENT, 25),
            "usage, page 2,000 rows deep": lambda: billing.usage(
                session, "devnet", AGENT, 25, deep.next_cursor_id
            ),
            "history, first page of 25": lambda: billing.usage(session, "devnet", None, 25),
        }
        lines = []
        for label, work in queries.items():
            p50, p99 = timed(work)
            lines.append((f"{label} @ {size:,}", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))
        return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000, help="escrow transactions to catch up")
    parser.add_argument(
        "--result-every", type=int, default=4, help="a SubmitResult after every Nth lock (0: none)"
    )
    parser.add_argument("--rows", default="10000,1000000", help="usage rows, comma-separated")
    parser.add_argument("--postgres", default=os.environ.get("PAYNODE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    lines = catch_up(args.txs, args.result_every) if args.txs > 0 else []
    if args.postgres:
        lines += latency(args.postgres, [int(size) for size in args.rows.split(",")])
    else:
        lines.append(("billing latency", "skipped: no PostgreSQL (--postgres URL)"))
    width = max(len(label) for label, _ in lines)
    print(f"{'measure'.ljust(width)}  value")
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
