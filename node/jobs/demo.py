"""The demo agent: a deterministic summariser with Dynamic, token-based pricing.

It counts "tokens" as words: the input's words are input tokens, the summary's words output
tokens. Its price is seed 000's `token_based` BillingPricingPayload, set on the seller node
with `put_billing_pricing`: a base price per request and a USDM price per million tokens. The
quote at /start_job estimates the output at its largest (the reserve the buyer locks); the
result reports the words really written, and the collection returns the rest of the reserve.

`mode: "fail"` makes the handler fail (no result: the buyer's way to a refund in the demo).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from node.auth import service as auth_service
from node.auth.schemas import ApiKeyCreate
from node.client import PaynodeClient, PaynodeError
from node.crypto import SecretBox
from node.jobs.service import AgentConfig, AgentKit
from node.jobs.store import Job
from node.runtime import Runtime

logger = logging.getLogger(__name__)

NAME = "paynode demo summariser"
PREFIX = "/demo-agent"
SUMMARY_WORDS = 12
OUTPUT_OVERHEAD_WORDS = 4  # "summary (N words):"
STATE_FILE = "demo-agent.json"
STORE_FILE = "demo-agent-jobs.sqlite"
FUNDING_LOVELACE = 100_000_000
REGISTRATION_TIMEOUT_S = 300.0

PRICING: dict[str, Any] = {
    "pricing_model": "token_based",
    "currency": "USD",
    "enabled": True,
    "base_price": "0.25",
    "token_price_input": "20000",  # per 1M tokens: 0.02 USDM a word read
    "token_price_output": "50000",  # per 1M tokens: 0.05 USDM a word written
    "minimum_charge": "0.5",
    "listing_summary": "Summarises a text in at most 12 words; billed per word read and written.",
    "request_payload_docs": 'input_data: {"text": "...", "mode": "summary" | "echo" | "fail"}',
    "response_or_delivery_notes": "The summary as text; GET /status?job_id= once it completes.",
}

INPUT_SCHEMA: list[dict[str, Any]] = [
    {
        "id": "text",
        "type": "textarea",
        "name": "Text",
        "data": {"description": "The text to summarise", "placeholder": "Paste a text"},
        "validations": [
            {"validation": "min", "value": "1"},
            {"validation": "max", "value": "20000"},
        ],
    },
    {
        "id": "mode",
        "type": "option",
        "name": "Mode",
        "data": {"values": ["summary", "echo", "fail"], "default": "summary"},
        "validations": [{"validation": "optional", "value": "true"}],
    },
]


def words(text: str) -> list[str]:
    return text.split()


def summarise(input_data: Mapping[str, Any]) -> str:
    """The output: the first words of the text (all of them for `echo`)."""
    mode = input_data.get("mode") or "summary"
    if mode == "fail":
        raise RuntimeError("the demo agent was asked to fail (mode: fail)")
    text = str(input_data["text"])
    chosen = words(text) if mode == "echo" else words(text)[:SUMMARY_WORDS]
    return f"summary ({len(words(text))} words): " + " ".join(chosen)


async def handler(input_data: dict[str, Any], _job: Job) -> str:
    return summarise(input_data)


def estimate_usage(input_data: Mapping[str, Any]) -> dict[str, int]:
    """The most the job can use: every input word read, the longest summary written."""
    read = len(words(str(input_data.get("text", ""))))
    longest = read if input_data.get("mode") == "echo" else min(read, SUMMARY_WORDS)
    return {"requests": 1, "input_tokens": read, "output_tokens": longest + OUTPUT_OVERHEAD_WORDS}


def report_usage(input_data: Mapping[str, Any], output: str, _job: Job) -> dict[str, int]:
    """What the job used: the words read and the words written."""
    read = len(words(str(input_data.get("text", ""))))
    return {"requests": 1, "input_tokens": read, "output_tokens": len(words(output))}


def demo_config(
    node_url: str,
    api_key: str,
    agent_identifier: str | Callable[[], str | None],
    store_path: str | Path = ":memory:",
    poll_interval_s: float = 2.0,
    stablecoin_unit: str | None = None,
) -> AgentConfig:
    return AgentConfig(
        node_url=node_url,
        api_key=api_key,
        agent_identifier=agent_identifier,
        input_schema=INPUT_SCHEMA,
        handler=handler,
        pricing_mode="Dynamic",
        estimate_usage=estimate_usage,
        report_usage=report_usage,
        store_path=store_path,
        poll_interval_s=poll_interval_s,
        name=NAME,
        stablecoin_unit=stablecoin_unit,
    )


def registration_body(selling_wallet_vkey: str, api_base_url: str) -> dict[str, Any]:
    """Seed 002's POST /api/agents for the demo agent."""
    return {
        "pricingMode": "Dynamic",
        "name": NAME,
        "description": "Summarises a text in at most 12 words (paynode's demo agent).",
        "apiBaseUrl": api_base_url,
        "Capability": {"name": "summarise", "version": "1.0.0"},
        "Author": {"name": "paynode", "organization": "paynode"},
        "Tags": ["demo", "summaries"],
        "ExampleOutputs": [],
        "sellingWalletVkey": selling_wallet_vkey,
    }


# --- the demo agent beside a node (paynode up) -----------------------------------------------


