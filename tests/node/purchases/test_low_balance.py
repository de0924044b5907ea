"""WALLET_LOW_BALANCE: a hot wallet whose lovelace on the devnet falls below the threshold is
reported once, and again only after it recovered; the step runs in the scheduler's tick."""

from __future__ import annotations

import dataclasses

import httpx
from sqlmodel import Session, col, select

from node.runtime import Runtime
from node.wallets.models import HotWallet
from node.wallets.workers import check_wallet_balances
from node.webhooks.models import WebhookDelivery
from node.workers import STEPS
from tests.devnet.http_helpers import faucet
from tests.node.purchases.conftest import ADA, BuyerWorld


def with_threshold(runtime: Runtime, lovelace: int) -> Runtime:
    settings = runtime.settings.model_copy(update={"wallet_low_balance_lovelace": lovelace})
    return dataclasses.replace(runtime, settings=settings)


def deliveries(world: BuyerWorld) -> list[WebhookDelivery]:
    with Session(world.engine) as session:
        query = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))
        return list(session.exec(query))


def test_a_low_wallet_is_reported_once_until_it_recovers(
    world: BuyerWorld, admin: httpx.Client
) -> None:
    hook = {
        "url": "https://hooks.example.com/paynode",
        "Events": ["WALLET_LOW_BALANCE"],
        "authToken": "t" * 12,
    }
    assert admin.post("/api/v1/webhooks", json=hook).status_code == 200
    empty = world.purchasing_wallet(admin, ada=0)
    world.purchasing_wallet(admin, ada=200)
    world.blocks()
    runtime = with_threshold(world.runtime, 50 * ADA)

    assert check_wallet_balances(runtime, interval_ms=0) == 1
    (sent,) = deliveries(world)
    assert sent.event == "WALLET_LOW_BALANCE"
    data = sent.payload["data"]
    assert data["walletAddress"] == empty and data["walletType"] == "Purchasing"
    assert data["balance"] == [{"unit": "lovelace", "amount": "0"}]
    assert data["thresholdLovelace"] == str(50 * ADA) and data["network"] == "Devnet"
    assert check_wallet_balances(runtime, interval_ms=0) == 0  # still low: not again
    assert check_wallet_balances(runtime) == 0  # read a moment ago: not read again yet

    faucet(world.http, empty, 100 * ADA)
    world.blocks()
    assert check_wallet_balances(runtime, interval_ms=0) == 0  # recovered
    with Session(world.engine) as session:
        wallet = session.exec(select(HotWallet).where(HotWallet.address == empty)).one()
        assert wallet.low_balance_since is None and wallet.balance_checked_at is not None

    higher = with_threshold(world.runtime, 150 * ADA)  # 100 ADA is low again; 200 is not
    assert check_wallet_balances(higher, interval_ms=0) == 1
    assert [d.payload["data"]["walletAddress"] for d in deliveries(world)] == [empty, empty]
    assert deliveries(world)[1].payload["data"]["balance"][0]["amount"] == str(100 * ADA)
    assert check_wallet_balances(with_threshold(world.runtime, 0), interval_ms=0) == 0  # off
    assert "wallets.low_balance" in [step.name for step in STEPS]
