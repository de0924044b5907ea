"""Load with replicas (issue #10): 20 buyers x 5 jobs at once against one seller, the seller node
and the buyer node each run as two replicas sharing one PostgreSQL → every job completes and no
user sees a UTxO contention error.

The world is the demo's (node/jobs/demo_run.py) doubled: an in-process devnet making a block a
second with the escrow's reference script deployed; a seller database served by two node
replicas (each its own Runtime, engine, uvicorn server and worker thread) and a buyer database
likewise; the demo agent (node.jobs.demo's config, built with the agent kit) served on its own
port, talking to both seller replicas in turn. Every HTTP client of the scenario (the 20 buyers,
the agent, the operators) sends each request to the next replica of its side and keeps every
answer it got, so the test can say what a user saw.

Each buyer (a thread with its own pay key) quotes, confirms and purchases its 5 jobs one after
another, then waits for their results; once every result is in, the devnet's clock jumps past
the unlock times (as bench/lifecycle.py does) and the seller's replicas collect.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from contracts.datums import EscrowDatum
from devnet.server import DevnetConfig, DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.network import deploy_devnet_reference_script
from node.client import LIMITS, Amount, Payment, PaynodeClient, Purchase
from node.crypto import SecretBox
from node.db import migrate
from node.db.engine import make_engine
from node.jobs import AgentKit, agent_router, demo
from node.jobs.demo_run import AUTO_ACTION_MARGIN_S, MAX_PRICE_USDM, TEXT
from node.jobs.hashes import result_hash
from node.payments.identifier import blockchain_identifier_from_datum, decode_blockchain_identifier
from node.runtime import Runtime
from node.wallets.models import TxStatus, WalletTransaction
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    LiveNode,
    make_key,
    scratch_database,
    serve,
    settings_for,
)
from tests.node.jobs.conftest import serve_app

pytestmark = pytest.mark.soak

T = TypeVar("T")
ADA = 1_000_000
USDM = 1_000_000
BUYERS = 20
JOBS_EACH = 5
REPLICAS = 2
WAIT_S = 480.0  # the longest wait for one phase of the whole load
POLL_S = 2.0
SELLER_FUNDING = [40 * ADA] * 10  # separate UTxOs: the seller's result and collection txs
BUYER_WALLETS = 2
BUYER_FUNDING = [(60 * ADA, 40 * USDM)] * 6  # per Purchasing wallet
# What a UTxO contention error looks like in an answer (lower case).
CONTENTION = (
    "utxo",
    "contention",
    "badinputs",
    "bad inputs",
    "already spent",
    "wallet_busy",
    "walletbusy",
    "locked by another",
    "lock timeout",
    "double spend",
)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer a client of the scenario got."""

    who: str
    url: str
    method: str
    status: int
    body: str


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next of `urls` (the replicas of one side) and keeps every
    answer in `seen`."""

    def __init__(self, who: str, urls: Sequence[str], seen: list[Answer]) -> None:
        self.who = who
        self._targets = [httpx.URL(url) for url in urls]
        self._turn = itertools.count()
        self._seen = seen
        self._local = threading.local()
        self._pools: list[httpx.HTTPTransport] = []

    def _inner(self) -> httpx.HTTPTransport:
        """A connection pool per thread: httpcore 1.0.9's sync pool, shared by threads, can close
        a connection it has just handed to another thread's request (encode/httpcore#1110: the
        request hangs until its read timeout, or fails with "Bad file descriptor"); the agent
        kit calls its client from several threads."""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = httpx.HTTPTransport(limits=LIMITS)  # as PaynodeClient's own
            self._local.pool = pool
            self._pools.append(pool)
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self._targets[next(self._turn) % len(self._targets)]
        request.url = request.url.copy_with(host=target.host, port=target.port)
        sent = time.monotonic()
        try:
            response = self._inner().handle_request(request)
        except httpx.HTTPError as error:  # kept as an answer the client did not get
            took = time.monotonic() - sent
            failed = f"{type(error).__name__} after {took:.1f} s: {error}"
            self._seen.append(Answer(self.who, str(request.url), request.method, 0, failed))
            raise
        body = response.read().decode("utf-8", "replace")
        self._seen.append(
            Answer(self.who, str(request.url), request.method, response.status_code, body)
        )
        return response

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


@dataclass
class Side:
    """One node's database and its replicas."""

    name: str
    engine: Engine
    replicas: list[LiveNode]
    admin_token: str

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def client(self, who: str, token: str, seen: list[Answer]) -> PaynodeClient:
        transport = RoundRobin(who, self.urls, seen)
        return PaynodeClient(self.urls[0], token, transport=transport, timeout_s=60)

    def requests(self) -> int:
        """Blockfrost requests the replicas made."""
        total = 0
        for replica in self.replicas:
            assert replica.runtime.chain is not None
            total += sum(replica.runtime.chain.requests.snapshot().values())
        return total

    def journal(self) -> Counter[str]:
        """The wallets' journal: transactions by status."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletTransaction.status, func.count()).group_by(WalletTransaction.status)
            ).all()
        return Counter({str(status): int(count) for status, count in rows})


@dataclass
class Job:
    buyer: int
    text: str
    purchase: Purchase
    identifier_from_purchaser: str

    @property
    def identifier(self) -> str:
        return self.purchase.blockchain_identifier

    @property
    def expected_hash(self) -> str:
        output = demo.summarise({"text": self.text, "mode": "summary"})
        return result_hash(self.identifier_from_purchaser, output)


@dataclass
class World:
    devnet: DevnetServer
    chain: BlockfrostChain
    seller: Side
    buyer: Side
    agent_identifier: str
    usdm: str
    escrow_address: str
    seen: list[Answer] = field(default_factory=list)


def poll(what: str, check: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(POLL_S)


# --- the world ------------------------------------------------------------------------------


def open_side(
    stack: ExitStack, name: str, url: str, api: str, box: SecretBox, data_dir: Path
) -> Side:
    """A migrated database and REPLICAS nodes on it, each with its own engine and workers."""
    first = make_engine(url)
    stack.callback(first.dispose)
    migrate.upgrade(first)
    with Session(first) as session:
        admin_token = make_key(session, box, canAdmin=True, usageLimited=False)
    replicas = []
    for index in range(REPLICAS):
        settings = settings_for(
            url,
            data_dir / f"{name}-{index}",
            blockfrost_url=api,
            worker_interval_ms=1000,
            lock_gather_ms=1000,
            log_level="warning",
        )
        engine = make_engine(url)
        stack.callback(engine.dispose)
        chain = BlockfrostChain(api, f"soak-{name}-{index}")
        runtime = Runtime(settings, settings.profile(), engine, box, chain)
        replicas.append(stack.enter_context(serve(runtime)))
    return Side(name, first, replicas, admin_token)


def faucet(devnet: DevnetServer, address: str, lovelace: int, usdm: int = 0) -> None:
    assets = {devnet.ledger.usdm_unit: usdm} if usdm else {}
    body = {"address": address, "lovelace": lovelace, "assets": assets}
    httpx.post(f"{devnet.url}/devnet/faucet", json=body, timeout=60).raise_for_status()


def funded(chain: BlockfrostChain, address: str, outputs: int) -> Callable[[], bool | None]:
    return lambda: len(chain.utxos_at(address)) >= outputs or None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("soak")
    box = SecretBox(TEST_ENCRYPTION_KEY)
    seen: list[Answer] = []
    with ExitStack() as stack:
        seller_url = stack.enter_context(scratch_database("postgresql", data_dir / "seller-db"))
        buyer_url = stack.enter_context(scratch_database("postgresql", data_dir / "buyer-db"))
        devnet = DevnetServer(DevnetConfig(port=0, block_time_s=1.0))
        devnet.start()
        stack.callback(devnet.stop)
        api = devnet.url + "/api"
        chain = BlockfrostChain(api, "soak-test")
        seller = open_side(stack, "seller", seller_url, api, box, data_dir)
        buyer = open_side(stack, "buyer", buyer_url, api, box, data_dir)
        runtime = seller.replicas[0].runtime
        assert runtime.chain is not None
        deploy_devnet_reference_script(runtime.network, runtime.chain, api)

        # the demo agent on its own port, its kit talking to both seller replicas in turn
        with Session(seller.engine) as session:
            agent_key = make_key(session, box, canAdmin=True, usageLimited=False)
        found: dict[str, str] = {}
        config = demo.demo_config(
            seller.urls[0],
            agent_key,
            lambda: found.get("agent"),
            poll_interval_s=1.0,
            stablecoin_unit=runtime.network.stablecoin.unit,
        )
        kit = AgentKit(config, client=seller.client("agent", agent_key, seen))
        agent_app = FastAPI()
        agent_app.include_router(agent_router(kit), prefix=demo.PREFIX)
        agent_base = stack.enter_context(serve_app(agent_app)) + demo.PREFIX

        operator = stack.enter_context(seller.client("seller-operator", seller.admin_token, seen))
        selling = operator.add_wallet("Selling")
        for lovelace in SELLER_FUNDING:
            faucet(devnet, selling.wallet_address, lovelace)
        poll("the seller's funds", funded(chain, selling.wallet_address, len(SELLER_FUNDING)))
        entry = operator.register_agent(demo.registration_body(selling.wallet_vkey, agent_base))
        found["agent"] = demo.wait_for_registration(operator, entry.id, 300)
        operator.put_billing_pricing(found["agent"], demo.PRICING)

        purchaser = stack.enter_context(buyer.client("buyer-operator", buyer.admin_token, seen))
        for _ in range(BUYER_WALLETS):
            wallet = purchaser.add_wallet("Purchasing")
            for lovelace, usdm in BUYER_FUNDING:
                faucet(devnet, wallet.wallet_address, lovelace, usdm)
            poll("the buyer's funds", funded(chain, wallet.wallet_address, len(BUYER_FUNDING)))

        yield World(
            devnet=devnet,
            chain=chain,
            seller=seller,
            buyer=buyer,
            agent_identifier=found["agent"],
            usdm=devnet.ledger.usdm_unit,
            escrow_address=str(runtime.network.escrow.address),
            seen=seen,
        )


# --- the buyers -----------------------------------------------------------------------------


def buy_and_wait(world: World, client: PaynodeClient, index: int) -> list[Job]:
    """One buyer: its jobs quoted, confirmed and purchased one after another, then each waited
    for until its result is on chain."""
    ceiling = [Amount(amount=MAX_PRICE_USDM, unit=world.usdm)]
    jobs = []
    for number in range(JOBS_EACH):
        text = f"{TEXT} (buyer {index}, job {number})"
        sent = client.send_marketplace_request(
            world.agent_identifier, {"text": text, "mode": "summary"}, max_amounts=ceiling
        )
        purchaser = decode_blockchain_identifier(sent.purchase.blockchain_identifier).purchaser_id
        jobs.append(Job(index, text, sent.purchase, purchaser))
    for job in jobs:
        job.purchase = wait_purchase(client, job, "ResultSubmitted")
    return jobs


def wait_purchase(
    client: PaynodeClient, job: Job, state: str, action: str | None = None
) -> Purchase:
    """The purchase once the buyer node shows `state` (and `action` next: the mirror, which
    the sync writes, runs ahead of the next action, which follow_chain writes after it)."""

    def check() -> Purchase | None:
        found = client.resolve_purchase(job.identifier)
        done = found.on_chain_state == state
        return found if done and action in (None, found.next_action.requested_action) else None

    return poll(f"purchase {job.identifier[:16]}… to be {state}", check)


def finished(client: PaynodeClient, job: Job) -> Callable[[], Payment | None]:
    """The seller node's payment once it is Withdrawn with nothing left to do (or in error)."""

    def check() -> Payment | None:
        payment = client.resolve_payment(job.identifier)
        action = payment.next_action.requested_action
        withdrawn = payment.on_chain_state == "Withdrawn"
        return payment if withdrawn and action in ("None", "WaitingForManualAction") else None

    return check