@dataclass
class DemoState:
    """What the demo agent keeps in the data directory across restarts (devnet only)."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, path: Path) -> DemoState:
        values = json.loads(path.read_text()) if path.exists() else {}
        return cls(path, values)

    def get(self, key: str) -> Any:
        with self._lock:
            return self.values.get(key)

    def set(self, **values: Any) -> None:
        with self._lock:
            self.values.update(values)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump(self.values, handle, indent=2)
            temporary.replace(self.path)


Faucet = Callable[[str, int], object]


@dataclass
class DemoAgent:
    """The demo agent of a node: its kit, and the set-up that registers it on first start."""

    node_url: str
    api_key: str
    state: DemoState
    faucet: Faucet
    store_path: Path | str = ":memory:"
    poll_interval_s: float = 2.0
    stablecoin_unit: str | None = None
    kit: AgentKit = field(init=False)

    def __post_init__(self) -> None:
        config = demo_config(
            self.node_url,
            self.api_key,
            lambda: self.state.get("agentIdentifier"),
            self.store_path,
            self.poll_interval_s,
            self.stablecoin_unit,
        )
        self.kit = AgentKit(config)

    @property
    def api_base_url(self) -> str:
        return self.node_url.rstrip("/") + PREFIX

    def ensure_registered(self, timeout_s: float = REGISTRATION_TIMEOUT_S) -> str:
        """The agent identifier: registered through POST /api/agents the first time (a Selling
        wallet funded from the faucet), confirmed by the node's workers; pricing set."""
        with PaynodeClient(self.node_url, self.api_key) as client:
            agent = self.state.get("agentIdentifier")
            if agent is None:
                agent = self._register(client, timeout_s)
            client.put_billing_pricing(agent, PRICING)
        return str(agent)

    def _register(self, client: PaynodeClient, timeout_s: float) -> str:
        entry_id = self.state.get("registrationId")
        if entry_id is None:
            wallet = client.add_wallet("Selling")
            self.faucet(wallet.wallet_address, FUNDING_LOVELACE)
            entry = client.register_agent(registration_body(wallet.wallet_vkey, self.api_base_url))
            entry_id = entry.id
            self.state.set(registrationId=entry_id, sellingWalletVkey=wallet.wallet_vkey)
        agent = wait_for_registration(client, entry_id, timeout_s)
        self.state.set(agentIdentifier=agent)
        return agent

    def start_setup(self, announce: Callable[[str], object] = logger.info) -> threading.Thread:
        """Register in the background once the node serves (its workers mint the NFT); say
        how it went with `announce`."""
        thread = threading.Thread(
            target=self._setup, args=(announce,), name="demo-agent-setup", daemon=True
        )
        thread.start()
        return thread

    def _setup(self, announce: Callable[[str], object]) -> None:
        problem: Exception | None = None
        for _attempt in range(60):
            try:
                agent = self.ensure_registered()
            except (PaynodeError, httpx.HTTPError) as error:
                problem = error
                logger.info("demo agent: not registered yet (%s); trying again", error)
                time.sleep(2)
                continue
            announce(f"demo agent {agent} registered; jobs at {self.api_base_url}/start_job")
            return
        announce(f"demo agent: the registration did not complete: {problem}")


def wait_for_registration(client: PaynodeClient, entry_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in client.list_registry(limit=100).assets:
            if entry.id != entry_id:
                continue
            if entry.state == "RegistrationConfirmed" and entry.agent_identifier:
                return entry.agent_identifier
            if entry.state == "RegistrationFailed":
                raise PaynodeError(0, "registration_failed", entry.error or "failed")
        time.sleep(1)
    raise PaynodeError(0, "registration_timeout", f"no confirmation within {timeout_s} s")


def demo_api_key(engine: Engine, box: SecretBox, state: DemoState) -> str:
    """The demo agent's key on its node (admin: it adds its wallet and sets its pricing), made
    once and kept in the state file."""
    with Session(engine) as session:
        token = state.get("apiKey")
        if token is not None and auth_service.authenticate(session, box, token) is not None:
            return str(token)
        request = ApiKeyCreate.model_validate({"canAdmin": True, "usageLimited": False})
        _key, token = auth_service.create_key(session, box, request)
    state.set(apiKey=token)
    return str(token)


def http_faucet(devnet_url: str, timeout_s: float = 60.0) -> Faucet:
    """Pay lovelace to an address from the devnet's faucet (POST /devnet/faucet), and wait until
    the chain shows it there (a registration needs the UTxO, not the promise)."""

    def pay(address: str, lovelace: int) -> object:
        body = {"address": address, "lovelace": lovelace, "assets": {}}
        answer = httpx.post(f"{devnet_url}/devnet/faucet", json=body, timeout=60)
        answer.raise_for_status()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not _has_utxo(devnet_url, address):
            time.sleep(0.5)
        return answer.json()

    return pay


def _has_utxo(devnet_url: str, address: str) -> bool:
    answer = httpx.get(
        f"{devnet_url}/api/v0/addresses/{address}/utxos",
        headers={"project_id": "paynode-demo"},
        timeout=30,
    )
    return answer.status_code == 200 and bool(answer.json())


def beside_node(
    runtime: Runtime, node_url: str, devnet_url: str, poll_interval_s: float = 2.0
) -> DemoAgent:
    """The demo agent of `paynode up`: its state and jobs in the node's data directory; its
    prices in the network's stablecoin."""
    data_dir = runtime.settings.data_dir
    state = DemoState.load(data_dir / STATE_FILE)
    return DemoAgent(
        node_url=node_url,
        api_key=demo_api_key(runtime.engine, runtime.secrets, state),
        state=state,
        faucet=http_faucet(devnet_url),
        store_path=data_dir / STORE_FILE,
        poll_interval_s=poll_interval_s,
        stablecoin_unit=runtime.network.stablecoin.unit,
    )
