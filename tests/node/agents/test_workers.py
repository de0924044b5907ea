"""The background scheduler: steps run every interval, a failing step never stops the loop, and a
node with a chain confirms a registration without anyone calling a worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from node.agents.models import RegistryRequest, RegistryState
from node.crypto import SecretBox
from node.db.engine import make_engine
from node.runtime import Runtime
from node.workers import STEPS, Scheduler, WorkerStep, start_scheduler
from tests.conftest import TEST_ENCRYPTION_KEY, make_key, serve, settings_for
from tests.devnet.http_helpers import api_client, manual_devnet
from tests.node.agents.bodies import agent_body
from tests.node.agents.conftest import chain_runtime


def bare_runtime(tmp_path: Path, **settings: object) -> Runtime:
    values = settings_for("sqlite://", tmp_path, **settings)
    return Runtime(
        values, values.profile(), make_engine("sqlite://"), SecretBox(TEST_ENCRYPTION_KEY)
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_failing_step_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(_runtime: Runtime) -> int:
        calls.append("broken")
        raise RuntimeError("the chain is down")

    def working(_runtime: Runtime) -> int:
        calls.append("working")
        return 1

    steps = [WorkerStep("broken", broken), WorkerStep("working", working)]
    scheduler = Scheduler(bare_runtime(tmp_path), steps, interval_ms=10)
    assert scheduler.run_once() == {"broken": 0, "working": 1}
    with caplog.at_level(logging.DEBUG, logger="node.workers"):
        scheduler.start()
        wait_for(lambda: calls.count("working") >= 5)
        assert scheduler.running
        scheduler.stop()
    assert not scheduler.running
    failures = [r for r in caplog.records if "the chain is down" in r.getMessage()]
    assert failures and failures[0].exc_info is not None  # the traceback once ...
    assert all(r.levelno == logging.DEBUG for r in failures[1:])  # ... then quietly


def test_a_step_with_an_interval_runs_at_most_that_often(tmp_path: Path) -> None:
    calls: list[str] = []

    def step(name: str) -> WorkerStep:
        return WorkerStep(name, lambda _runtime: calls.append(name) or 1, 60_000 if name else 0)

    scheduler = Scheduler(bare_runtime(tmp_path), [step("slow"), step("")], interval_ms=10)
    assert scheduler.run_once() == {"slow": 1, "": 1}
    assert scheduler.run_once() == {"": 1}  # not due again for a minute
    assert calls == ["slow", "", ""]
    registry = next(s for s in STEPS if s.name == "sync.registry")
    assert registry.every_ms >= 10_000


def test_the_registry_steps_are_scheduled_and_a_node_without_chain_runs_none(
    tmp_path: Path,
) -> None:
    assert [step.name for step in STEPS][:2] == [
        "registry.process_requests",
        "registry.confirm_transactions",
    ]
    assert start_scheduler(None) is None
    assert start_scheduler(bare_runtime(tmp_path)) is None  # no chain
    assert Scheduler(bare_runtime(tmp_path)).interval_ms == 2000  # the default


def registration_state(engine: Engine, row_id: str) -> RegistryRequest:
    with Session(engine) as session:
        row = session.get(RegistryRequest, row_id)
        assert row is not None
        return row


def test_the_background_workers_confirm_a_registration(
    database_url: str,
    engine: Engine,
    session: Session,
    secret_box: SecretBox,
    tmp_path: Path,
) -> None:
    # a devnet of its own: its clock starts now, and the scheduled workers use wall time
    with manual_devnet("agents-scheduler") as devnet:
        runtime = chain_runtime(
            database_url, engine, secret_box, devnet, tmp_path, worker_interval_ms=100
        )
        with serve(runtime) as node, api_client(devnet.url) as http:
            with node.client(make_key(session, secret_box, canAdmin=True)) as admin:
                wallet = admin.post("/api/v1/wallet", json={"type": "Selling"}).json()["data"]
                faucet = {"address": wallet["walletAddress"], "lovelace": 100_000_000}
                assert http.post("/devnet/faucet", json=faucet).status_code == 200
                answer = admin.post("/api/agents", json=agent_body(wallet["walletVkey"], "Free"))
            assert answer.status_code == 200, answer.text
            row_id = answer.json()["data"]["id"]

            def initiated() -> bool:
                state = registration_state(engine, row_id).state
                assert state != RegistryState.REGISTRATION_FAILED
                return state == RegistryState.REGISTRATION_INITIATED

            wait_for(initiated)
            tx_hash = registration_state(engine, row_id).tx_hash
            # Initiated is written before the send: wait for the tx's own block, then one more
            wait_for(lambda: http.get(f"/api/v0/txs/{tx_hash}").status_code == 200)
            http.post("/devnet/blocks", json={"count": 1})
            wait_for(
                lambda: (
                    registration_state(engine, row_id).state == RegistryState.REGISTRATION_CONFIRMED
                )
            )
            row = registration_state(engine, row_id)
            policy_id = runtime.network.registry.policy_id
            assert row.agent_identifier == f"{policy_id}{row.asset_name}"
            assert node.runtime is runtime
        assert runtime.chain is not None
        runtime.chain.close()


def test_seed_route_needs_a_pay_key(
    database_url: str, engine: Engine, session: Session, secret_box: SecretBox, tmp_path: Path
) -> None:
    runtime = bare_runtime(tmp_path)
    runtime = Runtime(runtime.settings, runtime.profile, engine, secret_box)
    with serve(runtime) as node:
        with node.client() as anonymous:
            assert anonymous.post("/api/agents", json={}).status_code == 401
        with node.client(make_key(session, secret_box, permission="Read")) as reader:
            assert reader.post("/api/agents", json={}).status_code == 403
        with node.client(make_key(session, secret_box, permission="ReadAndPay")) as payer:
            answer: httpx.Response = payer.post("/api/agents", json={})
            assert answer.status_code == 422 and "pricingMode" in answer.json()["error"]["fields"]
