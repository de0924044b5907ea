"""Persistence: the devnet state as a JSON file (genesis, params, blocks with their tx CBOR,
clock, mempool). Loading replays the blocks, so a restarted devnet continues exactly where it
stopped; every block hash is checked on the way."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devnet.errors import LedgerError
from devnet.genesis import Genesis
from devnet.params import ProtocolParams

if TYPE_CHECKING:
    from devnet.ledger import Ledger

STATE_FORMAT = "paynode-devnet-state/1"


def state_dict(ledger: Ledger) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "params_json": ledger.params.source_json,
        "genesis": ledger.genesis.to_json_dict(),
        "mode": ledger.mode,
        "auto_block": ledger.auto_block,
        "clock_ms": ledger.now_ms,
        "blocks": [
            {"hash": block.hash, "slot": block.slot, "txs": [c.hex() for c in cbors]}
            for block, cbors in ledger.chain_for_saving()
        ],
        "mempool": [c.hex() for c in ledger.mempool_cbors()],
    }


def save_ledger(ledger: Ledger, path: str | os.PathLike[str]) -> None:
    """Write the state atomically: a temporary file in the same folder, then a rename."""
    target = Path(path)
    text = json.dumps(state_dict(ledger), separators=(",", ":"))
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_ledger(path: str | os.PathLike[str]) -> Ledger:
    from devnet.ledger import Ledger

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != STATE_FORMAT:
        raise LedgerError(f"{path} is not a devnet state file ({STATE_FORMAT})")
    ledger = Ledger(
        ProtocolParams.from_json_text(data["params_json"]),
        Genesis.from_json_dict(data["genesis"]),
        mode=data["mode"],
        auto_block=data["auto_block"],
    )
    for saved in data["blocks"]:
        block = ledger.replay_block(saved["slot"], [bytes.fromhex(t) for t in saved["txs"]])
        if block.hash != saved["hash"]:
            raise LedgerError(f"replayed block {block.height} has a different hash")
    ledger.restore_clock(int(data["clock_ms"]))
    ledger.restore_mempool([bytes.fromhex(t) for t in data["mempool"]])
    return ledger
