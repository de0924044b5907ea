"""The e2e world of tests/e2e (two nodes, three agents, a manual devnet) with both nodes' Blockfrost
traffic going through a fault proxy, and the hands the reliability scenarios share.

The world is built by tests/e2e/conftest.py's `e2e` fixture as it is (imported here, not copied);
then each node's chain is swapped for a Blockfrost client pointed at the proxy, with a short
timeout and quick retries so a scenario rides out faults in seconds. The devnet's control API and
clock (not Blockfrost) stay direct. The invariants read the devnet's ledger in process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlmodel import Session, col, select

from node.chain.blockfrost import BlockfrostChain, RetryPolicy
from node.payments import workers as payment_workers
from node.purchases import workers as purchase_workers
from node.runtime import Runtime
from node.wallets.models import WalletTransaction
from node.workers import STEPS
from tests.e2e.conftest import E2E, MAX_TICKS, e2e  # noqa: F401  (the fixture, reused)
from tests.reliability.fault_proxy import FaultProxy
from tests.reliability.invariants import JobReport, Node, check_all

CLIENT_TIMEOUT_S = 1.5  # the nodes' Blockfrost client timeout behind the proxy
HOLD_S = CLIENT_TIMEOUT_S + 0.5  # a held request outlives the client's patience
RETRY = RetryPolicy(attempts=4, base_ms=40, cap_ms=300)


@dataclass
class Faulty:
    """The e2e world behind a fault proxy; `tick` runs the worker steps like the node's scheduler
    (an exception is recorded, not raised: the loop goes on, as in production)."""

    world: E2E
    proxy: FaultProxy
    step_errors: list[str] = field(default_factory=list)

    def tick(self) -> None:
        world = self.world
        for side in (world.seller, world.buyer):
            for step in STEPS:
                try:
                    step.run(side.runtime)
                except Exception as error:  # the scheduler logs it and goes on
                    self.step_errors.append(f"{side.name} {step.name}: {error!r}")
        for kit in world.kits.values():
            asyncio.run(kit.poll_once())
        world.blocks()

    def tick_until(self, done: Callable[[], bool], what: str, limit: int = MAX_TICKS) -> int:
        for count in range(limit + 1):
            if done():
                return count
            self.tick()
        raise AssertionError(
            f"{what}: not reached within {limit} ticks; step errors {self.step_errors}; "
            f"journals {self.journals()}; proxy {self.proxy.stats()}"
        )

    def journals(self) -> dict[str, list[tuple[str, str, int, str | None]]]:
        """Each node's wallet journal: (kind, status, attempts, last error), oldest first."""
        found: dict[str, list[tuple[str, str, int, str | None]]] = {}
        for side in (self.world.seller, self.world.buyer):
            with Session(side.engine) as session:
                rows = session.exec(
                    select(WalletTransaction).order_by(col(WalletTransaction.created_at))
                )
                found[side.name] = [
                    (row.kind, str(row.status), row.attempts, row.last_error) for row in rows
                ]
        return found

    def nodes(self) -> list[Node]:
        world = self.world
        return [
            Node("seller", world.seller.client, world.seller.engine),
            Node("buyer", world.buyer.client, world.buyer.engine),
        ]

    def invariants(
        self, identifiers: list[str], *, require_done: bool = True, require_locked: bool = True
    ) -> JobReport:
        world = self.world
        return check_all(
            world.devnet.ledger,
            world.escrow_address,
            self.nodes(),
            identifiers=identifiers,
            require_done=require_done,
            require_locked=require_locked,
        )


def _set_chain(runtime: Runtime, chain: BlockfrostChain | None) -> None:
    """Runtime is a frozen dataclass; the swap happens between ticks, in one thread. Its cached
    escrow contract keeps the chain it was built with, which it only used to build itself."""
    object.__setattr__(runtime, "chain", chain)


@pytest.fixture(scope="module")
def faulty(e2e: E2E) -> Iterator[Faulty]:  # noqa: F811
    proxy = FaultProxy(e2e.devnet.url, seed=10).start()
    patch = pytest.MonkeyPatch()
    # The nodes wait a minute before asking the chain about a transaction whose answer was lost
    # (Blockfrost's tx index lags); the devnet indexes a transaction with its block, so the
    # scenarios ask at once instead of sleeping a minute of wall time.
    for workers in (payment_workers, purchase_workers):
        patch.setattr(workers, "RESOLVE_AFTER_MS", 0)
    originals = {}
    for side in (e2e.seller, e2e.buyer):
        originals[side.name] = side.runtime.chain
        proxied = BlockfrostChain(
            proxy.url + "/api", "reliability-tests", timeout_s=CLIENT_TIMEOUT_S, retry=RETRY
        )
        _set_chain(side.runtime, proxied)
    try:
        yield Faulty(e2e, proxy)
    finally:
        for side in (e2e.seller, e2e.buyer):
            swapped = side.runtime.chain
            _set_chain(side.runtime, originals[side.name])
            if swapped is not None:
                swapped.close()
        proxy.stop()
        patch.undo()


@pytest.fixture
def faults(faulty: Faulty) -> Iterator[Faulty]:
    """The module's faulty world with no fault set, and none left behind by the test."""
    faulty.proxy.clear()
    faulty.step_errors.clear()
    yield faulty
    faulty.proxy.clear()
