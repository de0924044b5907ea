"""Two nodes on one devnet, with real HTTP between them: a seller node serving three agents built
with the agent kit (node.jobs.agent_router, served by uvicorn on their own port and registered on
the seller node through POST /api/agents), and a buyer node with a funded Purchasing wallet.
Each node has its own database on the backend of the run (both SQLite, or both PostgreSQL).

Nothing runs in the background: `tick()` runs every node.workers.STEPS step of both nodes, one
poll of each agent kit, then forges a block; `advance_past(deadline)` moves the devnet's clock.
The devnet, the nodes and the agents are shared by the module; each test makes its own jobs and
drives them to an end state, so a later test's clock moves leave them be. The escrow's reference
script is deployed at the devnet profile's reference address first, so both nodes spend the
escrow by reference, as a node whose operator ran `paynode escrow deploy-reference-script`."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pycardano import Address, Network, PaymentSigningKey, Transaction, UTxO
from sqlalchemy import Engine
from sqlmodel import Session, select

from contracts.datums import EscrowDatum
from devnet.server import DevnetServer
from node.chain.builders import Actor
from node.chain.network import deploy_devnet_reference_script
from node.chain.port import TxIo, TxUtxos
from node.client import BuyerQuote, Payment, PaynodeClient, Purchase
from node.crypto import SecretBox
from node.db import migrate
from node.db.engine import make_engine
from node.jobs import AgentConfig, AgentKit, Job, agent_router, demo
from node.payments.identifier import blockchain_identifier_from_datum
from node.runtime import Runtime
from node.sync.models import EscrowMirror, RowStatus, SyncTransaction
from node.workers import STEPS
from tests.conftest import LiveNode, make_key, scratch_database, serve
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.node.agents.bodies import agent_body
from tests.node.agents.conftest import chain_runtime
from tests.node.jobs.conftest import serve_app

ADA = 1_000_000
USDM = 1_000_000
MINUTE_MS = 60_000
CLOCK_REFRESH_S = 1.1  # Runtime.clock asks the devnet at most once a second
AUTO_MARGIN_MS = 11 * MINUTE_MS  # the nodes act 10 minutes after a deadline (§11)
FIXED_PRICE = 2 * USDM
TIERS = (1 * USDM, 4 * USDM)
MAX_TICKS = 12
SPOOFER_KEY = PaymentSigningKey(hashlib.blake2b(b"e2e-tests/spoofer", digest_size=32).digest())
SPOOFER = Actor(
    SPOOFER_KEY, Address(SPOOFER_KEY.to_verification_key().hash(), network=Network.TESTNET)
)


@dataclass
class Side:
    """One node: served over HTTP, its runtime and database, an operator's admin client."""

    name: str
    live: LiveNode
    client: PaynodeClient
    http: httpx.Client

    @property
    def runtime(self) -> Runtime:
        return self.live.runtime

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def mirrors(self, identifier: str) -> list[EscrowMirror]:
        with Session(self.engine) as session:
            query = select(EscrowMirror).where(
                EscrowMirror.blockchain_identifier == identifier,
                EscrowMirror.status == RowStatus.CONFIRMED,
            )
            return list(session.exec(query))

    def mirror(self, identifier: str) -> EscrowMirror:
        (row,) = self.mirrors(identifier)
        return row

    def tx_kinds(self, tx_hashes: list[str]) -> list[str]:
        """The mirror's kind of each transaction, in the order given."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(SyncTransaction).where(SyncTransaction.status == "Confirmed")
            )
            kinds = {row.tx_hash: str(row.kind) for row in rows}
        return [kinds.get(tx_hash, "?") for tx_hash in tx_hashes]


@dataclass
class AgentRuns:
    """What the agents' handlers were asked to do: the request ids they ran."""

    request_ids: list[str] = field(default_factory=list)

    async def handler(self, input_data: dict[str, Any], job: Job) -> str:
        self.request_ids.append(job.request_id)
        return demo.summarise(input_data)


