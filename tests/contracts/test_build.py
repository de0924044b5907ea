"""The committed contract artifacts reproduce from source, and parameter application works."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from contracts import build
from contracts.params import BUILD_DIR, apply_params, compiled, data_constant, script_hash_of


def test_manifest_matches_the_committed_scripts() -> None:
    manifest = json.loads((BUILD_DIR / "manifest.json").read_text())
    assert manifest["compiler"]["version"] == build.OPSHIN_VERSION
    assert manifest["compiler"]["opt_level"] == build.OPT_LEVEL
    for name, entry in manifest["contracts"].items():
        script = compiled(name)
        assert entry["unapplied_hash"] == script_hash_of(script).hex()
        assert entry["script_bytes"] == len(script)


def test_parameter_lists_are_indefinite_length() -> None:
    import cbor2  # noqa: F401
    from uplc.ast import plutus_cbor_dumps

    encoded = plutus_cbor_dumps(data_constant([b"\x01" * 28, b"\x02" * 28]))
    assert encoded.startswith(b"\x9f") and encoded.endswith(b"\xff")
    assert plutus_cbor_dumps(data_constant([])) == b"\x80"


def test_applied_script_differs_per_parameter() -> None:
    base = compiled("registry_policy")
    assert apply_params(base, [b"a"]) != apply_params(base, [b"b"])


@pytest.mark.skipif(
    os.environ.get("PAYNODE_SKIP_CONTRACT_REBUILD") == "1", reason="rebuild disabled"
)
def test_rebuild_reproduces_the_committed_hashes(tmp_path: Path) -> None:
    """Recompiles both contracts with the pinned OpShin (about a minute)."""
    fresh = build.build(tmp_path)
    committed = json.loads((BUILD_DIR / "manifest.json").read_text())
    assert fresh == committed
    for name in committed["contracts"]:
        assert (tmp_path / name / "script.cbor").read_text() == (
            BUILD_DIR / name / "script.cbor"
        ).read_text()
