"""`paynode demo` and the demo agent of `paynode up`, run as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from node.client import PaynodeClient
from tests.conftest import free_port

PAYNODE = str(Path(sys.executable).parent / "paynode")


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PAYNODE_")}


def test_the_demo_runs_the_whole_story(tmp_path: Path) -> None:
    command = [
        PAYNODE, "demo", "--data-dir", str(tmp_path / "demo"),
        "--seller-port", str(free_port()), "--buyer-port", str(free_port()),
    ]  # fmt: skip
    env = {**clean_environment(), "COLUMNS": "160"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=420)
    output = done.stdout
    assert done.returncode == 0, output[-4000:] + done.stderr[-4000:]
    for step in (
        "1. The seller registers the demo agent",
        "3. Quote → confirm → lock → result",
        "funds locked: tx",
        "result submitted by the seller node: tx",
        "refund requested: tx",
        "disputed: tx",
        "collected: tx",
        "refund withdrawn: tx",
        "2 of the 3 devnet admins signed",
        "Withdrawn",
        "RefundWithdrawn",
        "DisputedWithdrawn",
        "the demo ran every step",
    ):
        assert step in output, step


def wait_until_available(url: str, process: subprocess.Popen[str], seconds: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paynode up exited with {process.returncode}")
        try:
            answer = httpx.get(url + "/demo-agent/availability", timeout=2).json()
        except httpx.TransportError:
            answer = {}
        if answer.get("status") == "available":
            return dict(answer)
        time.sleep(0.5)
    raise AssertionError("the demo agent did not become available")


def test_up_serves_the_demo_agent_registered_and_priced(tmp_path: Path) -> None:
    node_port, devnet_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {
        **clean_environment(),
        "PAYNODE_DATA_DIR": str(data_dir),
        "PAYNODE_DATABASE_URL": "sqlite:///" + str(data_dir / "paynode.sqlite"),
    }
    command = [PAYNODE, "up", "--port", str(node_port), "--devnet-port", str(devnet_port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{node_port}"
    try:
        available = wait_until_available(url, process, seconds=180)
        agent = available["agentIdentifier"]
        with PaynodeClient(url) as anonymous:
            pricing = anonymous.lookup_public_pricing(agent)
        assert pricing.plan["mode"] == "Dynamic" and pricing.shape == "assmbl"
        started = httpx.post(
            url + "/demo-agent/start_job",
            json={"identifier_from_purchaser": "0123456789abcdef", "input_data": {"text": "a b"}},
            timeout=60,
        )
        assert started.status_code == 200, started.text
        job = started.json()
        # 0.25 + 2 words read * 0.02 + (2 + 4) words written at most * 0.05 = 0.59 USDM
        assert job["agentIdentifier"] == agent and job["quote"]["reserve"] == "590000"
        assert job["amounts"] == [{"amount": "590000", "unit": job["quote"]["unit"]}]
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert (data_dir / "demo-agent.json").exists()
    assert (data_dir / "demo-agent-jobs.sqlite").exists()
