"""The devnet accepts exactly what an independent ledger (scalus, ../shared/tools/tx-oracles)
accepts: valid transactions built by pycardano, and tampered copies of them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycardano import (
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    PaymentSigningKey,
    Redeemer,
    ScriptAll,
    ScriptPubkey,
    Transaction,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    Value,
    VerificationKeyWitness,
)

from devnet import Ledger, LedgerRejection
from devnet.context import LedgerChainContext
from tests.devnet.ledger_helpers import ADA, Wallet, fee_for, new_ledger, wallet
from tests.devnet.oracles import NODE_TIMEOUT_S, oracle_dir
from tests.devnet.phase2_helpers import Claim, EscrowDatum, load_v3, script_address

ALICE = wallet("scalus/alice")
BOB = wallet("scalus/bob")
ESCROW = load_v3("escrow")


@dataclass(frozen=True)
class Judged:
    name: str
    cbor: bytes


@dataclass
class Chain:
    """A devnet with funded wallets and a script output to spend; saved so each transaction is
    judged on its own copy of the same state."""

    ledger: Ledger
    context: LedgerChainContext
    state_file: Path
    escrow_input: TransactionInput
    deadline_slot: int


def _signed(tx: Transaction, keys: list[PaymentSigningKey]) -> Transaction:
    digest = tx.transaction_body.hash()
    tx.transaction_witness_set.vkey_witnesses = [
        VerificationKeyWitness(key.to_verification_key(), key.sign(digest)) for key in keys
    ]
    return tx


def _transfer(chain: Chain, *, ttl_offset: int = 100, start_offset: int = -10) -> Transaction:
    builder = TransactionBuilder(chain.context)
    builder.add_input_address(ALICE.address)
    builder.add_output(TransactionOutput(BOB.address, 5 * ADA))
    builder.ttl = chain.ledger.current_slot + ttl_offset
    builder.validity_start = chain.ledger.current_slot + start_offset
    built: Transaction = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    return built


def _usdm_transfer(chain: Chain) -> Transaction:
    unit = chain.ledger.usdm_unit
    policy, name = bytes.fromhex(unit[:56]), bytes.fromhex(unit[56:])
    usdm = MultiAsset.from_primitive({policy: {name: 2_500_000}})
    builder = TransactionBuilder(chain.context)
    builder.add_input_address(ALICE.address)
    builder.add_output(TransactionOutput(BOB.address, Value(2 * ADA, usdm)))
    built: Transaction = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    return built


def _mint(chain: Chain) -> Transaction:
    policy = ScriptAll([ScriptPubkey(ALICE.signing_key.to_verification_key().hash())])
    minted = MultiAsset({policy.hash(): Asset({AssetName(b"agent-badge"): 1})})
    builder = TransactionBuilder(chain.context)
    builder.add_input_address(ALICE.address)
    builder.mint = minted
    builder.native_scripts = [policy]
    builder.add_output(TransactionOutput(ALICE.address, Value(2 * ADA, minted)))
    built: Transaction = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    return built


def _claim(
    chain: Chain,
    *,
    signer: Wallet = ALICE,
    start_slot: int | None = None,
    ex_units: ExecutionUnits | None = None,
) -> Transaction:
    """A claim of the escrow output; with `ex_units` given, pycardano does not evaluate it, so a
    claim that must fail can still be built."""
    utxo = chain.context.utxos(script_address(ESCROW))[0]
    builder = TransactionBuilder(chain.context)
    builder.add_script_input(utxo, script=ESCROW, redeemer=Redeemer(Claim(), ex_units))
    builder.add_input_address(signer.address)
    builder.required_signers = [ALICE.signing_key.to_verification_key().hash()]
    builder.validity_start = chain.deadline_slot if start_slot is None else start_slot
    builder.ttl = chain.ledger.current_slot + 200
    tx: Transaction = builder.build_and_sign([signer.signing_key], change_address=signer.address)
    return tx


def _tamper(tx: Transaction, change: Callable[[Any], None], resign: bool = True) -> Transaction:
    copy = Transaction.from_cbor(tx.to_cbor())
    change(copy.transaction_body)
    return _signed(copy, [ALICE.signing_key]) if resign else copy


def _with_fee(tx: Transaction, fee: int) -> Transaction:
    """The transfer re-balanced and re-signed to pay exactly `fee`."""

    def set_fee(body: Any) -> None:
        body.outputs[-1].amount.coin += body.fee - fee
        body.fee = fee

    return _tamper(tx, set_fee)


def _minimum_fee(tx: Transaction) -> int:
    # Fees of this size encode in the same number of bytes, so the size does not move.
    return fee_for(bytes(_with_fee(tx, tx.transaction_body.fee).to_cbor()))


def _value_created(body: Any) -> None:
    body.outputs[0].amount.coin += 1


def _below_min_ada(body: Any) -> None:
    moved = body.outputs[0].amount.coin - 100_000
    body.outputs[0].amount.coin = 100_000
    body.outputs[-1].amount.coin += moved


def _missing_input(body: Any) -> None:
    body.inputs.append(TransactionInput.from_primitive([b"\x42" * 32, 0]))


def _unsigned(tx: Transaction) -> Transaction:
    copy = Transaction.from_cbor(tx.to_cbor())
    copy.transaction_witness_set.vkey_witnesses = None
    return copy


def _setup_chain(tmp_path: Path) -> Chain:
    ledger = new_ledger()
    for who in (ALICE, BOB):
        ledger.faucet(who.bech32, 200 * ADA, {ledger.usdm_unit: 50_000_000})
    context = LedgerChainContext(ledger)
    deadline_slot = ledger.current_slot + 30
    deadline_ms = ledger.slot_to_ms(deadline_slot)
    builder = TransactionBuilder(context)
    builder.add_input_address(ALICE.address)
    datum = EscrowDatum(bytes(ALICE.key_hash), deadline_ms)
    builder.add_output(TransactionOutput(script_address(ESCROW), 10 * ADA, datum=datum))
    lock = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    lock_hash = ledger.submit(lock.to_cbor())
    ledger.advance_time(60)
    ledger.produce_blocks(1)
    state_file = tmp_path / "devnet.json"
    ledger.save(str(state_file))
    escrow_input = TransactionInput.from_primitive([bytes.fromhex(lock_hash), 0])
    return Chain(ledger, context, state_file, escrow_input, deadline_slot)


def _cases(chain: Chain) -> list[Judged]:
    transfer = _transfer(chain)
    claim = _claim(chain)
    units = next(iter(claim.transaction_witness_set.redeemer.values())).ex_units
    consumed = chain.ledger.evaluate(bytes(claim.to_cbor()))[0]
    short = ExecutionUnits(consumed.mem - 1, units.steps)  # one unit of memory too few
    cases = {
        "transfer": transfer,
        "usdm-transfer": _usdm_transfer(chain),
        "native-mint": _mint(chain),
        "script-claim": claim,
        "fee-exactly-minimum": _with_fee(transfer, _minimum_fee(transfer)),
        "fee-one-short": _with_fee(transfer, _minimum_fee(transfer) - 1),
        "value-created": _tamper(transfer, _value_created),
        "below-min-ada": _tamper(transfer, _below_min_ada),
        "missing-input": _tamper(transfer, _missing_input),
        "body-changed-after-signing": _tamper(transfer, _value_created, resign=False),
        "unsigned": _unsigned(transfer),
        "expired": _transfer(chain, ttl_offset=0),
        "not-yet-valid": _transfer(chain, start_offset=5),
        "script-claim-too-early": _claim(chain, start_slot=chain.deadline_slot - 1, ex_units=units),
        "script-claim-wrong-signer": _claim(chain, signer=BOB, ex_units=units),
        "script-claim-budget-short": _claim(chain, ex_units=short),
    }
    return [Judged(name, bytes(tx.to_cbor())) for name, tx in cases.items()]


def _devnet_verdicts(chain: Chain, cases: list[Judged]) -> dict[str, bool]:
    verdicts = {}
    for case in cases:
        fresh = Ledger.load(str(chain.state_file))
        try:
            fresh.submit(case.cbor)
            verdicts[case.name] = True
        except LedgerRejection:
            verdicts[case.name] = False
    return verdicts


def _scalus_verdicts(chain: Chain, cases: list[Judged]) -> dict[str, bool]:
    folder = oracle_dir()
    ledger = chain.ledger
    # The outputs' original bytes: a re-encoding could change what scalus judges.
    utxos = [
        [TransactionInput.from_primitive([txin.tx_id, txin.index]).to_cbor_hex(), output.hex()]
        for txin, output in ledger.utxo_snapshot().items()
    ]
    slot_config = ledger.slot_config
    job = {
        "utxos": utxos,
        "slot": ledger.current_slot,
        "slot_config": {
            "zero_time": slot_config.zero_time_ms,
            "zero_slot": slot_config.zero_slot,
            "slot_length": slot_config.slot_length_ms,
        },
        "txs": [{"name": case.name, "cbor": case.cbor.hex()} for case in cases],
    }
    done = subprocess.run(
        ["node", "scalus-oracle.mjs"],
        cwd=folder,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return {result["name"]: bool(result["ok"]) for result in results}


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bool], dict[str, bool]]:
    chain = _setup_chain(tmp_path_factory.mktemp("scalus"))
    cases = _cases(chain)
    return _devnet_verdicts(chain, cases), _scalus_verdicts(chain, cases)


def test_devnet_and_scalus_agree_on_every_transaction(
    judged: tuple[dict[str, bool], dict[str, bool]],
) -> None:
    ours, scalus = judged
    disagreements = {
        name: (verdict, scalus.get(name))
        for name, verdict in ours.items()
        if verdict != scalus.get(name)
    }
    assert disagreements == {}, f"(devnet, scalus) verdicts differ: {disagreements}"


def test_the_set_has_accepted_and_rejected_transactions(
    judged: tuple[dict[str, bool], dict[str, bool]],
) -> None:
    ours, _ = judged
    accepted = {name for name, ok in ours.items() if ok}
    assert accepted == {
        "transfer",
        "usdm-transfer",
        "native-mint",
        "script-claim",
        "fee-exactly-minimum",
    }
    assert len(ours) - len(accepted) == 11