@dataclass
class E2E:
    devnet: DevnetServer
    http: httpx.Client  # the devnet's control API
    seller: Side
    buyer: Side
    kits: dict[str, AgentKit]  # "fixed", "tiers", "dynamic"
    agents: dict[str, str]  # name → agentIdentifier
    runs: AgentRuns
    usdm: str
    seller_address: str  # the Selling wallet that holds the agents
    buyer_address: str  # the buyer node's Purchasing wallet
    fee_address: str
    escrow_address: str
    escrow_reference: UTxO  # the output carrying the escrow script, which both nodes reference
    _tx_cache: dict[str, TxUtxos] = field(default_factory=dict)

    # --- the devnet ---

    def now(self) -> int:
        return self.devnet.ledger.now_ms

    def blocks(self, count: int = 1) -> None:
        self.http.post("/devnet/blocks", json={"count": count}).raise_for_status()

    def advance_past(self, deadline_ms: int, margin_ms: int = AUTO_MARGIN_MS) -> None:
        """The devnet's clock moved past `deadline_ms` by `margin_ms`, a block at the new time,
        and the nodes' clocks (asked at most once a second) given time to see it."""
        seconds = max(0, -(-(deadline_ms + margin_ms - self.now()) // 1000))
        self.http.post("/devnet/time", json={"advance_seconds": seconds}).raise_for_status()
        self.blocks()
        time.sleep(CLOCK_REFRESH_S)

    # --- the workers, by hand ---

    def tick(self) -> None:
        """Every worker step of both nodes (exceptions surface), each agent's poll, a block."""
        for side in (self.seller, self.buyer):
            for step in STEPS:
                step.run(side.runtime)
        for kit in self.kits.values():
            asyncio.run(kit.poll_once())
        self.blocks()

    def tick_until(self, done: Callable[[], bool], what: str, limit: int = MAX_TICKS) -> int:
        """Ticks until `done()`; how many it took."""
        for count in range(limit + 1):
            if done():
                return count
            self.tick()
        raise AssertionError(f"{what}: not reached within {limit} ticks")

    # --- both sides' view of a job ---

    def payment(self, identifier: str) -> Payment:
        return self.seller.client.resolve_payment(identifier)

    def purchase(self, identifier: str) -> Purchase:
        return self.buyer.client.resolve_purchase(identifier)

    def states(self, identifier: str) -> tuple[str | None, str | None]:
        """(the seller node's on-chain state, the buyer node's)."""
        return self.payment(identifier).on_chain_state, self.purchase(identifier).on_chain_state

    def both(self, identifier: str, state: str) -> Callable[[], bool]:
        return lambda: self.states(identifier) == (state, state)

    # --- buying ---

    def quote(self, agent: str, input_data: dict[str, Any], **extra: Any) -> BuyerQuote:
        """POST /api/v1/quotes on the buyer node (the client's create_quote has no `option`, so
        the body is sent as is and read back as the client's BuyerQuote)."""
        body = {
            "network": "Devnet",
            "agentIdentifier": self.agents[agent],
            "inputData": input_data,
            **extra,
        }
        answer = self.buyer.http.post("/api/v1/quotes", json=body)
        assert answer.status_code == 200, answer.text
        return BuyerQuote.model_validate(answer.json()["data"])

    def buy(
        self, agent: str, text: str, mode: str = "summary", **extra: Any
    ) -> tuple[BuyerQuote, Purchase]:
        """Quote → confirm (the quote's amounts as they are) → purchase, on the buyer node."""
        quote = self.quote(agent, {"text": text, "mode": mode}, **extra)
        purchase = self.buyer.client.purchase_quote(quote)
        assert purchase.next_action.requested_action == "FundsLockingRequested"
        return quote, purchase

    # --- the chain ---

    def holdings(self, address: str) -> tuple[int, int]:
        """(lovelace, USDM) at `address`, from the chain."""
        assert self.seller.runtime.chain is not None
        lovelace = usdm = 0
        for utxo in self.seller.runtime.chain.utxos_at(address):
            lovelace += utxo.output.amount.coin
            for policy, assets in utxo.output.amount.multi_asset.items():
                for name, quantity in assets.items():
                    if policy.payload.hex() + name.payload.hex() == self.usdm:
                        usdm += quantity
        return lovelace, usdm

    def usdm_balances(self) -> dict[str, int]:
        parties = {
            "seller": self.seller_address,
            "buyer": self.buyer_address,
            "fees": self.fee_address,
            "escrow": self.escrow_address,
        }
        return {name: self.holdings(address)[1] for name, address in parties.items()}

    def tx(self, tx_hash: str) -> TxUtxos:
        if tx_hash not in self._tx_cache:
            assert self.seller.runtime.chain is not None
            self._tx_cache[tx_hash] = self.seller.runtime.chain.transaction_utxos(tx_hash)
        return self._tx_cache[tx_hash]

    def signed(self, tx_hash: str) -> Transaction:
        """The transaction as the chain has it (its CBOR: body and witness set)."""
        assert self.seller.runtime.chain is not None
        return Transaction.from_cbor(self.seller.runtime.chain.transaction_cbor(tx_hash))

    def carries(self, io: TxIo, identifier: str) -> bool:
        if io.address != self.escrow_address or io.inline_datum is None or io.reference:
            return False
        try:
            datum = EscrowDatum.from_cbor(bytes.fromhex(io.inline_datum))
            return blockchain_identifier_from_datum(datum) == identifier
        except Exception:
            return False

    def escrow_history(self, identifier: str) -> tuple[list[str], list[str]]:
        """From the chain (every transaction of the escrow address): the transactions that
        locked funds for `identifier` (an escrow output, no escrow input of it) and those that
        ended it (an escrow input of it, no escrow output)."""
        assert self.seller.runtime.chain is not None
        hashes: list[str] = []
        for page in range(1, 100):
            rows = self.seller.runtime.chain.address_transactions(
                self.escrow_address, page=page, count=100, newest_first=False
            )
            hashes += [row.tx_hash for row in rows]
            if len(rows) < 100:
                break
        locks, ends = [], []
        for tx_hash in hashes:
            tx = self.tx(tx_hash)
            spends = any(self.carries(io, identifier) for io in tx.inputs if not io.collateral)
            creates = any(self.carries(io, identifier) for io in tx.outputs)
            if creates and not spends:
                locks.append(tx_hash)
            if spends and not creates:
                ends.append(tx_hash)
        return locks, ends


def _side(
    name: str,
    stack: ExitStack,
    backend: str,
    box: SecretBox,
    devnet: DevnetServer,
    tmp: pytest.TempPathFactory,
) -> Side:
    """A node of its own: a scratch database on `backend`, migrated, served over HTTP."""
    url = stack.enter_context(scratch_database(backend, tmp.mktemp(f"{name}-db")))
    engine = make_engine(url)
    stack.callback(engine.dispose)
    migrate.upgrade(engine)
    runtime = chain_runtime(url, engine, box, devnet, tmp.mktemp(f"{name}-data"))
    assert runtime.chain is not None
    stack.callback(runtime.chain.close)
    live = stack.enter_context(serve(runtime))
    with Session(engine) as session:
        token = make_key(session, box, canAdmin=True, usageLimited=False)
    client = stack.enter_context(PaynodeClient(live.url, token))
    http = stack.enter_context(live.client(token))
    return Side(name, live, client, http)


def _deploy_reference_script(seller: Side, buyer: Side, http: httpx.Client) -> UTxO:
    """The escrow's reference script at the devnet profile's reference address, its blocks
    forged here (the devnet makes none by itself); both nodes' escrow resolves to it."""
    chain = seller.runtime.chain
    assert chain is not None

    def block() -> None:
        http.post("/devnet/blocks", json={"count": 1}).raise_for_status()

    reference = deploy_devnet_reference_script(
        seller.runtime.network, chain, seller.runtime.blockfrost_url, make_block=block
    )
    for side in (seller, buyer):
        found = side.runtime.escrow.reference
        assert found is not None and found.input == reference.input, side.name
    return reference


def _kit(
    seller: Side, token: str, usdm: str, runs: AgentRuns, agents: dict[str, str], name: str
) -> AgentKit:
    """One agent's kit; its identifier is read from `agents` once the registration confirms
    (unavailable until then)."""
    dynamic = name == "dynamic"
    config = AgentConfig(
        node_url=seller.live.url,
        api_key=token,
        agent_identifier=lambda: agents.get(name),
        input_schema=demo.INPUT_SCHEMA,
        handler=runs.handler,
        pricing_mode="Dynamic" if dynamic else None,  # None: read from the registry on chain
        estimate_usage=demo.estimate_usage if dynamic else None,
        report_usage=demo.report_usage if dynamic else None,
        poll_interval_s=0,  # polled by tick()
        stablecoin_unit=usdm,
    )
    return AgentKit(config)


def _register(world: E2E, agent_url: str) -> None:
    """A funded Selling wallet on the seller node; the three agents registered through
    POST /api/agents and minted by its worker; the Dynamic agent priced (demo.PRICING)."""
    wallet = world.seller.client.add_wallet("Selling")
    world.seller_address = wallet.wallet_address
    faucet(world.http, wallet.wallet_address, 300 * ADA)
    world.blocks()
    amounts: dict[str, list[dict[str, Any]] | None] = {
        "fixed": [{"quantity": FIXED_PRICE, "unit": world.usdm}],
        "tiers": [{"quantity": price, "unit": world.usdm} for price in TIERS],
        "dynamic": None,
    }
    modes = {"fixed": "Fixed", "tiers": "Fixed+prices", "dynamic": "Dynamic"}
    ids: dict[str, str] = {}
    for name, mode in modes.items():
        body = agent_body(wallet.wallet_vkey, mode, amounts[name])
        body.update(name=f"e2e {name} agent", apiBaseUrl=f"{agent_url}/{name}")
        ids[world.seller.client.register_agent(body).id] = name

    def confirmed() -> bool:
        entries = world.seller.client.list_registry(limit=10).assets
        for entry in entries:
            if entry.state == "RegistrationConfirmed" and entry.agent_identifier:
                world.agents[ids[entry.id]] = entry.agent_identifier
        return len(world.agents) == len(modes)

    world.tick_until(confirmed, "the agents' registration")
    world.seller.client.put_billing_pricing(world.agents["dynamic"], demo.PRICING)


@pytest.fixture(scope="module")
def e2e(
    backend: str, secret_box: SecretBox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[E2E]:
    with ExitStack() as stack:
        devnet = stack.enter_context(manual_devnet("e2e-tests"))
        http = stack.enter_context(api_client(devnet.url))
        seller = _side("seller", stack, backend, secret_box, devnet, tmp_path_factory)
        buyer = _side("buyer", stack, backend, secret_box, devnet, tmp_path_factory)
        reference = _deploy_reference_script(seller, buyer, http)
        usdm = seller.runtime.network.stablecoin.unit
        escrow = seller.runtime.network.escrow
        assert usdm is not None and escrow.address is not None and escrow.fee_address is not None

        runs = AgentRuns()
        with Session(seller.engine) as session:
            operator = make_key(session, secret_box, canAdmin=True, usageLimited=False)
        agents: dict[str, str] = {}
        kits = {
            name: _kit(seller, operator, usdm, runs, agents, name)
            for name in ("fixed", "tiers", "dynamic")
        }
        app = FastAPI()
        for name, kit in kits.items():
            app.include_router(agent_router(kit), prefix=f"/{name}")
            stack.callback(kit.store.close)
            stack.callback(kit.client.close)
        agent_url = stack.enter_context(serve_app(app))

        world = E2E(
            devnet=devnet, http=http, seller=seller, buyer=buyer, kits=kits, agents=agents,
            runs=runs, usdm=usdm, seller_address="", buyer_address="",
            fee_address=escrow.fee_address, escrow_address=escrow.address,
            escrow_reference=reference,
        )  # fmt: skip
        _register(world, agent_url)
        purchasing = buyer.client.add_wallet("Purchasing")
        world.buyer_address = purchasing.wallet_address
        faucet(http, purchasing.wallet_address, 500 * ADA, {usdm: 200 * USDM})
        faucet(http, str(SPOOFER.address), 100 * ADA, {usdm: 20 * USDM})
        world.blocks()
        yield world
