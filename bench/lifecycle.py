"""The escrow lifecycle end to end (issue #8): jobs per minute with 1, 10 and 50 concurrent buyers,
fees per job, and Blockfrost requests per job on each node.

The world is `paynode demo`'s (node/jobs/demo_run.py): an in-process devnet making a block a
second, the escrow's reference script deployed, a seller node serving the demo agent (Dynamic,
token-priced) and a buyer node, both with their workers running every second, over real HTTP.
Per round, N buyer threads each run quote -> confirm -> purchase through the buyer node at once;
the buyer node batches the locks (up to 10 per transaction), the agent runs each job once the
funds are locked and the seller node submits the results; then the devnet clock jumps past the
unlock time and the seller node collects. A round's time runs from the first quote to the last
collection (the clock jump itself takes no time).

Fees per job: the buyer's share of the lock transaction and the seller's result and collection
transactions, from both nodes' billing usage rows. Requests per job: each node's Blockfrost
request counter over the round, divided by N (it includes the workers' polling while they wait).

    .venv/bin/python bench/lifecycle.py [--rounds 1,10,50]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
importlib.import_module("node")  # the node's package first, as `paynode` loads it

from rich.console import Console  # noqa: E402

from node.client import Purchase  # noqa: E402
from node.jobs.demo_run import (  # noqa: E402
    TEXT,
    Demo,
    buy,
    demo_world,
    payment_state,
    purchase_state,
    set_up,
    units,
    wait_for,
)
from node.runtime import Runtime  # noqa: E402

WAIT_S = 600.0
GOAL_FEE_LOVELACE = 600_000
GOAL_REQUESTS = 15
SELLER_TOP_UP_LOVELACE = 150 * 1_000_000


def requests(runtime: Runtime | None) -> int:
    assert runtime is not None and runtime.chain is not None
    return sum(runtime.chain.requests.snapshot().values())


def buy_all(run: Demo, count: int) -> list[Purchase]:
    """`count` buyers at once, each quoting, confirming and purchasing one job."""
    bought: list[Purchase] = []
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            bought.append(buy(run, f"{TEXT} (job {index})"))
        except BaseException as error:  # reported after the round
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return bought


def round_of(run: Demo, count: int) -> dict[str, str]:
    before = requests(run.seller.runtime), requests(run.buyer.runtime)
    started = time.monotonic()
    bought = buy_all(run, count)
    for purchase in bought:
        _wait_state(run, purchase, "FundsLocked")
    for purchase in bought:
        payment_state(run, purchase.blockchain_identifier, "ResultSubmitted")
    run.advance_past(max(p.unlock_time for p in bought), "the unlock time of the round")
    for purchase in bought:
        payment_state(run, purchase.blockchain_identifier, "Withdrawn")
    for purchase in bought:
        purchase_state(run, purchase, "Withdrawn")  # the buyer node's mirror has it too
    seconds = time.monotonic() - started
    fees = _fees(run, {p.request_id for p in bought})
    seller_requests = requests(run.seller.runtime) - before[0]
    buyer_requests = requests(run.buyer.runtime) - before[1]
    return {
        "buyers": str(count),
        "seconds": f"{seconds:.1f}",
        "jobs/min": f"{count * 60 / seconds:.1f}",
        "fees/job (ADA)": units(fees // count),
        "seller req/job": f"{seller_requests / count:.1f}",
        "buyer req/job": f"{buyer_requests / count:.1f}",
    }


def _wait_state(run: Demo, purchase: Purchase, state: str) -> Purchase:
    """Like demo_run.purchase_state, with a round's longer patience (50 jobs queue up)."""

    def check() -> Purchase | None:
        found = run.buyer.client.resolve_purchase(purchase.blockchain_identifier)
        return found if found.on_chain_state == state else None

    return wait_for(f"the purchase to be {state}", check, WAIT_S)


def _fees(run: Demo, request_ids: set[str | None]) -> int:
    """Transaction fees of the round's jobs: the buyer's (its lock shares) from the buyer node,
    the seller's (result, collection) from the seller node."""
    total = 0
    for side, field in ((run.buyer, "buyer_tx_fees"), (run.seller, "seller_tx_fees")):
        page = side.client.get_billing_usage(run.agent_identifier, limit=100)
        total += sum(getattr(row, field) for row in page.items if row.request_id in request_ids)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", default="1,10,50", help="concurrent buyers per round")
    args = parser.parse_args()
    rounds = [int(size) for size in args.rounds.split(",")]
    console = Console(stderr=True, quiet=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as scratch:
        world = demo_world(Path(scratch), console, seller_port=3811, buyer_port=3812)
        with world as run:
            set_up(run)
            run.faucet(run.buyer.address, 20 * 1_000_000, 500 * 1_000_000)  # USDM for 61 jobs
            # ADA for the seller's 61 jobs: each costs it about 2 ADA (the result's and the
            # collection's fees, and the protocol fee output's 1.435 ADA minimum, while the
            # escrow's own lovelace goes back to the buyer); the demo funds it with 100 ADA
            run.faucet(run.seller.address, SELLER_TOP_UP_LOVELACE)
            for count in rounds:
                rows.append(round_of(run, count))
                if len(rows) == 1:
                    print("  ".join(f"{h:>15}" for h in rows[0]), flush=True)
                print("  ".join(f"{value:>15}" for value in rows[-1].values()), flush=True)
    print(
        f"goals: fees/job <= {units(GOAL_FEE_LOVELACE)} ADA; "
        f"<= {GOAL_REQUESTS} Blockfrost requests per job per node"
    )


if __name__ == "__main__":
    main()