def wait_collected(client: PaynodeClient, jobs: list[Job], buyer: int) -> None:
    """One buyer (its own thread and client) waits for its jobs to be collected."""
    for job in jobs:
        if job.buyer == buyer:
            job.purchase = wait_purchase(client, job, "Withdrawn", "None")


def escrow_history(world: World) -> tuple[Counter[str], Counter[str], int]:
    """From the chain: per blockchainIdentifier the transactions that locked it (an escrow
    output of it, no escrow input) and that ended it (an escrow input, no output); and how many
    escrow transactions there were."""
    hashes: list[str] = []
    for page in range(1, 1000):
        rows = world.chain.address_transactions(
            world.escrow_address, page=page, count=100, newest_first=False
        )
        hashes += [row.tx_hash for row in rows]
        if len(rows) < 100:
            break
    locks: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for tx_hash in hashes:
        utxos = world.chain.transaction_utxos(tx_hash)
        spent = {identifier_of(world, io) for io in utxos.inputs} - {None}
        made = {identifier_of(world, io) for io in utxos.outputs} - {None}
        locks.update(str(i) for i in made - spent)
        ends.update(str(i) for i in spent - made)
    return locks, ends, len(hashes)


def identifier_of(world: World, io: object) -> str | None:
    address = getattr(io, "address", None)
    datum = getattr(io, "inline_datum", None)
    if address != world.escrow_address or datum is None or getattr(io, "reference", False):
        return None
    try:
        return blockchain_identifier_from_datum(EscrowDatum.from_cbor(bytes.fromhex(datum)))
    except Exception:
        return None


