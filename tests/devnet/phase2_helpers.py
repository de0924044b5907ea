"""Helpers for the phase-2 tests: our test validators, keys, and real signed transactions.

Transactions are assembled field by field with pycardano (inputs, outputs, fee, validity
interval, collateral, required signers, redeemers, script integrity hash) and signed, so each
test states exactly what the script sees. Balancing and fees are the ledger's business, not
phase 2's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycardano import (
    Address,
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    Network,
    PaymentSigningKey,
    PlutusData,
    PlutusV2Script,
    PlutusV3Script,
    Redeemer,
    RedeemerTag,
    ScriptHash,
    Transaction,
    TransactionBody,
    TransactionId,
    TransactionInput,
    TransactionOutput,
    TransactionWitnessSet,
    Value,
    VerificationKeyHash,
    VerificationKeyWitness,
    script_hash,
)
from pycardano.utils import script_data_hash

from devnet.phase2 import RedeemerEval, SlotConfig, evaluate_transaction

SCRIPTS_DIR = Path(__file__).parent / "scripts"
REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_PATH = REPO_ROOT / "config" / "devnet-protocol-params.json"
PARAMS: dict[str, Any] = json.loads(PARAMS_PATH.read_text())
COST_MODELS: dict[str, list[int]] = PARAMS["cost_models_raw"]
PROTOCOL_MAJOR: int = PARAMS["protocol_major_ver"]
MAX_BUDGET = (int(PARAMS["max_tx_ex_mem"]), int(PARAMS["max_tx_ex_steps"]))
# devnet-like clock: slot 0 at a fixed system start, 1 s slots
SLOT_CONFIG = SlotConfig(zero_time_ms=1_700_000_000_000, zero_slot=0, slot_length_ms=1000)
NETWORK = Network.TESTNET
FEE = 400_000


def load_v3(name: str) -> PlutusV3Script:
    # the .cbor.hex files are `opshin build` script.cbor outputs: CBOR(flat), used as is
    return PlutusV3Script(bytes.fromhex((SCRIPTS_DIR / f"{name}.v3.cbor.hex").read_text()))


def load_v2(name: str) -> PlutusV2Script:
    return PlutusV2Script(bytes.fromhex((SCRIPTS_DIR / f"{name}.v2.cbor.hex").read_text()))


def signing_key(seed: str) -> PaymentSigningKey:
    return PaymentSigningKey(hashlib.sha256(seed.encode()).digest())


def key_hash(key: PaymentSigningKey) -> VerificationKeyHash:
    return key.to_verification_key().hash()


def key_address(key: PaymentSigningKey) -> Address:
    return Address(key_hash(key), network=NETWORK)


def script_address(script: Any) -> Address:
    return Address(script_hash(script), network=NETWORK)


def fake_input(label: str, index: int = 0) -> TransactionInput:
    """An input of a transaction that happened before the test (its id derived from a label)."""
    return TransactionInput(TransactionId(hashlib.sha256(label.encode()).digest()), index)


def posix_ms(slot: int) -> int:
    return SLOT_CONFIG.slot_to_posix_ms(slot)


def tokens(policy: bytes, **amounts: int) -> MultiAsset:
    assets = Asset({AssetName(name.encode()): qty for name, qty in amounts.items()})
    return MultiAsset({ScriptHash(policy): assets})


@dataclass
class EscrowDatum(PlutusData):  # type: ignore[misc]  # pycardano is untyped here
    """Datum of tests/devnet/scripts/src/escrow.py."""

    CONSTR_ID = 0
    owner: bytes
    deadline: int


@dataclass
class Claim(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0


@dataclass
class TxSpec:
    """Everything a test transaction holds; `build()` assembles and signs it."""

    inputs: list[TransactionInput]
    outputs: list[TransactionOutput]
    redeemers: list[tuple[RedeemerTag, int, Any, ExecutionUnits]] = field(default_factory=list)
    signers: list[PaymentSigningKey] = field(default_factory=list)
    required_signers: list[VerificationKeyHash] = field(default_factory=list)
    v3_scripts: list[PlutusV3Script] = field(default_factory=list)
    v2_scripts: list[PlutusV2Script] = field(default_factory=list)
    datums: list[Any] = field(default_factory=list)
    reference_inputs: list[TransactionInput] = field(default_factory=list)
    collateral: list[TransactionInput] = field(default_factory=list)
    mint: MultiAsset | None = None
    validity_start: int | None = None
    ttl: int | None = None
    fee: int = FEE
    extra_body: dict[str, Any] = field(default_factory=dict)  # e.g. withdraws, certificates

    def _redeemers(self) -> list[Redeemer]:
        built = []
        for tag, index, data, units in self.redeemers:
            redeemer = Redeemer(data, units)
            redeemer.tag = tag
            redeemer.index = index
            built.append(redeemer)
        return built

    def build(self) -> Transaction:
        redeemers = self._redeemers()
        body = TransactionBody(
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            fee=self.fee,
            ttl=self.ttl,
            validity_start=self.validity_start,
            mint=self.mint,
            collateral=list(self.collateral) or None,
            required_signers=list(self.required_signers) or None,
            reference_inputs=list(self.reference_inputs) or None,
            script_data_hash=(
                script_data_hash(redeemers, list(self.datums) or None) if redeemers else None
            ),
            **self.extra_body,
        )
        witness = TransactionWitnessSet(
            plutus_v3_script=list(self.v3_scripts) or None,
            plutus_v2_script=list(self.v2_scripts) or None,
            plutus_data=list(self.datums) or None,
            redeemer=redeemers or None,
        )
        digest = body.hash()
        witness.vkey_witnesses = [
            VerificationKeyWitness(k.to_verification_key(), k.sign(digest)) for k in self.signers
        ] or None
        return Transaction(body, witness)


def evaluate(
    tx: Transaction,
    resolved: Mapping[TransactionInput, TransactionOutput],
    *,
    max_budget: tuple[int, int] | None = None,
    protocol_major: int = PROTOCOL_MAJOR,
    cost_models: Mapping[str, Sequence[int]] = COST_MODELS,
) -> list[RedeemerEval]:
    return evaluate_transaction(
        tx,
        tx_id=tx.transaction_body.hash(),
        resolved=resolved,
        slot_config=SLOT_CONFIG,
        cost_models=cost_models,
        protocol_major=protocol_major,
        max_budget=max_budget,
    )


def plutus_data_cbor(datum: PlutusData) -> bytes:
    return bytes(datum.to_cbor())


def value(lovelace: int, multi: MultiAsset | None = None) -> Value:
    return Value(lovelace, multi or MultiAsset())
