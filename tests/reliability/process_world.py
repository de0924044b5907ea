"""A world whose two nodes are real `paynode serve` processes, to kill and restart (issue #10).

- The devnet runs in this process in manual mode (blocks only when asked): `drive()` forges a
  block every DRIVE_PERIOD_S and polls the agent kit while it waits for a condition, so the
  nodes' background workers (PAYNODE_WORKER_INTERVAL_MS) see the chain move at a steady pace.
- The seller node and the buyer node are `paynode serve` subprocesses (the virtualenv's
  script), each on its own database (a SQLite file, or a scratch PostgreSQL database via
  tests/conftest.py's scratch_database) and port, with PAYNODE_ADMIN_KEY so the test has an
  admin token from the start. `NodeProcess.start(failpoints=...)` sets PAYNODE_FAILPOINTS
  (node/failpoints.py); `kill()` sends SIGKILL; a failpoint's own death shows as
  `alive == False` with exit status 137; a restart reuses the same database and data directory.
- One agent built with the agent kit (node.jobs, `agent_router`), Fixed priced, is served by
  uvicorn in this process and talks to the seller node's API over HTTP; it is registered on the
  seller node through POST /api/agents like the e2e world's (tests/e2e/conftest.py, whose
  AgentRuns and constants are reused).
- The escrow reference script is deployed at the devnet profile's reference address before the
  nodes start, as tests/e2e/conftest.py does.

The invariants (tests/reliability/invariants.py) read the devnet's ledger in process and each
node's database through an engine of this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.network import deploy_devnet_reference_script, resolve_profile
from node.client import BuyerQuote, Payment, PaynodeClient, Purchase
from node.config import NetworkProfile
from node.db.engine import make_engine
from node.jobs import AgentConfig, AgentKit, agent_router, demo
from node.wallets.models import WalletTransaction
from tests.conftest import TEST_ENCRYPTION_KEY, free_port, scratch_database, settings_for
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.e2e.conftest import ADA, FIXED_PRICE, USDM, AgentRuns
from tests.node.agents.bodies import agent_body
from tests.node.jobs.conftest import serve_app
from tests.reliability.invariants import JobReport, Node, check_all

REPOSITORY = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "reliability-admin-token-0123456789"  # PAYNODE_ADMIN_KEY of both nodes
WORKER_INTERVAL_MS = 150
DRIVE_PERIOD_S = 0.25  # a block and an agent poll this often while waiting
START_TIMEOUT_S = 150.0
CLOCK_REFRESH_S = 1.1  # a node's clock asks the devnet at most once a second
KILLED = -signal.SIGKILL  # Popen.returncode of a SIGKILLed child
FAILPOINT_EXIT = 137  # node.failpoints.EXIT_STATUS


@dataclass
class NodeProcess:
    """One node: a `paynode serve` subprocess over its own database, restartable."""

    name: str
    database_url: str
    data_dir: Path
    blockfrost_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _engine: Engine | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def engine(self) -> Engine:
        """This process's engine on the node's database (for the checks)."""
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def client(self) -> PaynodeClient:
        return PaynodeClient(self.url, ADMIN_TOKEN)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"token": ADMIN_TOKEN}, timeout=30)

    def environment(self, failpoints: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PAYNODE_")}
        armed = {"PAYNODE_FAILPOINTS": failpoints} if failpoints else {}
        return {
            **inherited,
            "PAYNODE_NETWORK": "devnet",
            "PAYNODE_DATABASE_URL": self.database_url,
            "PAYNODE_DATA_DIR": str(self.data_dir),
            "PAYNODE_HOST": "127.0.0.1",
            "PAYNODE_PORT": str(self.port),
            "PAYNODE_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
            "PAYNODE_ADMIN_KEY": ADMIN_TOKEN,
            "PAYNODE_BLOCKFROST_URL": self.blockfrost_url,
            "PAYNODE_WORKER_INTERVAL_MS": str(WORKER_INTERVAL_MS),
            "PAYNODE_LOCK_GATHER_MS": "0",
            "PAYNODE_LOG_LEVEL": "warning",
            **armed,
        }

    def start(self, failpoints: str = "") -> None:
        """Start the node (with `failpoints` armed) and wait until /health answers."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n--- start {self.starts} failpoints={failpoints!r}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "paynode"), "serve"],
            cwd=REPOSITORY,
            env=self.environment(failpoints),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health:\n{self.log_tail()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL: no cleanup, no commit. The exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive:
            self.kill()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def journal(self, request_id: str) -> list[WalletTransaction]:
        """The wallet journal's rows for `request_id`, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletTransaction).order_by(col(WalletTransaction.created_at))
            ).all()
        return [row for row in rows if request_id in row.request_ids]


@dataclass
class ProcessWorld:
    devnet: DevnetServer
    control: httpx.Client  # the devnet's control API
    seller: NodeProcess
    buyer: NodeProcess
    seller_client: PaynodeClient
    buyer_client: PaynodeClient
    buyer_http: httpx.Client
    kit: AgentKit
    runs: AgentRuns
    network: NetworkProfile
    usdm: str
    escrow_address: str
    agent_identifier: str = ""
    kit_url: str = ""  # the agent's apiBaseUrl
    seller_address: str = ""
    buyer_address: str = ""
    poll_errors: list[str] = field(default_factory=list)

    # --- the devnet ---

    def now(self) -> int:
        return self.devnet.ledger.now_ms

    def blocks(self, count: int = 1) -> None:
        self.control.post("/devnet/blocks", json={"count": count}).raise_for_status()

    def advance_past(self, deadline_ms: int, margin_ms: int = 60_000) -> None:
        seconds = max(0, -(-(deadline_ms + margin_ms - self.now()) // 1000))
        self.control.post("/devnet/time", json={"advance_seconds": seconds}).raise_for_status()
        self.blocks()
        time.sleep(CLOCK_REFRESH_S)

    # --- waiting while the chain moves ---

    def pulse(self) -> None:
        """One block, one poll of the agent (which may find the seller node down)."""
        self.blocks()
        try:
            asyncio.run(self.kit.poll_once())
        except Exception as error:  # the seller node may be dead or starting
            self.poll_errors.append(repr(error))

    def drive(self, done: Callable[[], bool], what: str, timeout_s: float = 40.0) -> float:
        """Pulse until `done()`; the seconds it took."""
        started = time.monotonic()
        while True:
            try:
                if done():
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass  # a node restarting
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"{what}: not reached within {timeout_s} s\n{self.tails()}")
            self.pulse()
            time.sleep(DRIVE_PERIOD_S)

    def died(self, node: NodeProcess) -> Callable[[], bool]:
        return lambda: not node.alive

    def tails(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.log_tail(15)}" for n in (self.seller, self.buyer))

    # --- a job ---

    def payment(self, identifier: str) -> Payment:
        return self.seller_client.resolve_payment(identifier)

    def purchase(self, identifier: str) -> Purchase:
        return self.buyer_client.resolve_purchase(identifier)

    def states(self, identifier: str) -> tuple[str | None, str | None]:
        return self.payment(identifier).on_chain_state, self.purchase(identifier).on_chain_state

    def both(self, identifier: str, state: str) -> Callable[[], bool]:
        return lambda: self.states(identifier) == (state, state)

    def buy(self, text: str) -> Purchase:
        """Quote → confirm → purchase on the buyer node (its worker locks)."""
        body = {
            "network": "Devnet",
            "agentIdentifier": self.agent_identifier,
            "inputData": {"text": text, "mode": "summary"},
        }
        answer = self.buyer_http.post("/api/v1/quotes", json=body)
        assert answer.status_code == 200, answer.text
        quote = BuyerQuote.model_validate(answer.json()["data"])
        purchase = self.buyer_client.purchase_quote(quote)
        assert purchase.next_action.requested_action == "FundsLockingRequested"
        return purchase

    def invariants(self, identifiers: list[str], *, require_done: bool = True) -> JobReport:
        nodes = [
            Node("seller", self.seller_client, self.seller.engine),
            Node("buyer", self.buyer_client, self.buyer.engine),
        ]
        return check_all(
            self.devnet.ledger,
            self.escrow_address,
            nodes,
            identifiers=identifiers,
            require_done=require_done,
        )


def _node(name: str, stack: ExitStack, backend: str, root: Path, api: str) -> NodeProcess:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    url = stack.enter_context(scratch_database(backend, directory))
    node = NodeProcess(name, url, directory / "data", api, directory / "node.log")
    stack.callback(node.stop)
    return node


def _deploy_reference(network: NetworkProfile, api: str, control: httpx.Client) -> None:
    chain = BlockfrostChain(api, "reliability-tests")
    try:

        def block() -> None:
            control.post("/devnet/blocks", json={"count": 1}).raise_for_status()

        deploy_devnet_reference_script(network, chain, api, make_block=block)
    finally:
        chain.close()


def _register(world: ProcessWorld) -> None:
    """A funded Selling wallet on the seller node; the Fixed agent registered and confirmed."""
    wallet = world.seller_client.add_wallet("Selling")
    world.seller_address = wallet.wallet_address
    faucet(world.control, wallet.wallet_address, 300 * ADA)
    world.blocks()
    body = agent_body(wallet.wallet_vkey, "Fixed", [{"quantity": FIXED_PRICE, "unit": world.usdm}])
    body.update(name="reliability agent", apiBaseUrl=world.kit_url)
    registration = world.seller_client.register_agent(body).id

    def confirmed() -> bool:
        for entry in world.seller_client.list_registry(limit=10).assets:
            if entry.id == registration and entry.state == "RegistrationConfirmed":
                world.agent_identifier = entry.agent_identifier or ""
        return bool(world.agent_identifier)

    world.drive(confirmed, "the agent's registration", timeout_s=150)


@contextmanager
def process_world(backend: str, root: Path) -> Iterator[ProcessWorld]:
    """The devnet, both node processes running (no failpoint), the agent registered, the
    buyer's Purchasing wallet funded."""
    with ExitStack() as stack:
        devnet = stack.enter_context(manual_devnet("reliability-processes"))
        control = stack.enter_context(api_client(devnet.url))
        api = devnet.url + "/api"
        settings = settings_for("sqlite://", root, blockfrost_url=api)
        network = resolve_profile(settings.profile(), api)
        usdm = network.stablecoin.unit
        escrow = network.escrow.address
        assert usdm is not None and escrow is not None
        _deploy_reference(network, api, control)

        seller = _node("seller", stack, backend, root, api)
        buyer = _node("buyer", stack, backend, root, api)
        seller.start()
        buyer.start()
        seller_client = stack.enter_context(seller.client())
        buyer_client = stack.enter_context(buyer.client())
        buyer_http = stack.enter_context(buyer.http())

        runs = AgentRuns()
        agents: dict[str, str] = {}
        kit = AgentKit(
            AgentConfig(
                node_url=seller.url,
                api_key=ADMIN_TOKEN,
                agent_identifier=lambda: agents.get("agent"),
                input_schema=demo.INPUT_SCHEMA,
                handler=runs.handler,
                pricing_mode=None,  # read from the registry on chain
                poll_interval_s=0,  # polled by ProcessWorld.pulse
                stablecoin_unit=usdm,
            )
        )
        stack.callback(kit.store.close)
        stack.callback(kit.client.close)
        app = FastAPI()
        app.include_router(agent_router(kit), prefix="/agent")
        agent_url = stack.enter_context(serve_app(app))

        world = ProcessWorld(
            devnet=devnet, control=control, seller=seller, buyer=buyer,
            seller_client=seller_client, buyer_client=buyer_client, buyer_http=buyer_http,
            kit=kit, runs=runs, network=network, usdm=usdm, escrow_address=escrow,
        )  # fmt: skip
        world.kit_url = agent_url + "/agent"
        _register(world)
        agents["agent"] = world.agent_identifier
        purchasing = buyer_client.add_wallet("Purchasing")
        world.buyer_address = purchasing.wallet_address
        faucet(control, purchasing.wallet_address, 500 * ADA, {usdm: 200 * USDM})
        world.blocks()
        yield world


def restart(world: ProcessWorld, node: NodeProcess, failpoints: str = "") -> None:
    """Stop `node` if it runs (SIGKILL) and start it again on the same database."""
    if node.alive:
        node.kill()
    node.start(failpoints)
