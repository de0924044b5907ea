"""`paynode demo`: the whole story on one machine. A devnet in this process, a seller node with
the demo agent, a buyer node (each its own SQLite database and port); the agent is registered,
the wallets funded from the faucet; then quote → confirm → lock → result → collect, a refund
(the agent fails the job), and a dispute the devnet's admins resolve. Each step prints its
transaction hashes, the fees and both sides' balances.

Everything goes over HTTP with node.client, as two operators and an agent far apart would. When
an endpoint a step needs is missing, the demo stops at that step and says which.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from node.app import create_app
from node.bootstrap import open_runtime
from node.chain.network import deploy_devnet_reference_script
from node.client import Amount, PaynodeClient, PaynodeError, Purchase, UsageRow
from node.config import Settings
from node.jobs import agent_router, demo
from node.runtime import Runtime

T = TypeVar("T")
ADA = 1_000_000
USDM = 1_000_000
BUYER_LOVELACE = 200 * ADA
BUYER_USDM = 100 * USDM
MAX_PRICE_USDM = 5 * USDM  # what the buyer confirms at most for one job
WAIT_S = 180.0
AUTO_ACTION_MARGIN_S = 11 * 60  # the nodes act 10 minutes after a deadline (§11)
TEXT = (
    "Cardano escrow lets a buyer agent lock stablecoins for a seller agent, who submits a "
    "result hash and collects after the unlock time; refunds and disputes follow the contract."
)


class DemoStopped(Exception):
    """The demo cannot go on: the message says at which step and why."""


@dataclass
class Side:
    """One operator: its node's URL, an admin client, its hot wallet's address."""

    name: str
    url: str
    client: PaynodeClient
    runtime: Runtime | None = None  # the node's own, when it runs in this process
    address: str = ""


@dataclass
class Demo:
    console: Console
    devnet_url: str
    seller: Side
    buyer: Side
    agent: demo.DemoAgent
    usdm_unit: str
    fee_address: str
    agent_identifier: str = ""

    # --- printing ---

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def say(self, text: str) -> None:
        self.console.print(text)

    def balances(self) -> None:
        table = Table(title="Balances (wallets on chain)")
        for column in ("", "ADA", "USDM"):
            table.add_column(column, justify="right" if column else "left")
        rows = (("seller", self.seller.address), ("buyer", self.buyer.address))
        for name, address in (*rows, ("protocol fees", self.fee_address)):
            lovelace, usdm = self.holdings(address)
            table.add_row(name, units(lovelace), units(usdm))
        self.console.print(table)

    def holdings(self, address: str) -> tuple[int, int]:
        """(lovelace, USDM) at an address: the sum of its UTxOs (Blockfrost's pages)."""
        totals: dict[str, int] = {}
        for page in range(1, 100):
            answer = httpx.get(
                f"{self.devnet_url}/api/v0/addresses/{address}/utxos",
                params={"page": page, "count": 100},
                headers={"project_id": "paynode-demo"},
                timeout=30,
            )
            if answer.status_code == 404:
                break
            answer.raise_for_status()
            for utxo in answer.json():
                for amount in utxo["amount"]:
                    totals[amount["unit"]] = totals.get(amount["unit"], 0) + int(amount["quantity"])
            if len(answer.json()) < 100:
                break
        return totals.get("lovelace", 0), totals.get(self.usdm_unit, 0)

    # --- the devnet ---

    def now_ms(self) -> int:
        info = httpx.get(f"{self.devnet_url}/devnet/info", timeout=30).json()
        return int(info["now_ms"])

    def advance_past(self, deadline_ms: int, what: str) -> None:
        seconds = max(0, (deadline_ms - self.now_ms()) // 1000) + AUTO_ACTION_MARGIN_S
        answer = httpx.post(
            f"{self.devnet_url}/devnet/time", json={"advance_seconds": seconds}, timeout=30
        )
        answer.raise_for_status()
        self.say(f"devnet clock moved {seconds // 60} minutes forward, past {what}")

    def faucet(self, address: str, lovelace: int, usdm: int = 0) -> str:
        assets = {self.usdm_unit: usdm} if usdm else {}
        body = {"address": address, "lovelace": lovelace, "assets": assets}
        answer = httpx.post(f"{self.devnet_url}/devnet/faucet", json=body, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["tx_hash"])


def units(amount: int) -> str:
    """An amount of 6 decimals in whole units, exactly (no float)."""
    return f"{amount // 1_000_000}.{amount % 1_000_000:06d}"


def needs(step: str, call: Callable[[], T]) -> T:
    """Run a call of `step`; a route the node does not serve stops the demo, naming it."""
    try:
        return call()
    except PaynodeError as error:
        missing = error.status == 405 or (error.status == 404 and error.message == "Not Found")
        if missing:
            raise DemoStopped(
                f"step '{step}' stopped: the node does not serve the endpoint it needs "
                f"({error.status} {error.message})"
            ) from error
        raise DemoStopped(f"step '{step}' failed: {error}") from error


def ask_refund(run: Demo, purchase: Purchase) -> None:
    bi = purchase.blockchain_identifier
    needs("request a refund", lambda: run.buyer.client.request_refund(bi))


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.5)
    raise DemoStopped(f"waited {timeout_s:.0f} s for {what}")


# --- the nodes --------------------------------------------------------------------------------


def node_settings(data_dir: Path, port: int, blockfrost_url: str) -> Settings:
    return Settings(
        network="devnet",
        database_url=f"sqlite:///{data_dir / 'paynode.sqlite'}",
        data_dir=data_dir,
        port=port,
        blockfrost_url=blockfrost_url,
        worker_interval_ms=1000,
        log_level="warning",
    )


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"node-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise DemoStopped(f"the node on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def open_node(data_dir: Path, port: int, blockfrost_url: str) -> tuple[Runtime, str]:
    """A node's runtime (migrated database) and its admin token: the one PAYNODE_ADMIN_KEY
    names, else the one made for this new node."""
    settings = node_settings(data_dir, port, blockfrost_url)
    runtime, token = open_runtime(settings)
    if token is None and settings.admin_key is not None:
        token = settings.admin_key.get_secret_value()
    if token is None:
        raise DemoStopped(f"{data_dir} already has a node: give the demo an empty directory")
    return runtime, token


# --- the story --------------------------------------------------------------------------------


def set_up(run: Demo) -> None:
    run.step("1. The seller registers the demo agent (Dynamic, token-based pricing)")
    agent = needs("register the agent", lambda: run.agent.ensure_registered())
    run.agent_identifier = agent
    vkey = run.agent.state.get("sellingWalletVkey")
    wallets = run.seller.client.list_wallets("Selling", limit=100).wallets
    run.seller.address = next(w.wallet_address for w in wallets if w.wallet_vkey == vkey)
    run.say(f"agent {agent}\n  served at {run.agent.api_base_url}")
    pricing = run.seller.client.lookup_public_pricing(agent)
    for line in pricing.display:
        run.say(f"  price: {line.get('text')}")

    run.step("2. The buyer adds a purchasing wallet, funded from the faucet")
    wallet = needs("add the buyer's wallet", lambda: run.buyer.client.add_wallet("Purchasing"))
    run.buyer.address = wallet.wallet_address
    funded = run.faucet(wallet.wallet_address, BUYER_LOVELACE, BUYER_USDM)
    run.say(f"buyer wallet {wallet.wallet_address}\n  faucet tx {funded}")
    wait_for("the buyer's funds", lambda: run.holdings(run.buyer.address)[1] or None)
    run.balances()


def confirm(run: Demo) -> Callable[[Any], bool]:
    def show(quote: Any) -> bool:
        table = Table(title=f"Quote {quote.id} (request {quote.request_id})")
        for column in ("line", "quantity", "amount (USDM)"):
            table.add_column(column)
        for line in (quote.seller_quote or {}).get("breakdown", []):
            table.add_row(line["slug"], line["billedQuantity"], line["amount"])
        run.console.print(table)
        lock = ", ".join(f"{units(a.amount)} {'USDM' if a.unit else 'ADA'}" for a in quote.amounts)
        run.say(f"to lock: {lock}; the buyer confirms (at most {units(MAX_PRICE_USDM)} USDM)")
        return True

    return show


def buy(run: Demo, text: str, mode: str = "summary") -> Purchase:
    """Quote → confirm → purchase (the buyer node locks it)."""
    ceiling = [Amount(amount=MAX_PRICE_USDM, unit=run.usdm_unit)]
    sent = needs(
        "quote and purchase",
        lambda: run.buyer.client.send_marketplace_request(
            run.agent_identifier, {"text": text, "mode": mode},
            max_amounts=ceiling, confirm=confirm(run),
        ),
    )  # fmt: skip
    run.say(f"purchase {sent.purchase.id}: {sent.purchase.next_action.requested_action}")
    return sent.purchase


def purchase_state(run: Demo, purchase: Purchase, state: str) -> Purchase:
    def check() -> Purchase | None:
        found = run.buyer.client.resolve_purchase(purchase.blockchain_identifier)
        return found if found.on_chain_state == state else None

    return wait_for(f"the purchase to be {state}", check)


def payment_state(run: Demo, blockchain_identifier: str, state: str) -> Any:
    def check() -> Any:
        found = needs(
            "read the payment", lambda: run.seller.client.resolve_payment(blockchain_identifier)
        )
        return found if found.on_chain_state == state else None

    return wait_for(f"the payment to be {state}", check)


def job_status(run: Demo, job_id: str, wanted: set[str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        answer = httpx.get(f"{run.agent.api_base_url}/status", params={"job_id": job_id})
        status: dict[str, Any] = answer.json()
        return status if status.get("status") in wanted else None

    return wait_for(f"the agent's job to be {' or '.join(sorted(wanted))}", check)


def locked(run: Demo, purchase: Purchase) -> Purchase:
    found = purchase_state(run, purchase, "FundsLocked")
    run.say(f"funds locked: tx {tx_of(found)}")
    return found


def tx_of(row: Any) -> str:
    current = (row.model_extra or {}).get("CurrentTransaction") or {}
    return str(current.get("txHash", "-"))


def usage_rows(run: Demo, request_id: str | None, state: str) -> list[tuple[Side, UsageRow]]:
    """Both sides' billing rows of one request, once both nodes' mirrors show `state`."""

    def check() -> list[tuple[Side, UsageRow]] | None:
        found = [
            (side, row)
            for side in (run.buyer, run.seller)
            for row in side.client.get_billing_usage(limit=100).items
            if row.request_id == request_id
        ]
        done = len(found) == 2 and all(row.on_chain_state == state for _side, row in found)
        return found if done else None

    return wait_for(f"both nodes to show request {request_id} as {state}", check)


def report(run: Demo, request_id: str | None, state: str) -> None:
    """Both sides' billing rows of one request: amounts, fees, transactions; the balances."""
    table = Table(title=f"Request {request_id}: {state}")
    for column in ("side", "reserved", "charged", "refunded", "protocol fee", "tx fees (ADA)"):
        table.add_column(column, justify="left" if column == "side" else "right")
    rows = usage_rows(run, request_id, state)
    for side, row in rows:
        fees = row.buyer_tx_fees if side is run.buyer else row.seller_tx_fees
        table.add_row(
            side.name, money(row.reserved), money(row.charged), money(row.refunded),
            money(row.protocol_fees), units(fees),
        )  # fmt: skip
    run.console.print(table)
    for tx_hash in rows[0][1].tx_hashes:
        run.say(f"  tx {tx_hash}")
    run.balances()


def money(amounts: list[Amount]) -> str:
    named = (
        f"{units(a.amount)} {'ADA' if a.unit in ('', 'lovelace') else 'USDM'}" for a in amounts
    )
    return ", ".join(named) or "0"


def result_submitted(run: Demo, purchase: Purchase) -> None:
    job = job_status(run, purchase.request_id or "", {"completed", "failed"})
    if job["status"] != "completed":
        raise DemoStopped(f"the agent's job failed: {job.get('message')}")
    run.say(f"agent result: {job['result']!r}\n  result hash {job['resultHash']}")
    payment = payment_state(run, purchase.blockchain_identifier, "ResultSubmitted")
    run.say(f"result submitted by the seller node: tx {tx_of(payment)}")


def happy_path(run: Demo) -> Purchase:
    run.step("3. Quote → confirm → lock → result")
    purchase = locked(run, buy(run, TEXT))
    result_submitted(run, purchase)
    return purchase


def refund_request(run: Demo) -> Purchase:
    run.step("4. A refund: the agent fails its job, the buyer asks for its funds back")
    purchase = locked(run, buy(run, "this job will fail", mode="fail"))
    job = job_status(run, purchase.request_id or "", {"failed", "completed"})
    run.say(f"agent: {job['status']}: {job.get('message')}")
    ask_refund(run, purchase)
    purchase = purchase_state(run, purchase, "RefundRequested")
    run.say(f"refund requested: tx {tx_of(purchase)}")
    return purchase


def dispute(run: Demo) -> Purchase:
    run.step("5. A dispute: a result, then the buyer asks for a refund")
    purchase = locked(run, buy(run, TEXT, mode="echo"))
    result_submitted(run, purchase)
    ask_refund(run, purchase)
    purchase = purchase_state(run, purchase, "Disputed")
    run.say(f"disputed: tx {tx_of(purchase)}")
    return purchase


def collect(run: Demo, purchase: Purchase) -> None:
    run.step("6a. After the unlock time the seller node collects")
    payment = payment_state(run, purchase.blockchain_identifier, "Withdrawn")
    charged = payment.charge.amount if payment.charge is not None else 0
    run.say(
        f"collected: tx {tx_of(payment)}; charged {units(charged)} USDM "
        "for the words really read and written; the rest of the reserve went back to the buyer"
    )
    report(run, purchase.request_id, "Withdrawn")


def refund_withdrawn(run: Demo, purchase: Purchase) -> None:
    run.step("6b. After the submit-result time the buyer node withdraws its refund")
    purchase = purchase_state(run, purchase, "RefundWithdrawn")
    run.say(f"refund withdrawn: tx {tx_of(purchase)}")
    report(run, purchase.request_id, "RefundWithdrawn")


def admins_decide(run: Demo, purchase: Purchase) -> None:
    run.step("6c. After the external dispute unlock time the admins split the disputed funds")
    paid = purchase.paid_funds[0]
    half = Amount(amount=paid.amount // 2, unit=paid.unit)
    rest = Amount(amount=paid.amount - half.amount, unit=paid.unit)
    resolution = needs(
        "the admins resolve the dispute",
        lambda: run.seller.client.resolve_dispute(purchase.blockchain_identifier, [half], [rest]),
    )
    run.say(f"2 of the 3 devnet admins signed a half-and-half split: tx {resolution.tx_hash}")
    payment_state(run, purchase.blockchain_identifier, "DisputedWithdrawn")
    report(run, purchase.request_id, "DisputedWithdrawn")


def story(run: Demo) -> None:
    """Three jobs, then time passes: each job ends as its deadlines say."""
    set_up(run)
    paid, refunded, disputed = happy_path(run), refund_request(run), dispute(run)
    run.step("6. Time passes")
    run.advance_past(disputed.external_dispute_unlock_time, "every deadline of the three jobs")
    collect(run, paid)
    refund_withdrawn(run, refunded)
    admins_decide(run, disputed)


def run_demo(
    data_dir: Path,
    console: Console,
    *,
    seller_port: int,
    buyer_port: int,
    devnet_port: int = 0,
) -> int:
    """The whole story; 0 when every step ran, 1 when one stopped (the reason printed)."""
    with demo_world(
        data_dir, console, seller_port=seller_port, buyer_port=buyer_port, devnet_port=devnet_port
    ) as run:
        return tell(run)
    return 1  # pragma: no cover - the with block returns


@contextmanager
def demo_world(
    data_dir: Path,
    console: Console,
    *,
    seller_port: int,
    buyer_port: int,
    devnet_port: int = 0,
) -> Iterator[Demo]:
    """A devnet (a block a second), the escrow's reference script, a seller node serving the
    demo agent and a buyer node, each with its workers running; stopped on exit."""
    from devnet.admins import fee_address
    from devnet.server import DevnetConfig, DevnetServer

    with ExitStack() as stack:
        devnet = DevnetServer(DevnetConfig(port=devnet_port, block_time_s=1.0))
        devnet.start()
        stack.callback(devnet.stop)
        console.print(f"devnet: {devnet.blockfrost_url}")
        api = devnet.url + "/api"
        seller_runtime, seller_token = open_node(data_dir / "seller", seller_port, api)
        buyer_runtime, buyer_token = open_node(data_dir / "buyer", buyer_port, api)
        assert seller_runtime.chain is not None
        reference = deploy_devnet_reference_script(
            seller_runtime.network, seller_runtime.chain, api
        )  # both nodes' escrow spends reference it: they do not carry the script's bytes
        console.print(f"devnet: escrow reference script at {reference.input}")
        seller_url = f"http://127.0.0.1:{seller_port}"
        agent = demo.beside_node(seller_runtime, seller_url, devnet.url, poll_interval_s=1.0)
        seller_app = create_app(seller_runtime)
        seller_app.include_router(agent_router(agent.kit), prefix=demo.PREFIX)
        stack.enter_context(serving(seller_app, seller_port))
        buyer_url = stack.enter_context(serving(create_app(buyer_runtime), buyer_port))
        console.print(f"seller node {seller_url} (data in {data_dir / 'seller'})")
        console.print(f"buyer node {buyer_url} (data in {data_dir / 'buyer'})")
        seller_client = stack.enter_context(PaynodeClient(seller_url, seller_token))
        buyer_client = stack.enter_context(PaynodeClient(buyer_url, buyer_token))
        yield Demo(
            console=console,
            devnet_url=devnet.url,
            seller=Side("seller", seller_url, seller_client, runtime=seller_runtime),
            buyer=Side("buyer", buyer_url, buyer_client, runtime=buyer_runtime),
            agent=agent,
            usdm_unit=devnet.ledger.usdm_unit,
            fee_address=fee_address(),
        )


def tell(run: Demo) -> int:
    try:
        story(run)
    except DemoStopped as stopped:
        run.console.print(f"[red]demo stopped[/red]: {stopped}")
        return 1
    run.console.rule("[green]the demo ran every step")
    return 0
