"""Whole jobs (quote → purchase → lock → result → collect, and a refund) on two nodes whose
Blockfrost traffic goes through a fault proxy: 429 storms, 5xx, timeouts, slow answers and a
submit that reaches the chain while its answer is lost. Each job completes once the fault clears
(or during it, where the client's backoff rides it out), and the invariants hold: value conserved,
one lock and at most one end per request, every job done or waiting with a reason, no intent
signed twice, the mirrors equal to the chain."""

from __future__ import annotations

import time

import httpx
import pytest

from node.client import Purchase
from tests.devnet.http_helpers import HEADERS, api_client, faucet, manual_devnet
from tests.e2e.conftest import ADA, MINUTE_MS
from tests.reliability.conftest import HOLD_S, Faulty
from tests.reliability.fault_proxy import FaultProxy
from tests.reliability.invariants import check_escrow_once, check_jobs_accounted

TEXT = "Blockfrost answers 429, 5xx, late or never; the payment node must hold its ground."


def _states(faults: Faulty, identifier: str, state: str) -> bool:
    return faults.world.states(identifier) == (state, state)


def _locked(faults: Faulty, identifier: str) -> None:
    faults.tick_until(lambda: _states(faults, identifier, "FundsLocked"), "FundsLocked on both")


def _result(faults: Faulty, identifier: str) -> None:
    faults.tick_until(lambda: _states(faults, identifier, "ResultSubmitted"), "ResultSubmitted")


def _collect(faults: Faulty, purchase: Purchase) -> None:
    faults.world.advance_past(purchase.unlock_time, margin_ms=MINUTE_MS)
    faults.tick_until(
        lambda: _states(faults, purchase.blockchain_identifier, "Withdrawn"), "Withdrawn"
    )


def _lock_count(faults: Faulty, identifier: str) -> int:
    world = faults.world
    histories = check_escrow_once(world.devnet.ledger, world.escrow_address)
    entry = histories.get(identifier)
    return 0 if entry is None else len(entry.locks)


@pytest.mark.soak
def test_429_storm_during_a_lock_then_the_job_completes(faults: Faulty) -> None:
    """Every Blockfrost request answered 429 while the buyer node tries to lock: the purchase
    waits (FundsLockingRequested, no error, nothing on chain), the node's API answers from its
    database throughout; after the storm the lock, the result and the collection go through."""
    world, proxy = faults.world, faults.proxy
    _quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier

    storm = proxy.storm(retry_after_s=1)
    started = time.monotonic()
    for _ in range(2):
        faults.tick()
    assert storm.served >= 8, proxy.stats()  # the client retried, then gave up for this tick
    assert _lock_count(faults, identifier) == 0
    waiting = world.purchase(identifier)  # the node's API, read from its database, mid-storm
    assert waiting.next_action.requested_action == "FundsLockingRequested"
    assert waiting.next_action.error_type is None
    report = check_jobs_accounted(buyer=world.buyer.client, identifiers=[identifier])
    assert [job.requested_action for job in report.waiting] == ["FundsLockingRequested"]
    for side in (world.seller, world.buyer):
        for path in ("/health", "/api/v1/purchase", "/api/v1/payment"):
            answer = side.http.get(path, params={"network": "Devnet", "limit": 5})
            assert answer.status_code == 200, (side.name, path, answer.text)
    assert time.monotonic() - started < 30

    proxy.clear()
    _locked(faults, identifier)
    assert _lock_count(faults, identifier) == 1
    _result(faults, identifier)
    _collect(faults, purchase)
    faults.invariants([identifier])


@pytest.mark.soak
def test_a_seeded_share_of_429s_is_ridden_out_by_the_backoff(faults: Faulty) -> None:
    """A third of all requests answered 429 for the whole job: the client's retries absorb it and
    the job completes without any manual step."""
    world, proxy = faults.world, faults.proxy
    storm = proxy.storm(share=0.3, retry_after_s=0)
    _quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier
    _locked(faults, identifier)
    _result(faults, identifier)
    _collect(faults, purchase)
    assert storm.served > 0 and proxy.stats().forwarded > storm.served
    proxy.clear()
    faults.invariants([identifier])


def test_5xx_during_submit_result(faults: Faulty) -> None:
    """Every POST /tx/submit answered 503 (not forwarded) while the seller node submits the
    result: the payment keeps its SubmitResult intent and a reason; after the fault one
    SubmitResult reaches the chain and the job is collected."""
    world, proxy = faults.world, faults.proxy
    _quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier
    _locked(faults, identifier)

    errors = proxy.errors(503, method="POST", path="/tx/submit")
    for _ in range(3):
        faults.tick()
    assert errors.served >= 4
    payment = world.payment(identifier)
    assert payment.on_chain_state == "FundsLocked"
    assert payment.next_action.requested_action in (
        "SubmitResultRequested",
        "SubmitResultInitiated",
    )
    check_jobs_accounted(seller=world.seller.client, identifiers=[identifier])

    proxy.clear()
    _result(faults, identifier)
    _collect(faults, purchase)
    faults.invariants([identifier])


