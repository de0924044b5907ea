"""The `paynode` command as a user runs it: a real process, real settings, a real port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ENCRYPTION_KEY, free_port, scratch_database

PAYNODE = str(Path(sys.executable).parent / "paynode")


def environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYNODE_")}
    env.update(
        PAYNODE_DATABASE_URL=database_url,
        PAYNODE_DATA_DIR=str(data_dir),
        PAYNODE_ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
    )
    env.update(extra)
    return env


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(backend, tmp_path) as url:
        yield url


def wait_for_health(
    url: str, process: subprocess.Popen[str], seconds: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paynode exited with {process.returncode}: {process.stderr}")
        try:
            return httpx.get(url + "/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("paynode serve did not answer /health in time")


def test_serve_answers_health_and_docs(fresh_database: str, tmp_path: Path) -> None:
    port = free_port()
    admin_key = "operator-admin-key-for-the-cli-test"
    env = environment(fresh_database, tmp_path, PAYNODE_ADMIN_KEY=admin_key)
    process = subprocess.Popen(
        [PAYNODE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        health = wait_for_health(url, process)
        assert health.status_code == 200
        assert health.json() == {
            "status": "success",
            "data": {"status": "ok", "network": "Devnet", "version": "0.1.0"},
        }
        assert httpx.get(url + "/docs").status_code == 200
        status = httpx.get(url + "/api/v1/api-key-status", headers={"token": admin_key})
        assert status.json()["data"]["canAdmin"] is True
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert admin_key not in err  # a configured key is never echoed


def test_first_start_prints_an_admin_key_once(fresh_database: str, tmp_path: Path) -> None:
    env = environment(fresh_database, tmp_path)
    first = subprocess.run(
        [PAYNODE, "keys", "create", "--permission", "read"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Admin API key" in first.stderr
    second = subprocess.run(
        [PAYNODE, "keys", "create", "--permission", "pay", "--network-limit", "Preprod"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Admin API key" not in second.stderr
    read_token, pay_token = first.stdout.strip(), second.stdout.strip()
    assert read_token.startswith("paynode_") and pay_token.startswith("paynode_")
    assert read_token != pay_token


def test_invalid_setting_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    env = environment("sqlite:///" + str(tmp_path / "x.sqlite"), tmp_path, PAYNODE_PORT="many")
    result = subprocess.run(
        [PAYNODE, "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "PAYNODE_PORT" in result.stderr


def test_bad_permission_is_refused(tmp_path: Path) -> None:
    env = environment("sqlite:///" + str(tmp_path / "x.sqlite"), tmp_path)
    result = subprocess.run(
        [PAYNODE, "keys", "create", "--permission", "root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--permission" in result.stderr


def test_db_upgrade_creates_the_tables(fresh_database: str, tmp_path: Path) -> None:
    env = environment(fresh_database, tmp_path)
    result = subprocess.run(
        [PAYNODE, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    from sqlalchemy import inspect

    from node.db.engine import make_engine

    engine = make_engine(fresh_database)
    assert {"api_key", "hot_wallet"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_devnet_encryption_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    from node.bootstrap import resolve_encryption_key
    from node.config import Settings

    settings = Settings(network="devnet", data_dir=tmp_path)
    key = resolve_encryption_key(settings)
    assert resolve_encryption_key(settings) == key and len(key) >= 32
    assert (tmp_path / "encryption.key").stat().st_mode & 0o077 == 0


def _get_json(url: str, process: subprocess.Popen[str], seconds: float = 90) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _out, err = process.communicate()
            raise AssertionError(f"paynode exited with {process.returncode}: {err[-2000:]}")
        try:
            return httpx.get(url, headers={"project_id": "devnet"}, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in time")


def test_devnet_command_serves_blockfrost_and_keeps_state(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "devnet.json"
    command = [PAYNODE, "devnet", "--port", str(port), "--manual", "--state", str(state)]
    env = environment("sqlite:///" + str(tmp_path / "x.sqlite"), tmp_path)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        tip = _get_json(base + "/api/v0/blocks/latest", process)
        assert tip.status_code == 200 and tip.json()["height"] == 0
        info = httpx.get(base + "/devnet/info").json()
        assert info["usdm"]["unit"].endswith("0014df105553444d")
        assert info["usdm"]["decimals"] == 6
        blocks = httpx.post(base + "/devnet/blocks", json={"count": 3})
        assert blocks.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=30)
    restarted = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        tip = _get_json(f"http://127.0.0.1:{port}/api/v0/blocks/latest", restarted)
        assert tip.json()["height"] == 3
    finally:
        restarted.terminate()
        restarted.communicate(timeout=30)


def test_up_starts_a_devnet_and_the_node(tmp_path: Path) -> None:
    node_port, devnet_port = free_port(), free_port()
    data_dir = tmp_path / "data"  # does not exist yet, as on a fresh checkout
    env = environment("sqlite:///" + str(data_dir / "paynode.sqlite"), data_dir)
    command = [PAYNODE, "up", "--port", str(node_port), "--devnet-port", str(devnet_port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{node_port}", process, seconds=90)
        assert health.json()["data"]["network"] == "Devnet"
        tip = _get_json(f"http://127.0.0.1:{devnet_port}/api/v0/blocks/latest", process)
        assert tip.status_code == 200
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert "Admin API key" in err
    assert (data_dir / "devnet-state.json").exists()
