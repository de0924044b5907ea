"""A node process dies at every step of a job and is restarted (issue #10, Faults).

Each scenario arms one failpoint (node/failpoints.py) on one node process for one transaction of
the job: the buyer node's lock (PaymentBatched), the seller node's result (SubmitResult) and its
collection (CollectCompleted), and the syncs of those on either side. The job runs; the node
dies at the point with the status of a SIGKILL (no cleanup, no commit); it is restarted without
the failpoint on the same database, and the job is driven to its end (Withdrawn on both nodes).
Then:

- the process died at the point (exit status 137) exactly once;
- the job completed on both nodes, and the agent ran it once;
- the chain holds one lock and one collection of the request (check_escrow_once), value is
  conserved over the whole devnet (check_value_conserved), every job is done or waits with a
  reason (check_jobs_accounted), the journals and the mirrors agree with the chain;
- the crashed transaction's journal entries are resolved: one Confirmed, any other Expired.

The world (tests/reliability/process_world.py) is built once per backend (SQLite, PostgreSQL).
Every scenario is soak (`make soak`): each takes minutes here. `make test` runs the wallet-lock
test at the end (a lock left by a killed process), on both backends, in about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from node import failpoints
from node.config import load_profile
from node.crypto import SecretBox
from node.wallets import service as wallet_service
from node.wallets.keys import generate_mnemonic
from node.wallets.models import TxStatus
from node.wallets.schemas import WalletCreate
from tests.reliability.process_world import (
    FAILPOINT_EXIT,
    NodeProcess,
    ProcessWorld,
    process_world,
    restart,
)

TEXT = "A node dies at an exact step of this job; restarted, it finishes the job once."


@dataclass(frozen=True)
class Crash:
    node: str  # "seller" or "buyer"
    point: str  # a node.failpoints point
    kind: str  # the transaction kind it fires for
    journal_kind: str | None  # the wallet journal's kind to check resolved, if the node signs it

    @property
    def spec(self) -> str:
        return f"{self.point}:{self.kind}"

    def __str__(self) -> str:
        return f"{self.node}-{self.point}-{self.kind}"


CRASHES = [
    Crash("seller", "after_sign", "SubmitResult", "SubmitResult"),
    Crash("seller", "before_journal", "SubmitResult", "SubmitResult"),
    Crash("buyer", "after_sign", "PaymentBatched", "PaymentBatched"),
    Crash("seller", "after_submit", "CollectCompleted", "CollectCompleted"),
    Crash("buyer", "before_sync", "Lock", None),
    Crash("seller", "in_sync", "Withdraw", None),
    Crash("buyer", "after_submit", "PaymentBatched", "PaymentBatched"),
    Crash("buyer", "before_journal", "PaymentBatched", "PaymentBatched"),
    Crash("seller", "after_submit", "SubmitResult", "SubmitResult"),
    Crash("seller", "after_sign", "CollectCompleted", "CollectCompleted"),
    Crash("seller", "before_sync", "Lock", None),
    Crash("buyer", "in_sync", "SubmitResult", None),
]


def _crashes() -> list[object]:
    """Every crash scenario is soak: two `paynode serve` processes, a restart and a whole job
    take 15 s to 2 min each on a loaded 2-core machine (the world about 3 min more)."""
    return [pytest.param(crash, id=str(crash), marks=[pytest.mark.soak]) for crash in CRASHES]


# One world per backend (module-scoped, indirect): the PostgreSQL world runs in soak only.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[pytest.mark.soak]),
]


@pytest.fixture(scope="module")
def process_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def world(process_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessWorld]:
    root = Path(tmp_path_factory.mktemp(f"processes-{process_backend}"))
    with process_world(process_backend, root) as built:
        yield built


def _on_chain(world: ProcessWorld, tx_hash: str) -> bool:
    try:
        world.devnet.ledger.transaction(tx_hash)
    except Exception:
        return False
    return True


@dataclass
class Watch:
    """Restarts the armed node once its failpoint killed it; remembers how it died."""

    world: ProcessWorld
    node: NodeProcess
    exits: list[int]

    def check(self) -> None:
        if self.node.alive:
            return
        assert self.node.process is not None
        self.exits.append(self.node.process.returncode)
        restart(self.world, self.node)  # the same database, no failpoint


def _job(world: ProcessWorld, watch: Watch, crash: Crash) -> tuple[str, str]:
    """Buy, and drive the job to Withdrawn on both nodes, restarting the node that died."""
    purchase = world.buy(TEXT)
    identifier, request_id = purchase.blockchain_identifier, purchase.request_id
    assert request_id is not None

    def reached(state: str) -> bool:
        watch.check()
        return world.states(identifier) == (state, state)

    world.drive(lambda: reached("FundsLocked"), f"{crash}: FundsLocked on both", 150)
    world.drive(lambda: reached("ResultSubmitted"), f"{crash}: ResultSubmitted on both", 150)
    world.advance_past(world.purchase(identifier).unlock_time)
    world.drive(lambda: reached("Withdrawn"), f"{crash}: Withdrawn on both", 150)

    def settled() -> bool:  # the next actions follow the chain a tick later
        watch.check()
        actions = (
            world.payment(identifier).next_action.requested_action,
            world.purchase(identifier).next_action.requested_action,
        )
        return actions == ("None", "None")

    world.drive(settled, f"{crash}: nothing left to do on both", 150)
    return identifier, request_id


@pytest.mark.parametrize("crash", _crashes())
@pytest.mark.parametrize("process_backend", BACKENDS, indirect=True)
def test_a_node_killed_at_a_step_finishes_the_job_once(world: ProcessWorld, crash: Crash) -> None:
    node = world.seller if crash.node == "seller" else world.buyer
    started = time.monotonic()
    restart(world, node, crash.spec)
    watch = Watch(world, node, [])
    identifier, request_id = _job(world, watch, crash)
    watch.check()

    assert watch.exits == [FAILPOINT_EXIT], f"{crash}: the node did not die once at the point"
    assert "failpoint" in node.log_tail(200)
    payment, bought = world.payment(identifier), world.purchase(identifier)
    assert payment.next_action.requested_action == "None", payment.next_action
    assert bought.next_action.requested_action == "None", bought.next_action
    assert payment.on_chain_state == bought.on_chain_state == "Withdrawn"
    assert world.runs.request_ids.count(request_id) == 1  # the agent ran the job once

    report = world.invariants([identifier], require_done=True)
    sides = sorted(job.side for job in report.done if job.blockchain_identifier == identifier)
    assert sides == ["buyer", "seller"], report

    if crash.journal_kind is not None:
        signer = world.seller if crash.journal_kind != "PaymentBatched" else world.buyer
        rows = [row for row in signer.journal(request_id) if row.kind == crash.journal_kind]
        landed = [row for row in rows if _on_chain(world, row.tx_hash)]
        assert len(landed) == 1, [(row.tx_hash, row.status) for row in rows]
        # sent and on chain: Confirmed once the node looked, Submitted until then (as after
        # any send); never left Signed or OutcomeUnknown by the crash
        assert landed[0].status in (TxStatus.CONFIRMED, TxStatus.SUBMITTED), landed[0].status
        others = {row.status for row in rows if row is not landed[0]}
        assert others <= {TxStatus.EXPIRED, TxStatus.REJECTED}, others
    print(f"{crash}: {time.monotonic() - started:.1f} s")


# --- the wallet lock a killed process left ----------------------------------------------------


def _dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def test_a_wallet_lock_left_by_a_killed_process_is_taken_at_once_a_live_ones_is_not(
    engine: Engine, session: Session, secret_box: SecretBox
) -> None:
    """Found by the seller scenarios: a node killed inside spend_from_wallet left its selling
    wallet locked for PAYNODE_WALLET_LOCK_TIMEOUT_S (300 s), so the restarted node could not
    collect for five minutes. A holder names its process; one of this host whose process is
    gone (or this pid started at another time: a container's pid 1) is free at once."""
    request = WalletCreate.model_validate(
        {"type": "Purchasing", "walletMnemonic": generate_mnemonic()}
    )
    wallet = wallet_service.add_wallet(session, secret_box, load_profile("devnet"), request)
    minute = 60_000
    _, host, pid, started, _ = wallet_service.new_holder().split(":")
    ours = wallet_service.new_holder()

    dead = f"p:{host}:{_dead_pid()}:{started}:{'0' * 16}"
    assert wallet_service.try_lock_wallet(engine, wallet.id, dead, minute)
    assert wallet_service.try_lock_wallet(engine, wallet.id, ours, minute)  # taken over
    assert not wallet_service.unlock_wallet(engine, wallet.id, dead)
    assert wallet_service.unlock_wallet(engine, wallet.id, ours)

    restarted = f"p:{host}:{pid}:{int(started) - 1}:{'1' * 16}"  # this pid, an earlier start
    assert wallet_service.try_lock_wallet(engine, wallet.id, restarted, minute)
    assert wallet_service.try_lock_wallet(engine, wallet.id, ours, minute)
    assert wallet_service.unlock_wallet(engine, wallet.id, ours)

    for alive in (
        f"p:{host}:{os.getppid()}:{started}:{'2' * 16}",  # a live process of this host
        f"p:00000000:{_dead_pid()}:{started}:{'3' * 16}",  # another host: never presumed dead
        "legacy-holder",
    ):
        assert wallet_service.try_lock_wallet(engine, wallet.id, alive, minute), alive
        assert not wallet_service.try_lock_wallet(engine, wallet.id, ours, minute), alive
        assert wallet_service.unlock_wallet(engine, wallet.id, alive)


# --- the failpoints themselves ----------------------------------------------------------------


def test_failpoints_parse_points_and_kinds_and_refuse_unknown_names() -> None:
    assert failpoints.parse("") == {}
    assert failpoints.parse(" after_sign:PaymentBatched, after_sign:SubmitResult,before_sync") == {
        "after_sign": frozenset({"PaymentBatched", "SubmitResult"}),
        "before_sync": frozenset({failpoints.ANY}),
    }
    with pytest.raises(failpoints.FailpointError, match="after_sing"):
        failpoints.parse("after_sing:PaymentBatched")


@pytest.mark.parametrize(
    ("armed", "status"),
    [("after_sign:PaymentBatched", FAILPOINT_EXIT), ("after_sign", FAILPOINT_EXIT),
     ("after_sign:SubmitResult", 0), ("after_submit:PaymentBatched", 0), ("", 0)],
)  # fmt: skip
def test_an_armed_failpoint_kills_the_process_like_sigkill(armed: str, status: int) -> None:
    """Only the armed point for its kind exits, with 137 and nothing after it run."""
    script = (
        "from node import failpoints\n"
        "failpoints.hit('after_sign', 'PaymentBatched')\n"
        "print('went on')\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != failpoints.ENV}
    environment[failpoints.ENV] = armed
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == status, done.stderr
    assert ("went on" in done.stdout) == (status == 0)
    assert ("failpoint after_sign:PaymentBatched hit" in done.stderr) == (status != 0)
