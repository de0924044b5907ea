"""Parameter application and script addresses.

Parameters are applied the way Aiken's `applyParamsToScript` (and the Masumi node) do it: the
compiled program is un-flattened, applied to each parameter as a UPLC `data` constant, and
flattened again; the script hash is blake2b_224(0x03 ‖ CBOR(flat)). Data constants are encoded
with indefinite-length lists (the Haskell/Aiken convention), so the applied hash matches what those
tools compute. One compiled artifact in `contracts/build/` serves every parameter set.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import cbor2
from pycardano import Address, Network, PlutusData, PlutusV3Script, ScriptHash
from uplc.ast import Apply, PlutusList, Program, data_from_cbor
from uplc.tools import flatten, unflatten

from contracts.datums import PlutusAddress

BUILD_DIR = Path(__file__).resolve().parent / "build"
RECURSION_LIMIT = 20_000


class _IndefinitePlutusList(PlutusList):  # type: ignore[misc]
    """A data list CBOR-encoded as an indefinite-length array when not empty. (uplc's visitors
    dispatch on the class name, so it keeps the name PlutusList.)"""

    def to_cbor(self) -> Any:
        from pycardano.serialization import IndefiniteFrozenList

        items = [d.to_cbor() for d in self.value]
        return IndefiniteFrozenList(items) if items else []


_IndefinitePlutusList.__name__ = "PlutusList"


def _with_indefinite_lists(node: Any) -> Any:
    from uplc.ast import PlutusConstr, PlutusMap

    if isinstance(node, PlutusList):
        return _IndefinitePlutusList([_with_indefinite_lists(v) for v in node.value])
    if isinstance(node, PlutusConstr):
        return PlutusConstr(node.constructor, [_with_indefinite_lists(v) for v in node.fields])
    if isinstance(node, PlutusMap):
        return PlutusMap(
            {_with_indefinite_lists(k): _with_indefinite_lists(v) for k, v in node.value.items()}
        )
    return node


def data_constant(value: PlutusData | int | bytes | list[Any]) -> Any:
    """A parameter as a UPLC data constant (pycardano PlutusData, int, bytes or a list)."""
    from pycardano.serialization import IndefiniteList, default_encoder

    def encode(v: Any) -> Any:
        if isinstance(v, list):
            return IndefiniteList([encode(x) for x in v]) if v else []
        return v

    raw = cbor2.dumps(encode(value), default=default_encoder)
    return _with_indefinite_lists(data_from_cbor(raw))


def apply_params(compiled_cbor: bytes, params: list[Any]) -> bytes:
    """CBOR(flat) of the compiled program applied to `params` (each a `data_constant` input)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    program = unflatten(compiled_cbor)
    term = program.term
    for param in params:
        term = Apply(term, data_constant(param))
    applied: bytes = flatten(Program(program.version, term))
    return applied


def script_hash_of(script_cbor: bytes) -> bytes:
    return hashlib.blake2b(b"\x03" + script_cbor, digest_size=28).digest()


def script_address(script_cbor: bytes, network: Network) -> Address:
    return Address(ScriptHash(script_hash_of(script_cbor)), network=network)


@cache
def compiled(name: str) -> bytes:
    """The committed compiled program `contracts/build/<name>/script.cbor` (CBOR(flat))."""
    return bytes.fromhex((BUILD_DIR / name / "script.cbor").read_text().strip())


def build_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((BUILD_DIR / "manifest.json").read_text())
    return manifest


# Escrow -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscrowParams:
    """The five V1 escrow parameters (masumi-protocol.md §3.1), in application order."""

    required_admins_multi_sig: int
    admin_vks: tuple[bytes, ...]
    fee_address: str  # bech32
    fee_permille: int
    cooldown_period_ms: int

    def as_data(self) -> list[Any]:
        return [
            self.required_admins_multi_sig,
            list(self.admin_vks),
            PlutusAddress.from_address(self.fee_address),
            self.fee_permille,
            self.cooldown_period_ms,
        ]


@dataclass(frozen=True)
class AppliedScript:
    cbor: bytes  # CBOR(flat) of the applied program, as in a witness set / reference script

    @property
    def hash(self) -> bytes:
        return script_hash_of(self.cbor)

    @property
    def plutus_script(self) -> PlutusV3Script:
        return PlutusV3Script(self.cbor)

    def address(self, network: Network) -> Address:
        return Address(ScriptHash(self.hash), network=network)


@lru_cache(maxsize=64)
def escrow_script(params: EscrowParams, compiled_cbor: bytes | None = None) -> AppliedScript:
    base = compiled_cbor if compiled_cbor is not None else compiled("escrow")
    return AppliedScript(apply_params(base, params.as_data()))


def escrow_address(params: EscrowParams, network: Network) -> Address:
    return escrow_script(params).address(network)


# Registry -----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def registry_policy(escrow_bech32: str, compiled_cbor: bytes | None = None) -> AppliedScript:
    """The V1 registry policy for an escrow contract: parameter = UTF-8 bytes of its bech32."""
    base = compiled_cbor if compiled_cbor is not None else compiled("registry_policy")
    return AppliedScript(apply_params(base, [escrow_bech32.encode()]))