def contention(answer: Answer) -> bool:
    text = answer.body.lower()
    return answer.status >= 500 or any(word in text for word in CONTENTION)


def test_twenty_buyers_five_jobs_each_two_replicas_a_side(world: World) -> None:
    try:
        run_load(world)
    finally:
        bad = [a for a in world.seen if contention(a) or not 200 <= a.status < 400]
        for a in bad[:50]:
            print(f"{a.who} {a.method} {a.url} {a.status}: {a.body[:300]}")


def run_load(world: World) -> None:
    started = time.monotonic()
    requests_before = world.seller.requests(), world.buyer.requests()
    clients = [
        world.buyer.client(f"buyer-{i}", pay_key(world.buyer), world.seen) for i in range(BUYERS)
    ]
    with ExitStack() as stack:
        for client in clients:
            stack.enter_context(client)
        with ThreadPoolExecutor(max_workers=BUYERS) as pool:
            runs = [pool.submit(buy_and_wait, world, clients[i], i) for i in range(BUYERS)]
            jobs = [job for run in runs for job in run.result()]
        results_s = time.monotonic() - started
        assert len(jobs) == BUYERS * JOBS_EACH
        assert len({job.identifier for job in jobs}) == len(jobs)

        # every result in: time jumps past the unlock times, the seller's replicas collect
        unlock_ms = max(job.purchase.unlock_time for job in jobs)
        now_ms = int(httpx.get(f"{world.devnet.url}/devnet/info", timeout=30).json()["now_ms"])
        seconds = max(0, (unlock_ms - now_ms) // 1000) + AUTO_ACTION_MARGIN_S
        answer = httpx.post(
            f"{world.devnet.url}/devnet/time", json={"advance_seconds": seconds}, timeout=30
        )
        answer.raise_for_status()
        with ThreadPoolExecutor(max_workers=BUYERS) as pool:
            waits = [pool.submit(wait_collected, clients[i], jobs, i) for i in range(BUYERS)]
            for wait in waits:
                wait.result()
    seconds_all = time.monotonic() - started

    # both nodes' rows in their final states, the result hashes right
    seller_reads = world.seller.client("check", world.seller.admin_token, world.seen)
    with seller_reads:
        for job in jobs:
            payment = poll("the seller node's payment to be done", finished(seller_reads, job), 60)
            assert payment.on_chain_state == "Withdrawn", (job.identifier, payment)
            assert payment.next_action.requested_action == "None", (job.identifier, payment)
            assert payment.next_action.error_type is None, (job.identifier, payment)
            assert payment.result_hash == job.expected_hash
            assert job.purchase.on_chain_state == "Withdrawn"
            assert job.purchase.next_action.requested_action == "None", job.purchase
            assert job.purchase.next_action.error_type is None, job.purchase
            assert job.purchase.result_hash == job.expected_hash

    # each job locked once and ended (collected) once on chain
    locks, ends, escrow_txs = escrow_history(world)
    for job in jobs:
        assert locks[job.identifier] == 1, (job.identifier, locks[job.identifier])
        assert ends[job.identifier] == 1, (job.identifier, ends[job.identifier])

    # no wallet journal holds a Rejected transaction (two replicas spending one UTxO)
    journals = {side.name: side.journal() for side in (world.seller, world.buyer)}
    for name, journal in journals.items():
        assert journal[TxStatus.REJECTED] == 0, (name, journal)

    # no answer a user, the agent or an operator got was a 5xx or a contention error
    bad = [a for a in world.seen if contention(a) or not 200 <= a.status < 400]
    assert not bad, "\n".join(f"{a.who} {a.method} {a.url} {a.status}: {a.body[:300]}" for a in bad)
    by_replica = Counter(httpx.URL(answer.url).port for answer in world.seen)
    assert len(by_replica) >= 2 * REPLICAS  # every replica of both sides answered

    print(
        f"\nload: {len(jobs)} jobs ({BUYERS} buyers x {JOBS_EACH}), {REPLICAS} replicas a side, "
        f"one PostgreSQL each; results in {results_s:.0f} s, all collected in "
        f"{seconds_all:.0f} s; {escrow_txs} escrow txs; journals: seller "
        f"{dict(journals['seller'])}, buyer {dict(journals['buyer'])}; "
        f"{len(world.seen)} HTTP answers, none an error; Blockfrost requests: seller "
        f"{world.seller.requests() - requests_before[0]}, "
        f"buyer {world.buyer.requests() - requests_before[1]}"
    )


def pay_key(side: Side) -> str:
    with Session(side.engine) as session:
        return make_key(session, SecretBox(TEST_ENCRYPTION_KEY), canPay=True, usageLimited=False)
