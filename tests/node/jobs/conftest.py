"""The agent kit mounted in an agent's own FastAPI app, served by uvicorn on a real port, against
a seller node with a chain on a devnet (the agents tests' World: one devnet per module)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session

from node.client import PaynodeClient
from node.crypto import SecretBox
from node.jobs import AgentKit, agent_router, demo
from tests.conftest import free_port, make_key
from tests.node.agents import conftest as agents
from tests.node.agents.bodies import agent_body
from tests.node.agents.conftest import World

# The agents tests' fixtures: a devnet per module, a node with a chain, funded wallets, keys.
agents_devnet = agents.agents_devnet
agents_http = agents.agents_http
chain_node = agents.chain_node
world = agents.world
admin_client = agents.admin_client
pay = agents.pay
seller = agents.seller


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a free port (its lifespan runs); its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the agent did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def register_agent(world: World, pay: httpx.Client, body: dict[str, object]) -> str:
    """Register through POST /api/agents; mint, a block, confirm: the agent identifier."""
    answer = pay.post("/api/agents", json=body)
    assert answer.status_code == 200, answer.text
    assert world.process() == 1
    world.blocks()
    assert world.confirm() == 1
    listed = pay.get("/api/v1/registry", params={"network": "Devnet"}).json()["data"]["Assets"]
    agent: str = listed[0]["agentIdentifier"]
    return agent


@dataclass
class Agent:
    """The demo agent: registered (Dynamic), priced on the seller node, served on its own port."""

    url: str
    kit: AgentKit
    agent_identifier: str
    seller: PaynodeClient  # the seller node, with the agent operator's admin key

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@pytest.fixture
def operator_token(world: World, session: Session, secret_box: SecretBox) -> str:
    return make_key(session, secret_box, canAdmin=True)


@pytest.fixture
def demo_agent(
    world: World, pay: httpx.Client, seller: str, operator_token: str
) -> Iterator[Agent]:
    body = demo.registration_body(seller, "http://127.0.0.1:1/placeholder")
    agent_identifier = register_agent(world, pay, body)
    client = PaynodeClient(world.node.url, operator_token)
    client.put_billing_pricing(agent_identifier, demo.PRICING)
    config = demo.demo_config(
        world.node.url, operator_token, agent_identifier, poll_interval_s=0,
        stablecoin_unit=world.usdm,
    )  # fmt: skip
    kit = AgentKit(config)
    app = FastAPI()
    app.include_router(agent_router(kit))
    with serve_app(app) as url:
        yield Agent(url, kit, agent_identifier, client)
    client.close()
    kit.client.close()
    kit.store.close()


__all__ = ["Agent", "agent_body", "register_agent", "serve_app"]
