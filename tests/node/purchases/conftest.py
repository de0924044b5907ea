"""A buyer node on a devnet over HTTP, and a small real agent (a FastAPI app served by uvicorn)
whose /start_job answers like the agent kit: a blockchainIdentifier signed with its selling key
through node.payments.signing, the amounts to lock and, for Dynamic agents, the seller's quote.

The agents' registry NFTs are minted once per module to the agent's own key (not a wallet of the
buyer node), so the buyer node sees its escrows as the buyer only. Worker steps run by hand with
the devnet's clock; the node's clock is the devnet ledger's own."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from pycardano import Address, Network, PaymentSigningKey
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from devnet.server import DevnetServer
from node.chain.builders import Actor
from node.chain.context import PortChainContext
from node.chain.contracts import registry_contract
from node.chain.registry_builders import RegistryBuilders
from node.crypto import SecretBox
from node.payments import hashes, signing
from node.purchases import workers
from node.purchases.models import Purchase
from node.runtime import Runtime
from node.sync import service as sync
from node.sync.models import EscrowMirror
from registry import metadata as mip002
from tests.conftest import LiveNode, free_port, make_key, serve
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.node.agents.conftest import chain_runtime

ADA = 1_000_000
USDM = 1_000_000
MINUTE_MS = 60_000
AGENT_KEY = PaymentSigningKey(hashlib.blake2b(b"purchases-tests/agent", digest_size=32).digest())
AGENT = Actor(AGENT_KEY, Address(AGENT_KEY.to_verification_key().hash(), network=Network.TESTNET))
AGENT_VKEY = AGENT.key_hash.payload.hex()


@dataclass
class AgentSpec:
    """One agent the test server answers for, and how it answers."""

    name: str
    mode: mip002.PricingMode
    prices: list[int] = field(default_factory=list)  # USDM smallest units
    identifier: str = ""
    dynamic_price: int = 3 * USDM
    quote_ttl_ms: int = 10 * MINUTE_MS
    times: tuple[int, int, int, int] = (30, 60, 120, 180)  # minutes from now
    after_signing: dict[str, Any] = field(default_factory=dict)  # fields changed once signed


class TestAgent:
    """The agent's /start_job for every spec, at http://127.0.0.1:<port>/<name>."""

    __test__ = False

    def __init__(self, devnet: DevnetServer, usdm: str) -> None:
        self.devnet, self.usdm = devnet, usdm
        self.specs: dict[str, AgentSpec] = {}
        self.calls = 0
        self.last_body: dict[str, Any] = {}
        self.url = ""
        self.app = FastAPI()
        self.app.post("/{name}/start_job")(self.start_job)

    def base_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    async def start_job(self, name: str, request: Request) -> dict[str, Any]:
        self.calls += 1
        body = await request.json()
        self.last_body = body
        spec = self.specs[name]
        return self.answer(spec, body["identifier_from_purchaser"], body["input_data"], body)

    def _funds(self, spec: AgentSpec, body: dict[str, Any]) -> list[dict[str, str]]:
        if spec.mode is mip002.PricingMode.DYNAMIC:
            return [{"amount": str(spec.dynamic_price), "unit": self.usdm}]
        if spec.mode is mip002.PricingMode.FIXED_PRICES:
            tier = spec.prices[int(body.get("option") or 0)]
            return [{"amount": str(tier), "unit": self.usdm}]
        return [{"amount": str(price), "unit": self.usdm} for price in spec.prices]

    def answer(
        self, spec: AgentSpec, purchaser: str, input_data: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.devnet.ledger.now_ms
        times = signing.PaymentTimes(*(now + m * MINUTE_MS for m in spec.times))
        funds = self._funds(spec, body)
        fixed = spec.mode is mip002.PricingMode.FIXED
        created = signing.create_blockchain_identifier(
            signing_key=AGENT_KEY, seller_address=str(AGENT.address),
            agent_identifier=spec.identifier, identifier_from_purchaser=purchaser,
            input_hash=hashes.input_hash(purchaser, input_data),
            requested_funds=None if fixed else funds, times=times,
        )  # fmt: skip
        answer: dict[str, Any] = {
            "id": secrets.token_hex(8),
            "blockchainIdentifier": created.blockchain_identifier,
            "payByTime": str(times.pay_by_time),
            "submitResultTime": str(times.submit_result_time),
            "unlockTime": str(times.unlock_time),
            "externalDisputeUnlockTime": str(times.external_dispute_unlock_time),
            "agentIdentifier": spec.identifier,
            "sellerVKey": AGENT_VKEY,
            "identifierFromPurchaser": purchaser,
            "input_hash": hashes.input_hash(purchaser, input_data),
            "amounts": funds,
            "quote": self._quote(spec, now) if spec.mode is mip002.PricingMode.DYNAMIC else None,
        }
        answer.update(spec.after_signing)
        return answer

    def _quote(self, spec: AgentSpec, now: int) -> dict[str, Any]:
        return {
            "id": secrets.token_hex(16),
            "agentIdentifier": spec.identifier,
            "unit": self.usdm,
            "amount": str(spec.dynamic_price),
            "reserve": str(spec.dynamic_price),
            "breakdown": [{"slug": "tokens", "metric": "input_tokens", "quantity": "1200"}],
            "createdAt": now,
            "expiresAt": now + spec.quote_ttl_ms,
        }


def serve_app(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the agent did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def mint_agent(runtime: Runtime, devnet: DevnetServer, agent: TestAgent, spec: AgentSpec) -> str:
    """The agent's registry NFT, minted to the agent's key with its MIP-002 metadata."""
    assert runtime.chain is not None
    profile = runtime.network
    contract = registry_contract(profile, runtime.chain)
    builders = RegistryBuilders(
        PortChainContext(runtime.chain, profile.network_id), contract.script, contract.policy_id,
        lambda: devnet.ledger.now_ms, profile.slot_config,
    )  # fmt: skip
    metadata = mip002.AgentMetadata(
        name=f"{spec.name} agent",
        api_base_url=agent.base_url(spec.name),
        author=mip002.Author(name="Test"),
        tags=["tests"],
        pricing_mode=spec.mode,
        amounts=[mip002.Amount(quantity=price, unit=agent.usdm) for price in spec.prices],
    )
    built, asset_name = builders.mint(AGENT, mip002.to_onchain(metadata))
    runtime.chain.submit(built.cbor)
    return contract.policy_id.hex() + asset_name


AGENT_SPECS = (
    AgentSpec("fixed", mip002.PricingMode.FIXED, [2 * USDM]),
    AgentSpec("tiers", mip002.PricingMode.FIXED_PRICES, [1 * USDM, 4 * USDM]),
    AgentSpec("dynamic", mip002.PricingMode.DYNAMIC),
    AgentSpec("free", mip002.PricingMode.FREE),
)


@dataclass
class BuyerWorld:
    """The buyer node, its devnet, the test agent, and the hands to drive them."""

    node: LiveNode
    devnet: DevnetServer
    http: httpx.Client
    agent: TestAgent

    @property
    def runtime(self) -> Runtime:
        return self.node.runtime

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def usdm(self) -> str:
        return self.agent.usdm

    def spec(self, name: str) -> AgentSpec:
        return self.agent.specs[name]

    def now(self) -> int:
        return self.devnet.ledger.now_ms

    def blocks(self, count: int = 1) -> None:
        self.http.post("/devnet/blocks", json={"count": count}).raise_for_status()

    def advance(self, ms: int) -> None:
        self.http.post("/devnet/time", json={"advance_seconds": -(-ms // 1000)}).raise_for_status()
        self.blocks()

    def sync(self) -> None:
        """A block on top (one confirmation), the mirror, then the purchases follow it."""
        self.blocks()
        sync.sync_runtime(self.runtime)
        workers.follow_chain(self.runtime)

    def lock(self) -> int:
        return workers.lock_purchases(self.runtime, clock=self.now)

    def refund_actions(self) -> int:
        return workers.run_refund_actions(self.runtime, clock=self.now)

    def purchasing_wallet(self, admin: httpx.Client, ada: int = 200, usdm: int = 50) -> str:
        answer = admin.post("/api/v1/wallet", json={"type": "Purchasing"})
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if ada:
            faucet(self.http, data["walletAddress"], ada * ADA, {self.usdm: usdm * USDM})
        address: str = data["walletAddress"]
        return address

    def purchases(self) -> list[Purchase]:
        with Session(self.engine) as session:
            return list(session.exec(select(Purchase).order_by(col(Purchase.id))))

    def purchase(self, purchase_id: str) -> Purchase:
        with Session(self.engine) as session:
            found = session.get(Purchase, purchase_id)
            assert found is not None
            return found

    def escrows(self) -> list[EscrowMirror]:
        with Session(self.engine) as session:
            return list(session.exec(select(EscrowMirror)))


@pytest.fixture(scope="module")
def buyer_devnet() -> Iterator[DevnetServer]:
    with manual_devnet("purchases-tests") as server:
        yield server


@pytest.fixture(scope="module")
def buyer_http(buyer_devnet: DevnetServer) -> Iterator[httpx.Client]:
    with api_client(buyer_devnet.url) as client:
        yield client


@pytest.fixture(scope="module")
def buyer_node(
    database_url: str,
    migrated_engine: Engine,
    secret_box: SecretBox,
    buyer_devnet: DevnetServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveNode]:
    runtime = chain_runtime(
        database_url, migrated_engine, secret_box, buyer_devnet, tmp_path_factory.mktemp("data")
    )
    runtime.__dict__["clock"] = lambda: buyer_devnet.ledger.now_ms  # the ledger's own time
    with serve(runtime) as node:
        yield node
    assert runtime.chain is not None
    runtime.chain.close()


@pytest.fixture(scope="module")
def test_agent(
    buyer_node: LiveNode, buyer_devnet: DevnetServer, buyer_http: httpx.Client
) -> Iterator[TestAgent]:
    """The agent served over HTTP, its NFTs minted (a block each)."""
    usdm = buyer_node.runtime.network.stablecoin.unit
    assert usdm is not None
    agent = TestAgent(buyer_devnet, usdm)
    server, thread, agent.url = serve_app(agent.app)
    faucet(buyer_http, str(AGENT.address), 100 * ADA)
    for template in AGENT_SPECS:
        spec = AgentSpec(template.name, template.mode, list(template.prices))
        spec.identifier = mint_agent(buyer_node.runtime, buyer_devnet, agent, spec)
        agent.specs[spec.name] = spec
    yield agent
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def world(
    buyer_node: LiveNode,
    engine: Engine,
    buyer_devnet: DevnetServer,
    buyer_http: httpx.Client,
    test_agent: TestAgent,
) -> Iterator[BuyerWorld]:
    """An empty database; the agents as minted, with their default answers."""
    for template in AGENT_SPECS:
        spec = test_agent.specs[template.name]
        spec.dynamic_price, spec.quote_ttl_ms = template.dynamic_price, template.quote_ttl_ms
        spec.times, spec.after_signing = template.times, {}
    yield BuyerWorld(buyer_node, buyer_devnet, buyer_http, test_agent)


@pytest.fixture
def admin(world: BuyerWorld, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    with world.node.client(make_key(session, secret_box, canAdmin=True)) as client:
        yield client


@pytest.fixture
def pay(world: BuyerWorld, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    token = make_key(session, secret_box, permission="ReadAndPay", usageLimited=False)
    with world.node.client(token) as client:
        yield client
