"""Quotes per second for a plan of 20 tiered line items: in process, and through the public quote
endpoint of a real uvicorn server on a free loopback port over SQLite.

    .venv/bin/python bench/pricing.py [--seconds 3] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The repository first: run as a script, bench/ itself leads sys.path and bench/registry.py would
# shadow the `registry` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from sqlmodel import Session

from node.app import create_app
from node.auth import service as auth_service
from node.auth.schemas import ApiKeyCreate
from node.config import Settings
from node.crypto import SecretBox
from node.db import migrate
from node.db.engine import make_engine
from node.pricing import from_agentic, quote
from node.runtime import Runtime

AGENT = "ad6424e3ce9e47bbd8364984bd731b41de591f1d11f6d7d43d0da9b9" + "62" * 32
BUYER = "fc16a1fcf309aed03ec18bb2176f5ea29acea70bb79145ebaffa8e75"
ITEMS = 20


def pricing_document() -> dict[str, Any]:
    """One Agentic plan of 20 metered tiered items, graduated and volume in turn, 4 tiers each."""
    items = []
    for index in range(ITEMS):
        tiers = [
            {"upTo": 100, "unitAmount": 0.5, "flatAmount": 10},
            {"upTo": 1000, "unitAmount": 0.25},
            {"upTo": 10000, "unitAmount": 0.125},
            {"upTo": "inf", "unitAmount": 0.0625},
        ]
        items.append(
            {
                "slug": f"item-{index}",
                "usageType": "metered",
                "billingScheme": "tiered",
                "tiersMode": "graduated" if index % 2 == 0 else "volume",
                "tiers": tiers,
            }
        )
    return {"pricingPlans": [{"name": "Bench", "slug": "bench", "lineItems": items}]}


USAGE = {f"custom:item-{index}": 37 * (index + 1) ** 3 for index in range(ITEMS)}


def timed(seconds: float, work: Any) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            work()
        count += 100
    return count, time.perf_counter() - start


def in_process(seconds: float, rounds: int = 5) -> tuple[float, float]:
    """Best and median of `rounds` (a shared machine's neighbours make single runs noisy)."""
    plan = from_agentic(pricing_document())
    quote(plan, USAGE)  # compiles the plan once, as the node does
    rates = sorted(
        count / elapsed
        for count, elapsed in (
            timed(seconds / rounds, lambda: quote(plan, USAGE)) for _ in range(rounds)
        )
    )
    return rates[-1], rates[len(rates) // 2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_node(directory: Path) -> tuple[uvicorn.Server, threading.Thread, str, str]:
    url = f"sqlite:///{directory / 'bench.sqlite'}"
    settings = Settings(network="devnet", database_url=url, data_dir=directory)
    engine = make_engine(url)
    migrate.upgrade(engine)
    box = SecretBox("bench-encryption-key-0123456789-abcdefghij")
    with Session(engine) as session:
        _key, token = auth_service.create_key(
            session, box, ApiKeyCreate.model_validate({"canAdmin": True})
        )
    runtime = Runtime(settings=settings, profile=settings.profile(), engine=engine, secrets=box)
    port = free_port()
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}", token


def over_http(base: str, token: str, seconds: float, clients: int) -> float:
    with httpx.Client(base_url=base, headers={"token": token}) as admin:
        put = admin.put(f"/api/v1/agents/{AGENT}/pricing-plans", json=pricing_document())
        put.raise_for_status()
    body = json.dumps({"buyer": BUYER, "usage": USAGE})
    headers = {"content-type": "application/json"}

    def client_loop(_index: int) -> tuple[int, float]:
        with httpx.Client(base_url=base) as client:

            def one() -> None:
                response = client.post(
                    f"/api/v1/public/pricing/{AGENT}/quote", content=body, headers=headers
                )
                response.raise_for_status()

            one()
            return timed(seconds, one)

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client_loop, range(clients)))
    return sum(count for count, _ in results) / max(elapsed for _, elapsed in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    best, median = in_process(args.seconds)
    rows = [("in process, 20 tiered items, best", best)]
    rows.append(("in process, 20 tiered items, median", median))
    with tempfile.TemporaryDirectory() as directory:
        server, thread, base, token = start_node(Path(directory))
        try:
            rows.append(("HTTP, 1 client, SQLite", over_http(base, token, args.seconds, 1)))
            label = f"HTTP, {args.clients} clients, SQLite"
            rows.append((label, over_http(base, token, args.seconds, args.clients)))
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"{'pricing quotes':<40} {'quotes/s':>12}")
    for label, rate in rows:
        print(f"{label:<40} {rate:>12,.0f}")
    print(f"{'goal, in process':<40} {20_000:>12,}")


if __name__ == "__main__":
    main()
