"""Registry figures (issue #7): register agents through the node's registration worker, then list
the registry from the chain as `paynode registry list` does.

An in-process devnet (manual mode: a block per submitted transaction) serves Blockfrost's API over
HTTP; the node's runtime (SQLite in a temporary directory) talks to it through BlockfrostChain.

- register: N agents (default 100) stored as RegistrationRequested, then the worker steps mint
  them one by one from one selling wallet and confirm them; transactions, total and mean fees
  (read back from the chain), seconds from the first mint to the last confirmation.
- list: the registry topped up to M assets (default 1,000; the extra ones minted directly with
  the builders), then read back with registry.onchain.list_agents: seconds and Blockfrost
  requests, once unthrottled and once through the default token bucket (10 requests/s, burst
  500), which is Blockfrost's own limit.

    .venv/bin/python bench/registry.py [--agents N] [--assets M]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# The node's package first, as `paynode` loads it: it chooses how pycardano checks types.
importlib.import_module("node")

import httpx  # noqa: E402  (after the sys.path line: runs from a checkout)
from sqlmodel import Session, select  # noqa: E402

from devnet.server import DevnetConfig, DevnetServer  # noqa: E402
from node.agents import service  # noqa: E402
from node.agents.models import RegistryRequest, RegistryState  # noqa: E402
from node.agents.schemas import AgentCreate  # noqa: E402
from node.chain.blockfrost import BlockfrostChain  # noqa: E402
from node.chain.context import PortChainContext  # noqa: E402
from node.chain.contracts import registry_contract  # noqa: E402
from node.chain.registry_builders import RegistryBuilders  # noqa: E402
from node.config import Settings  # noqa: E402
from node.crypto import SecretBox  # noqa: E402
from node.db import migrate  # noqa: E402
from node.db.engine import make_engine  # noqa: E402
from node.runtime import Runtime  # noqa: E402
from node.wallets.schemas import WalletCreate  # noqa: E402
from node.wallets.service import add_wallet  # noqa: E402
from registry.metadata import AgentMetadata, Author, PricingMode, to_metadatum  # noqa: E402
from registry.onchain import list_agents  # noqa: E402
from tests.node.chain.escrow_world import ADA, actor  # noqa: E402

ENCRYPTION_KEY = "bench-registry-encryption-key-0123456789"


def agent_body(vkey: str, index: int) -> AgentCreate:
    return AgentCreate.model_validate(
        {
            "pricingMode": "Fixed",
            "amounts": [{"quantity": 1_000_000 + index, "unit": "lovelace"}],
            "name": f"bench agent {index}",
            "description": "An agent registered by bench/registry.py.",
            "apiBaseUrl": f"https://agents.example.com/bench/{index}",
            "Capability": {"name": "bench", "version": "1.0.0"},
            "Author": {"name": "paynode bench"},
            "Tags": ["bench"],
            "ExampleOutputs": [],
            "sellingWalletVkey": vkey,
        }
    )


def open_runtime(devnet: DevnetServer, directory: Path) -> Runtime:
    settings = Settings.model_validate(
        {
            "network": "devnet",
            "database_url": f"sqlite:///{directory / 'bench.sqlite'}",
            "data_dir": directory,
            "encryption_key": ENCRYPTION_KEY,
            "blockfrost_url": devnet.url + "/api",
            "worker_interval_ms": 0,
        }
    )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    chain = BlockfrostChain(devnet.url + "/api", "bench", rate_per_s=1_000_000, burst=1_000_000)
    return Runtime(settings, settings.profile(), engine, SecretBox(ENCRYPTION_KEY), chain)


def register(runtime: Runtime, http: httpx.Client, devnet: DevnetServer, count: int) -> None:
    with Session(runtime.engine) as session:
        wallet = add_wallet(session, runtime.secrets, runtime.network, WalletCreate(type="Selling"))
        address, vkey = wallet.address, wallet.payment_key_hash
        http.post("/devnet/faucet", json={"address": address, "lovelace": (count * 8 + 50) * ADA})
        for index in range(count):
            service.register(session, runtime.network, agent_body(vkey, index), None)

    def clock() -> int:
        return devnet.ledger.now_ms

    started = time.perf_counter()
    while service.process_registry_requests(runtime, clock=clock):
        service.confirm_registry_transactions(runtime)
    http.post("/devnet/blocks", json={"count": 1})  # the last mint's block needs one on top
    service.confirm_registry_transactions(runtime)
    seconds = time.perf_counter() - started
    with Session(runtime.engine) as session:
        rows = session.exec(select(RegistryRequest)).all()
    confirmed = [row for row in rows if row.state == RegistryState.REGISTRATION_CONFIRMED]
    assert runtime.chain is not None
    fees = [runtime.chain.transaction(row.tx_hash).fees for row in confirmed if row.tx_hash]
    print(f"register {count} agents through the worker (one selling wallet)")
    print(f"  confirmed             {len(confirmed)} of {count}")
    print(f"  transactions          {len(fees)}")
    print(f"  total fees            {sum(fees):,} lovelace")
    print(f"  mean fee              {sum(fees) // max(1, len(fees)):,} lovelace")
    print(f"  seconds               {seconds:.1f} ({seconds / max(1, count) * 1000:.0f} ms/agent)")


def top_up(runtime: Runtime, http: httpx.Client, devnet: DevnetServer, total: int) -> None:
    """Mint directly until the policy holds `total` assets (no database rows: only the chain)."""
    assert runtime.chain is not None
    policy = registry_contract(runtime.network, runtime.chain)
    owner = actor("filler", "bench-registry")
    missing = total - _count_assets(runtime.chain, policy.policy_id.hex())
    if missing <= 0:
        return
    http.post("/devnet/faucet", json={"address": str(owner.address), "lovelace": missing * 8 * ADA})
    slots = runtime.network.slot_config
    builders = RegistryBuilders(
        PortChainContext(runtime.chain, 0),
        policy.script,
        policy.policy_id,
        clock=lambda: devnet.ledger.now_ms,
        slot_config=slots,
    )
    metadata = to_metadatum(
        AgentMetadata(
            name="bench filler",
            api_base_url="https://agents.example.com/filler",
            author=Author(name="paynode bench"),
            tags=["bench"],
            pricing_mode=PricingMode.DYNAMIC,
        )
    )
    for _ in range(missing):
        built, _name = builders.mint(owner, metadata)
        runtime.chain.submit(built.cbor)


def _count_assets(chain: BlockfrostChain, policy_id: str) -> int:
    total, page = 0, 1
    while True:
        rows = chain.policy_assets(policy_id, page=page, count=100)
        total += len(rows)
        if len(rows) < 100:
            return total
        page += 1


def list_registry(runtime: Runtime, label: str, chain: BlockfrostChain) -> None:
    policy_id = runtime.network.registry.policy_id
    assert policy_id is not None
    started = time.perf_counter()
    agents = list(list_agents(chain, policy_id))
    seconds = time.perf_counter() - started
    requests = sum(chain.requests.snapshot().values())
    print(f"list the registry from the chain ({label})")
    print(f"  agents                {len(agents)}")
    print(f"  Blockfrost requests   {requests} ({requests / max(1, len(agents)):.2f} per agent)")
    print(f"  seconds               {seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--assets", type=int, default=1_000)
    args = parser.parse_args()
    devnet = DevnetServer(DevnetConfig(port=0, block_time_s=None, seed="bench-registry"))
    devnet.start()
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            httpx.Client(base_url=devnet.url, timeout=60) as http,
        ):
            runtime = open_runtime(devnet, Path(directory))
            register(runtime, http, devnet, args.agents)
            top_up(runtime, http, devnet, args.assets)
            api = devnet.url + "/api"
            fast = BlockfrostChain(api, "bench", rate_per_s=1_000_000, burst=1_000_000)
            list_registry(runtime, "unthrottled", fast)
            limited = BlockfrostChain(api, "bench")
            list_registry(runtime, "Blockfrost's limit: 10/s, burst 500", limited)
    finally:
        devnet.stop()


if __name__ == "__main__":
    main()
