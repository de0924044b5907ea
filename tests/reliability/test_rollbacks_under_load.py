"""Devnet rollbacks of 1 to 3 blocks in the middle of many jobs: ten purchases locked in waves
across blocks, results and collections in flight, the devnet's /rollback undoing the last blocks
(their transactions back to the mempool, or dropped). After re-settling, every job completes
exactly once, value is conserved, no intent is signed twice, and each node's mirror equals the
chain."""

from __future__ import annotations

import pytest

from node.client import Purchase
from tests.e2e.conftest import MINUTE_MS
from tests.reliability.conftest import Faulty
from tests.reliability.invariants import (
    check_escrow_once,
    check_jobs_accounted,
    check_mirror_matches_chain,
)

TEXT = "A rollback takes blocks away; the nodes must notice and still finish each job once."
SETTLE_TICKS = 30


def _rollback(faults: Faulty, blocks: int, *, drop: bool = False) -> list[str]:
    answer = faults.world.http.post("/devnet/rollback", json={"blocks": blocks, "drop": drop})
    assert answer.status_code == 200, answer.text
    undone: list[str] = answer.json()["tx_hashes"]
    return undone


def _all(faults: Faulty, purchases: list[Purchase], state: str) -> bool:
    return all(faults.world.states(p.blockchain_identifier) == (state, state) for p in purchases)


def _buy(faults: Faulty, count: int) -> list[Purchase]:
    return [faults.world.buy("fixed", f"{TEXT} #{i}")[1] for i in range(count)]


def _identifiers(purchases: list[Purchase]) -> list[str]:
    return [p.blockchain_identifier for p in purchases]


def _mid_flight_checks(faults: Faulty, purchases: list[Purchase]) -> None:
    """Right after a rollback, before any tick: every job accounted for with a reason (the API
    answers), and the chain holds no double lock."""
    world = faults.world
    identifiers = _identifiers(purchases)
    check_jobs_accounted(
        seller=world.seller.client, buyer=world.buyer.client, identifiers=identifiers
    )
    check_escrow_once(world.devnet.ledger, world.escrow_address)


def _ten_jobs_with_rollbacks(faults: Faulty, *, settle_before_time_moves: bool) -> list[Purchase]:
    """Ten purchases in three waves across blocks, rollbacks of 2, 1 and 3 blocks while locks and
    results are in flight, then the unlock time and a rollback of 2 blocks among the collections.
    With `settle_before_time_moves`, a tick follows the last rollback of results before the clock
    jumps, so the undone transactions are back in a block first (the usual case); without it the
    jump expires them in the mempool (they can never land)."""
    world = faults.world
    undone: list[str] = []
    first = _buy(faults, 4)
    faults.tick_until(lambda: _all(faults, first, "FundsLocked"), "wave 1 locked")
    second = _buy(faults, 3)
    faults.tick()  # wave 2 locks; the agents run wave 1
    undone += _rollback(faults, 2)
    _mid_flight_checks(faults, first + second)
    third = _buy(faults, 3)
    everyone = first + second + third
    faults.tick()
    undone += _rollback(faults, 1)
    _mid_flight_checks(faults, everyone)
    faults.tick_until(
        lambda: _all(faults, everyone, "ResultSubmitted"), "results of all", SETTLE_TICKS
    )
    undone += _rollback(faults, 3)  # the latest results go back to the mempool
    _mid_flight_checks(faults, everyone)
    if settle_before_time_moves:
        faults.tick()  # a block takes them again; the sync sees the fork and re-reads
        faults.tick_until(
            lambda: _all(faults, everyone, "ResultSubmitted"), "results again", SETTLE_TICKS
        )
    world.advance_past(max(p.unlock_time for p in everyone), margin_ms=MINUTE_MS)
    faults.tick()
    undone += _rollback(faults, 2)  # among the collections
    _mid_flight_checks(faults, everyone)
    faults.tick()
    assert undone, "the rollbacks undid no transaction: the scenario tested nothing"
    return everyone


def _ended(faults: Faulty, purchases: list[Purchase]) -> bool:
    ends = {"Withdrawn", "RefundWithdrawn"}
    for purchase in purchases:
        seller, buyer = faults.world.states(purchase.blockchain_identifier)
        if seller != buyer or seller not in ends:
            return False
    return True


@pytest.mark.soak
def test_rollbacks_while_ten_jobs_lock_submit_results_and_collect(faults: Faulty) -> None:
    world = faults.world
    everyone = _ten_jobs_with_rollbacks(faults, settle_before_time_moves=True)
    faults.tick_until(lambda: _all(faults, everyone, "Withdrawn"), "all collected", SETTLE_TICKS)
    faults.tick()

    identifiers = _identifiers(everyone)
    report = faults.invariants(identifiers)
    assert len(report.done) == 2 * len(everyone)
    histories = check_escrow_once(world.devnet.ledger, world.escrow_address, identifiers)
    for identifier in identifiers:
        assert len(histories[identifier].locks) == 1 and len(histories[identifier].ends) == 1
    for purchase in everyone:  # each agent ran its job once, rollbacks or not
        assert purchase.request_id is not None
        assert world.runs.request_ids.count(purchase.request_id) == 1
    for side in (world.seller, world.buyer):
        compared = check_mirror_matches_chain(
            side.engine, world.devnet.ledger, world.escrow_address
        )
        assert compared >= len(everyone)


@pytest.mark.soak
def test_rolled_back_results_that_expire_in_the_mempool(faults: Faulty) -> None:
    """Like the test above, but the clock jumps past the unlock time before the rolled-back
    results are in a block again: they expire. The jobs whose result vanished may end refunded
    (their submit-result time passed: the protocol's answer); every other job must still be
    collected once, with no manual step."""
    everyone = _ten_jobs_with_rollbacks(faults, settle_before_time_moves=False)
    faults.tick_until(lambda: _ended(faults, everyone), "all ended", SETTLE_TICKS)
    faults.invariants(_identifiers(everyone))


@pytest.mark.soak
def test_a_dropped_lock_waits_with_its_reason_and_is_never_locked_twice(faults: Faulty) -> None:
    """A rollback that drops the blocks with a lock (its transaction vanishes, in no mempool):
    the buyer node reports the purchase as waiting for a manual action with the reason, locks
    nothing again by itself, and the seller's payment is not collected from a lock that is gone;
    the invariants hold."""
    world = faults.world
    purchases = _buy(faults, 2)
    faults.tick_until(lambda: _all(faults, purchases, "FundsLocked"), "locked")
    identifiers = _identifiers(purchases)
    ledger = world.devnet.ledger
    locks = check_escrow_once(ledger, world.escrow_address, identifiers)
    lock_tx = locks[identifiers[0]].locks[0]
    depth = ledger.tip().height - ledger.transaction(lock_tx).block_height + 1
    assert 1 <= depth <= 3, depth
    gone = _rollback(faults, depth, drop=True)
    assert lock_tx in gone
    world.advance_past(world.now() + 6 * MINUTE_MS, margin_ms=0)  # past its validity window
    for _ in range(4):
        faults.tick()

    histories = check_escrow_once(ledger, world.escrow_address)
    assert all(identifier not in histories for identifier in identifiers)  # not locked again
    for identifier in identifiers:
        bought = world.purchase(identifier).next_action
        assert bought.requested_action == "WaitingForManualAction", bought
        assert bought.error_note and "rolled back" in bought.error_note
        assert world.payment(identifier).on_chain_state is None
    faults.invariants(identifiers, require_done=False, require_locked=False)
