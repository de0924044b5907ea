"""What the load with two replicas (test_load_replicas.py) found in the seller's worker steps, each
pinned here in a short scenario on the seller world of tests/node/payments (a manual devnet, the
steps run by hand in the order a lagging replica runs them).

- The agent reads the payment's state from the mirror, which the sync writes: it can see
  FundsLocked, run the job and send its result before any replica's `follow_chain` has recorded
  the lock. The first sighting of FundsLocked then came while SubmitResultInitiated, which the
  matrix read as "back to FundsLocked: send the result again": a second SubmitResult.
- That second SubmitResult, landing on a ResultSubmitted escrow, left the state ResultSubmitted:
  the payment stayed SubmitResultInitiated for good (never collected), as `follow_chain` only
  looked at state changes; an Initiated action whose own transaction is the escrow's last is now
  done whatever the state.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlmodel import Session, select

from node.payments import workers
from node.payments.workers import unit_value
from node.sync import service as sync
from node.wallets.models import WalletTransaction
from tests.node.payments.conftest import (
    MINUTE_MS,
    USDM,
    SellerWorld,
    data,
    lock,
    pay,
    payment_body,
    seller_devnet,
    seller_world,
    world,
)

__all__ = ["pay", "seller_devnet", "seller_world", "world"]  # the fixtures, used by name


def state(pay: httpx.Client, payment: dict[str, Any]) -> tuple[str | None, str, str | None]:
    body = {"network": "Devnet", "blockchainIdentifier": payment["blockchainIdentifier"]}
    shown = data(pay.post("/api/v1/payment/resolve-blockchain-identifier", json=body))
    return shown["onChainState"], shown["NextAction"]["requestedAction"], shown["resultHash"]


def submit(pay: httpx.Client, payment: dict[str, Any], result: str) -> str:
    body = {
        "network": "Devnet",
        "blockchainIdentifier": payment["blockchainIdentifier"],
        "submitResultHash": result,
    }
    answer = data(pay.post("/api/v1/payment/submit-result", json=body))
    return str(answer["NextAction"]["requestedAction"])


def submit_results(world: SellerWorld, session: Session, request_id: str) -> int:
    rows = session.exec(select(WalletTransaction).where(WalletTransaction.kind == "SubmitResult"))
    return sum(1 for row in rows if request_id in (row.request_ids or []))


def test_result_sent_before_the_lock_is_followed_goes_once(
    world: SellerWorld, pay: httpx.Client, session: Session
) -> None:
    runtime = world.runtime
    payment = data(pay.post("/api/v1/payment", json=payment_body(world, "Fixed")))
    lock(world, payment, unit_value(world.usdm, 2 * USDM))
    assert sync.sync_step(runtime) >= 1  # one replica's sync saw the lock, nobody followed it
    assert state(pay, payment)[:2] == ("FundsLocked", "WaitingForExternalAction")

    first = hashlib.sha256(b"the result").hexdigest()
    assert submit(pay, payment, first) == "SubmitResultRequested"
    assert workers.carry_out(runtime) == 1
    workers.follow_chain(runtime)  # the first sighting of the lock, the result on its way
    assert state(pay, payment)[:2] == ("FundsLocked", "SubmitResultInitiated")
    assert workers.carry_out(runtime) == 0
    world.blocks()
    world.tick()
    assert state(pay, payment) == ("ResultSubmitted", "WaitingForExternalAction", first)
    assert submit_results(world, session, payment["requestId"]) == 1

    # and it is collected after the unlock time
    world.advance(int(payment["unlockTime"]) - world.now() + MINUTE_MS)
    assert world.tick()["carry_out"] == 1
    world.blocks()
    world.tick()
    assert state(pay, payment)[:2] == ("Withdrawn", "None")