@pytest.mark.soak
def test_a_lost_submit_answer_for_a_lock_does_not_lock_again(faults: Faulty) -> None:
    """The lock reaches the chain but the node gets 504s (and then a dropped answer): it must
    learn from the chain that its lock landed, never sign another."""
    world, proxy = faults.world, faults.proxy
    _quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier

    lost = proxy.lose_submit_answer("504", count=1)
    dropped = proxy.lose_submit_answer("drop", count=1, hold_s=HOLD_S)
    proxy.errors(504, method="POST", path="/tx/submit", count=3)  # its re-sends fail too
    _locked(faults, identifier)
    assert lost.served == 1
    assert _lock_count(faults, identifier) == 1
    for _ in range(2):
        faults.tick()  # the journal settles; nothing is signed again
    assert _lock_count(faults, identifier) == 1
    _result(faults, identifier)
    _collect(faults, purchase)
    faults.invariants([identifier])
    assert dropped.served <= 1


@pytest.mark.soak
def test_a_lost_submit_answer_for_a_collection(faults: Faulty) -> None:
    """The Withdraw reaches the chain, its answer is dropped (held past the client's timeout):
    the seller node must not collect twice and both nodes end Withdrawn."""
    world, proxy = faults.world, faults.proxy
    _quote, purchase = world.buy("fixed", TEXT)
    identifier = purchase.blockchain_identifier
    _locked(faults, identifier)
    _result(faults, identifier)

    lost = proxy.lose_submit_answer("drop", count=1, hold_s=HOLD_S)
    _collect(faults, purchase)
    assert lost.served == 1
    faults.tick()
    report = faults.invariants([identifier])
    assert {job.on_chain_state for job in report.jobs} == {"Withdrawn"}


@pytest.mark.soak
def test_slow_answers_beyond_the_client_timeout_then_a_refund(faults: Faulty) -> None:
    """GETs held past the client's timeout (a share of them, seeded) and slow answers for the
    rest, through a refund: a failed job, the buyer's refund request, the refund withdrawal."""
    world, proxy = faults.world, faults.proxy
    _quote, purchase = world.buy("fixed", "this job fails", mode="fail")
    identifier = purchase.blockchain_identifier
    timeouts = proxy.timeouts(HOLD_S, share=0.1, method="GET", count=4)
    slow = proxy.slow(0.2, share=0.2)
    _locked(faults, identifier)
    faults.tick()
    asked = world.buyer.client.request_refund(identifier)
    assert asked.next_action.requested_action == "SetRefundRequestedRequested"
    faults.tick_until(lambda: _states(faults, identifier, "RefundRequested"), "RefundRequested")
    world.advance_past(purchase.submit_result_time)
    faults.tick_until(lambda: _states(faults, identifier, "RefundWithdrawn"), "RefundWithdrawn")
    assert timeouts.served >= 1 and slow.served >= 1
    proxy.clear()
    faults.invariants([identifier])


def test_the_proxy_forwards_intact_counts_and_faults_deterministically() -> None:
    """The proxy itself, on a devnet of its own: answers identical to the devnet's (path, query,
    body, status), a seeded share of 429s that is the same on every run, and a lost submit answer
    whose transaction is on chain all the same."""
    with manual_devnet("fault-proxy") as devnet, FaultProxy(devnet.url, seed=7) as proxy:
        direct = api_client(devnet.url)
        through = httpx.Client(base_url=proxy.url, headers=HEADERS, timeout=10)
        for path, params in (("/api/v0/blocks/latest", {}), ("/api/v0/blocks/0/txs", {"count": 5})):
            mine, theirs = through.get(path, params=params), direct.get(path, params=params)
            assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json())
        missing = through.get("/api/v0/txs/" + "ab" * 32)
        assert missing.status_code == 404

        def faulted(seed: int) -> list[int]:
            proxy.reseed(seed)
            proxy.clear()
            proxy.storm(share=0.5, retry_after_s=3, path="/blocks/latest")
            codes = [through.get("/api/v0/blocks/latest").status_code for _ in range(20)]
            proxy.clear()
            return codes

        first, again = faulted(3), faulted(3)
        assert first == again and set(first) == {200, 429} and 4 <= first.count(429) <= 16
        storm = proxy.storm(count=2, retry_after_s=3)
        answer = through.get("/api/v0/blocks/latest")
        assert (answer.status_code, answer.headers["retry-after"]) == (429, "3")
        assert through.get("/api/v0/blocks/latest").status_code == 429
        assert through.get("/api/v0/blocks/latest").status_code == 200 and storm.served == 2
        proxy.errors(502, count=1)
        assert through.get("/api/v0/blocks/latest").status_code == 502

        # a lost answer: the faucet's transaction is built by the devnet, so send one of ours
        tx_hash = faucet(
            direct, "addr_test1vz09v9yfxguvlp0zsnrpa3tdtm7el8xufp3m5lsm7qxzclgmzkket", ADA
        )
        cbor = direct.get(f"/api/v0/txs/{tx_hash}/cbor").json()["cbor"]
        direct.post("/devnet/rollback", json={"blocks": 1, "drop": True}).raise_for_status()
        assert direct.get(f"/api/v0/txs/{tx_hash}").status_code == 404
        proxy.lose_submit_answer("504")
        lost = through.post(
            "/api/v0/tx/submit",
            content=bytes.fromhex(cbor),
            headers={"Content-Type": "application/cbor"},
        )
        assert lost.status_code == 504
        assert proxy.submitted == [tx_hash]  # it reached the devnet ...
        assert direct.get(f"/api/v0/txs/{tx_hash}").status_code == 200  # ... and is on chain
        stats = proxy.stats()
        assert stats.faults["lost_answer"] == 1 and stats.faults["5xx"] == 1
        assert stats.requests == stats.forwarded + stats.faults["429"] + stats.faults["5xx"]
        through.close()
        direct.close()
