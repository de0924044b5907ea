"""`make contracts`: compile the on-chain sources with the pinned OpShin into `contracts/build/`.

For each contract, `opshin build` (the CLI route: its script hash differs from
`opshin.builder.build`) compiles the source, which inlines `contracts/onchain_builtins.py`; our
UPLC optimiser (`contracts/optimise.py`) then rewrites the program, and we write `script.cbor`
(CBOR(flat), unapplied), `script.plutus` and the CIP-57 `blueprint.json` for the optimised
program; `manifest.json` records the compiler version, flags, optimiser passes, sizes and hashes.
`tests/contracts/test_build.py` recompiles and fails when the committed hashes do not reproduce.

    python -m contracts.build [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from contracts.optimise import INLINE_SIZE, PASSES, optimise_cbor

CONTRACTS_DIR = Path(__file__).resolve().parent
BUILD_DIR = CONTRACTS_DIR / "build"
OPSHIN_VERSION = "0.28.0"
OPT_LEVEL = 3
RECURSION_LIMIT = 20_000
KEPT_FILES = ("script.cbor", "script.plutus", "blueprint.json")


# the module every on-chain source pulls in with `from onchain_builtins import *`
SHARED_SOURCES = ("onchain_builtins.py",)


@dataclass(frozen=True)
class Contract:
    name: str
    source: str
    parameters: tuple[str, ...]


CONTRACTS = (
    Contract(
        "escrow",
        "escrow.py",
        (
            "required_admins_multi_sig",
            "admin_vks",
            "fee_address",
            "fee_permille",
            "cooldown_period",
        ),
    ),
    Contract("registry_policy", "registry_policy.py", ("escrow_address",)),
)


def compiler_version() -> str:
    from opshin import __version__

    return str(__version__)


def compile_contract(contract: Contract, out_dir: Path) -> dict[str, Any]:
    target = out_dir / contract.name
    with tempfile.TemporaryDirectory() as scratch:
        raw_out = Path(scratch) / contract.name
        subprocess.run(
            [
                sys.executable,
                "-m",
                "opshin",
                "build",
                str(CONTRACTS_DIR / contract.source),
                "-o",
                str(raw_out),
                f"-O{OPT_LEVEL}",
                "--parameters",
                str(len(contract.parameters)),
                "--recursion-limit",
                str(RECURSION_LIMIT),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT_FILES:
            shutil.copyfile(raw_out / name, target / name)
    compiled = bytes.fromhex((target / "script.cbor").read_text().strip())
    script, rewrites = optimise_cbor(compiled)
    write_script(target, script)
    return {
        "source": f"contracts/{contract.source}",
        "parameters": list(contract.parameters),
        "compiled_bytes": len(compiled),
        "compiled_hash": script_hash(compiled),
        "rewrites": rewrites,
        "script_bytes": len(script),
        "unapplied_hash": script_hash(script),
        "source_sha256": hashlib.sha256((CONTRACTS_DIR / contract.source).read_bytes()).hexdigest(),
        "shared_sources_sha256": {
            f"contracts/{name}": hashlib.sha256((CONTRACTS_DIR / name).read_bytes()).hexdigest()
            for name in SHARED_SOURCES
        },
    }


def script_hash(script: bytes) -> str:
    return hashlib.blake2b(b"\x03" + script, digest_size=28).hexdigest()


def write_script(target: Path, script: bytes) -> None:
    """Replace the compiler's program in `script.cbor`, `script.plutus` and `blueprint.json`."""
    (target / "script.cbor").write_text(script.hex())
    envelope = json.loads((target / "script.plutus").read_text())
    envelope["cborHex"] = cbor2.dumps(script).hex()
    (target / "script.plutus").write_text(json.dumps(envelope, indent=2))
    blueprint = json.loads((target / "blueprint.json").read_text())
    for validator in blueprint["validators"]:
        validator["compiledCode"] = script.hex()
        validator["hash"] = script_hash(script)
    (target / "blueprint.json").write_text(json.dumps(blueprint, indent=2))


def build(out_dir: Path = BUILD_DIR) -> dict[str, Any]:
    version = compiler_version()
    if version != OPSHIN_VERSION:
        raise SystemExit(f"contracts are pinned to opshin {OPSHIN_VERSION}, found {version}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(CONTRACTS)) as pool:
        results = dict(
            zip(
                [c.name for c in CONTRACTS],
                pool.map(lambda c: compile_contract(c, out_dir), CONTRACTS),
                strict=True,
            )
        )
    manifest = {
        "compiler": {
            "name": "opshin",
            "version": version,
            "route": "opshin build (CLI)",
            "opt_level": OPT_LEVEL,
            "plutus": "v3",
        },
        "optimiser": {
            "module": "contracts/optimise.py",
            "passes": list(PASSES),
            "inline_size": INLINE_SIZE,
            "source_sha256": hashlib.sha256(
                (CONTRACTS_DIR / "optimise.py").read_bytes()
            ).hexdigest(),
        },
        "contracts": results,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD_DIR)
    parser.add_argument(
        "--check", action="store_true", help="rebuild elsewhere and compare with the committed"
    )
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = build(Path(scratch))
        committed = json.loads((BUILD_DIR / "manifest.json").read_text())
        if fresh != committed:
            print("committed contracts/build does not reproduce", file=sys.stderr)
            return 1
        print("contracts/build reproduces")
        return 0
    manifest = build(args.out)
    for name, entry in manifest["contracts"].items():
        print(f"{name}: {entry['script_bytes']} bytes, unapplied hash {entry['unapplied_hash']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
