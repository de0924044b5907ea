"""Run the shared independent judges (`../shared/tools/tx-oracles` beside the checkout).

The folder is copied into `.cache/tx-oracles/` inside the repository (git-ignored) and
`npm install` runs there once; tests skip, saying why, when the folder, node or npm is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pycardano import Transaction, TransactionInput, TransactionOutput

from devnet.phase2 import SlotConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_ORACLES = Path(
    os.environ.get("PAYNODE_TX_ORACLES", REPO_ROOT.parent / "shared" / "tools" / "tx-oracles")
)
CACHE_DIR = REPO_ROOT / ".cache" / "tx-oracles"
INSTALL_STAMP = ".installed-package-json-sha256"
NODE_TIMEOUT_S = 120


def _package_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "package.json").read_bytes()).hexdigest()


def oracle_dir() -> Path:
    """The installed copy of the oracles; skips the calling test if it cannot exist."""
    if not (SHARED_ORACLES / "package.json").is_file():
        pytest.skip(f"no shared tx-oracles at {SHARED_ORACLES} (set PAYNODE_TX_ORACLES)")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not on PATH; the tx oracles need Node.js")
    shutil.copytree(
        SHARED_ORACLES, CACHE_DIR, dirs_exist_ok=True, ignore=shutil.ignore_patterns("node_modules")
    )
    stamp = CACHE_DIR / INSTALL_STAMP
    digest = _package_digest(CACHE_DIR)
    if (
        not stamp.is_file()
        or stamp.read_text() != digest
        or not (CACHE_DIR / "node_modules").is_dir()
    ):
        _npm_install(digest)
    return CACHE_DIR


def _npm_install(digest: str) -> None:
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=CACHE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        reason = f"npm install of the tx oracles failed: {done.stderr.strip()[-400:]}"
        if os.environ.get("CI"):  # in CI the oracles are there to be run: a skip would hide it
            pytest.fail(reason)
        pytest.skip(reason)
    (CACHE_DIR / INSTALL_STAMP).write_text(digest)


def utxo_entry(inp: TransactionInput, out: TransactionOutput) -> list[str]:
    return [inp.to_cbor_hex(), out.to_cbor_hex()]


def phase2_job(
    txs: Iterable[tuple[str, Transaction]],
    utxos: Mapping[TransactionInput, TransactionOutput],
    *,
    slot: int,
    slot_config: SlotConfig,
) -> dict[str, Any]:
    """A job in the tx-oracles format (see its README)."""
    return {
        "utxos": [utxo_entry(i, o) for i, o in utxos.items()],
        "slot": slot,
        "slot_config": {
            "zero_time": slot_config.zero_time_ms,
            "zero_slot": slot_config.zero_slot,
            "slot_length": slot_config.slot_length_ms,
        },
        "txs": [{"name": name, "cbor": tx.to_cbor_hex()} for name, tx in txs],
    }


def run_phase2_oracle(job: Mapping[str, Any], params_path: Path) -> list[dict[str, Any]]:
    """Aiken's evaluator (phase2.mjs) on every tx of the job: computed and declared budgets."""
    folder = oracle_dir()
    done = subprocess.run(
        ["node", "phase2.mjs"],
        cwd=folder,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env={**os.environ, "PP": str(params_path)},
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"phase2.mjs failed: {done.stderr.strip()[-2000:]}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results
