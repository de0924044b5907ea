"""Phase-1 rules: one rejection test per rule (the rule id is asserted and the UTxO set must not
change), the fee and integrity-hash formulas, and the boundaries of the validity interval."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycardano import (
    ExecutionUnits,
    PlutusV1Script,
    PlutusV2Script,
    PlutusV3Script,
    RawPlutusData,
    Redeemer,
    TransactionBuilder,
    TransactionOutput,
    Unit,
)
from pycardano.serialization import default_encoder

from devnet import cbor_spans, phase1
from devnet.context import LedgerChainContext
from devnet.errors import LedgerRejection
from devnet.ledger import Ledger
from devnet.phase1 import Script, TxIn
from tests.devnet.ledger_helpers import (
    ADA,
    ALICE,
    BOB,
    CAROL,
    PARAMS,
    balanced_tx,
    blake2b_256,
    encode_tx,
    first_utxo,
    genesis_wallet,
    new_ledger,
    script_address,
    transfer,
    value_cbor,
)

DUMMY_V3 = bytes.fromhex("4e4d01000033222220051200120011")  # never run: phase 1 rejects first
DUMMY_V3_HASH = Script(3, DUMMY_V3).hash
# Constr 0 [42] as pycardano encodes it (indefinite list), so its builder finds the same hash
DATUM = bytes(RawPlutusData(cbor2.CBORTag(121, [42])).to_cbor())
DATUM_HASH = blake2b_256(DATUM)
REDEEMER_DATA = cbor2.CBORTag(121, [])


@pytest.fixture
def ledger() -> Ledger:
    return new_ledger()


def assert_rejected(ledger: Ledger, tx: bytes, rule: str) -> LedgerRejection:
    before = ledger.utxo_snapshot()
    tip = ledger.tip()
    with pytest.raises(LedgerRejection) as caught:
        ledger.submit(tx)
    assert caught.value.rule == rule, caught.value
    assert ledger.utxo_snapshot() == before
    assert ledger.tip() == tip
    assert ledger.mempool == []
    return caught.value


# ---------------------------------------------------------------------------------------------
# Script-locked UTxOs and script spends


def split(ledger: Ledger, count: int, coin: int) -> list[TxIn]:
    """Give ALICE `count` UTxOs of `coin` lovelace (for inputs and collateral)."""
    tx = balanced_tx(ledger, ALICE, [[ALICE.address_bytes, coin] for _ in range(count)])
    tx_id = bytes.fromhex(ledger.submit(tx))
    return [TxIn(tx_id, i) for i in range(count)]


def lock_at_script(ledger: Ledger, datum_option: Any = None, coin: int = 10 * ADA) -> TxIn:
    output: dict[int, Any] = {0: script_address(DUMMY_V3_HASH), 1: coin}
    if datum_option is not None:
        output[2] = datum_option
    tx = balanced_tx(ledger, ALICE, [output])
    return TxIn(bytes.fromhex(ledger.submit(tx)), 0)


def redeemer_map(entries: list[tuple[int, int, int, int]]) -> dict[Any, Any]:
    return {(tag, index): [REDEEMER_DATA, [mem, steps]] for tag, index, mem, steps in entries}


def datums_witness(datums: list[bytes]) -> Any:
    # RawPlutusData re-encodes lists indefinite, as in DATUM (encode_tx uses pycardano's encoder)
    return cbor2.CBORTag(258, [RawPlutusData(cbor2.loads(d)) for d in datums])


def integrity_hash(redeemers: Any, datums: list[bytes] | None, languages: set[int]) -> bytes:
    datum_bytes = cbor2.dumps(datums_witness(datums), default=default_encoder) if datums else b""
    views = phase1.language_views(languages, PARAMS)
    return blake2b_256(cbor2.dumps(redeemers) + datum_bytes + views)


def script_spend(
    ledger: Ledger,
    locked: TxIn,
    fund: TxIn,
    collateral: list[TxIn] | None,
    *,
    datums: list[bytes] | None = None,
    redeemers: list[tuple[int, int, int, int]] | None = None,
    scripts: list[bytes] | None = None,
    integrity: bytes | None = None,
    extra_body: dict[int, Any] | None = None,
) -> bytes:
    """ALICE spends a script-locked input plus `fund`, paying everything back to herself.

    Redeemer entries are (tag, index, mem, steps); spend index 0 stands for the locked input,
    whatever its position among the sorted inputs."""
    entries = redeemers if redeemers is not None else [(0, 0, 1_000_000, 500_000_000)]
    spend_index = sorted([locked, fund]).index(locked)
    rmap = redeemer_map([(t, spend_index if t == 0 else i, m, s) for t, i, m, s in entries])
    witnesses: dict[int, Any] = {7: scripts if scripts is not None else [DUMMY_V3]}
    if rmap:
        witnesses[5] = rmap
    if datums:
        witnesses[4] = datums_witness(datums)
    body: dict[int, Any] = {
        11: integrity if integrity is not None else integrity_hash(rmap, datums, {2}),
        **(extra_body or {}),
    }
    if collateral is not None:
        body[13] = [[t.tx_id, t.index] for t in collateral]
    return balanced_tx(
        ledger, ALICE, [], inputs=[locked, fund], extra_body=body, witnesses=witnesses
    )


@pytest.fixture
def script_setup(ledger: Ledger) -> Iterator[tuple[Ledger, TxIn, list[TxIn]]]:
    """A UTxO locked by DUMMY_V3 with a datum hash, and four 20-ADA ALICE UTxOs."""
    funds = split(ledger, 4, 20 * ADA)
    locked = lock_at_script(ledger, [0, DATUM_HASH])
    yield ledger, locked, funds


# ---------------------------------------------------------------------------------------------
# Structure and inputs


def test_malformed_bytes_are_rejected(ledger: Ledger) -> None:
    assert_rejected(ledger, b"\x84\x01\x02", "malformed")


def test_unknown_input_is_rejected(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA)
    ledger.submit(tx)
    assert_rejected(ledger, tx, "inputs-exist")  # the same tx again: its input is spent


def test_duplicate_input_is_rejected(ledger: Ledger) -> None:
    txin = first_utxo(ledger, ALICE)[0]
    body = {0: [[txin.tx_id, txin.index]] * 2, 1: [[BOB.address_bytes, 5 * ADA]], 2: 200_000}
    assert_rejected(ledger, encode_tx(body, [ALICE]), "no-duplicate-inputs")


def test_missing_reference_input_is_rejected(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={18: [[b"\x01" * 32, 0]]})
    assert_rejected(ledger, tx, "reference-inputs-exist")


def test_missing_collateral_input_is_rejected(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={13: [[b"\x02" * 32, 1]]})
    assert_rejected(ledger, tx, "collateral-inputs-exist")


def test_body_network_id_must_be_testnet(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={15: 1})
    assert_rejected(ledger, tx, "network-id")


def test_output_address_network_must_be_testnet(ledger: Ledger) -> None:
    mainnet_bob = bytes([0x61]) + BOB.key_hash
    tx = transfer(ledger, ALICE, mainnet_bob, 5 * ADA)
    assert_rejected(ledger, tx, "network-id")


# ---------------------------------------------------------------------------------------------
# Validity interval: lower bound inclusive, TTL exclusive


def test_validity_start_is_inclusive(ledger: Ledger) -> None:
    ledger.advance_time(100)
    early = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={8: 101})
    assert_rejected(ledger, early, "validity-interval")
    on_time = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={8: 100})
    ledger.submit(on_time)


def test_ttl_is_exclusive(ledger: Ledger) -> None:
    ledger.advance_time(100)
    expired = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={3: 100})
    assert_rejected(ledger, expired, "validity-interval")
    live = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={3: 101})
    ledger.submit(live)


# ---------------------------------------------------------------------------------------------
# Sizes, min-ADA, balance, fee


def test_tx_over_max_size_is_rejected(ledger: Ledger) -> None:
    big_metadata = {674: {"msg": ["x" * 64] * 300}}
    aux_hash = blake2b_256(cbor2.dumps(big_metadata))
    tx = transfer(
        ledger, ALICE, BOB.address_bytes, 5 * ADA, aux=big_metadata, extra_body={7: aux_hash}
    )
    assert len(tx) > PARAMS.max_tx_size
    assert_rejected(ledger, tx, "max-tx-size")


def test_output_value_over_max_size_is_rejected(ledger: Ledger) -> None:
    many = {b"\x07" * 28 + i.to_bytes(2, "big") * 16: 1 for i in range(200)}
    txin = first_utxo(ledger, ALICE)[0]
    out = [BOB.address_bytes, value_cbor(50 * ADA, many)]
    body = {0: [[txin.tx_id, txin.index]], 1: [out], 2: 0}
    assert_rejected(ledger, encode_tx(body, [ALICE]), "max-value-size")


def test_output_below_min_ada_is_rejected(ledger: Ledger) -> None:
    floor = (160 + len(cbor2.dumps([BOB.address_bytes, 800_000]))) * PARAMS.coins_per_utxo_size
    assert floor == 849_070  # same output size for any coin in 65,536..2^32-1
    assert_rejected(ledger, transfer(ledger, ALICE, BOB.address_bytes, floor - 1), "min-ada")
    ledger.submit(transfer(ledger, ALICE, BOB.address_bytes, floor))


def test_unbalanced_tx_is_rejected(ledger: Ledger) -> None:
    txin, output = first_utxo(ledger, ALICE)
    body = {0: [[txin.tx_id, txin.index]], 1: [[BOB.address_bytes, output.coin]], 2: 200_000}
    assert_rejected(ledger, encode_tx(body, [ALICE]), "value-conservation")


def test_fee_one_below_minimum_is_rejected_and_minimum_accepted(ledger: Ledger) -> None:
    low = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, fee_delta=-1)
    error = assert_rejected(ledger, low, "fee-too-small")
    assert "minimum" in error.message
    exact = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA)
    tx = phase1.decode_transaction(exact)
    # the ledger charges for the size without the is-valid flag: one byte less than the CBOR
    assert tx.fee == PARAMS.min_fee_a * (len(exact) - 1) + PARAMS.min_fee_b
    ledger.submit(exact)


def test_fee_formula_ceils_the_sum_of_script_costs() -> None:
    # 1 mem and 1 step cost 0.0577 + 0.0000721: one ceiling over the sum gives 1, not 2.
    assert PARAMS.price_mem == Fraction(577, 10_000)
    assert PARAMS.price_step == Fraction(721, 10_000_000)
    assert phase1.script_fee(1, 1, PARAMS) == 1
    assert phase1.script_fee(10_000, 0, PARAMS) == 577
    assert phase1.script_fee(10_001, 0, PARAMS) == 578


def test_reference_script_fee_is_tiered() -> None:
    assert phase1.reference_script_fee(0, PARAMS) == 0
    assert phase1.reference_script_fee(4_431, PARAMS) == 66_465
    # 25,600 B at 15, the next 25,600 at 18, then 100 B at 21.6
    assert phase1.reference_script_fee(51_300, PARAMS) == 384_000 + 460_800 + 2_160


# ---------------------------------------------------------------------------------------------
# Witnesses and native scripts


def test_missing_signature_is_rejected(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, signers=[BOB])
    assert_rejected(ledger, tx, "missing-vkey-witness")


def test_missing_required_signer_is_rejected(ledger: Ledger) -> None:
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={14: [CAROL.key_hash]})
    assert_rejected(ledger, tx, "missing-vkey-witness")


def test_bad_signature_is_rejected(ledger: Ledger) -> None:
    tx = bytearray(transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA))
    tx[-3] ^= 0x01  # inside the signature: witness set and flag/aux (2 bytes) come last
    assert_rejected(ledger, bytes(tx), "invalid-signature")


def _mint_policy(*extra: list[Any]) -> tuple[bytes, bytes]:
    script = cbor2.dumps([1, [[0, ALICE.key_hash], *extra]])
    return script, Script(0, script).hash


def test_native_script_mint_without_its_signature_is_rejected(ledger: Ledger) -> None:
    script, policy = _mint_policy([0, CAROL.key_hash])
    mint = {policy + b"TOK": 5}
    tx = balanced_tx(
        ledger,
        ALICE,
        [],
        mint_assets=mint,
        extra_body={9: {policy: {b"TOK": 5}}},
        witnesses={1: [cbor2.loads(script)]},
    )
    assert_rejected(ledger, tx, "native-script")


def test_native_script_time_lock(ledger: Ledger) -> None:
    script, policy = _mint_policy([5, 50])  # invalid_hereafter 50: needs a TTL <= 50

    def mint_tx(ttl: int | None) -> bytes:
        body: dict[int, Any] = {9: {policy: {b"TOK": 5}}}
        if ttl is not None:
            body[3] = ttl
        return balanced_tx(
            ledger,
            ALICE,
            [],
            mint_assets={policy + b"TOK": 5},
            extra_body=body,
            witnesses={1: [cbor2.loads(script)]},
        )

    assert_rejected(ledger, mint_tx(None), "native-script")
    assert_rejected(ledger, mint_tx(51), "native-script")
    ledger.submit(mint_tx(50))


def test_mint_without_script_is_rejected(ledger: Ledger) -> None:
    _, policy = _mint_policy()
    tx = balanced_tx(
        ledger, ALICE, [], mint_assets={policy + b"TOK": 5}, extra_body={9: {policy: {b"TOK": 5}}}
    )
    assert_rejected(ledger, tx, "missing-script")


def test_extra_witness_script_is_rejected(ledger: Ledger) -> None:
    script, _ = _mint_policy()
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, witnesses={1: [cbor2.loads(script)]})
    assert_rejected(ledger, tx, "extraneous-script")


def test_auxiliary_data_hash_must_match(ledger: Ledger) -> None:
    metadata = {674: {"msg": ["hello"]}}
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, aux=metadata)  # no hash in body
    assert_rejected(ledger, tx, "auxiliary-data-hash")


def test_certificates_are_not_supported_yet(ledger: Ledger) -> None:
    cert = [0, [0, ALICE.key_hash]]  # stake registration
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={4: [cert]})
    assert_rejected(ledger, tx, "certificates-unsupported")


def test_withdrawals_are_not_supported_yet(ledger: Ledger) -> None:
    reward_address = bytes([0xE0]) + ALICE.key_hash
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, extra_body={5: {reward_address: 0}})
    assert_rejected(ledger, tx, "withdrawals-unsupported")


# ---------------------------------------------------------------------------------------------
# Plutus scripts: datums, redeemers, integrity hash, budget, collateral


def test_script_spend_without_datum_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=None)
    assert_rejected(ledger, tx, "missing-datum")


def test_unneeded_datum_is_rejected(ledger: Ledger) -> None:
    witnesses = {4: datums_witness([DATUM])}
    body = {11: integrity_hash({}, [DATUM], set())}
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA, witnesses=witnesses, extra_body=body)
    assert_rejected(ledger, tx, "extraneous-datum")


def test_script_spend_without_redeemer_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM], redeemers=[])
    assert_rejected(ledger, tx, "missing-redeemer")


def test_redeemer_for_nothing_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    entries = [(0, 0, 1000, 1000), (1, 0, 1000, 1000)]  # mint:0 but nothing is minted
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM], redeemers=entries)
    assert_rejected(ledger, tx, "extraneous-redeemer")


def test_wrong_integrity_hash_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    wrong = integrity_hash(redeemer_map([(0, 0, 1, 1)]), [DATUM], {2})
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM], integrity=wrong)
    assert_rejected(ledger, tx, "script-integrity-hash")


def test_integrity_hash_with_the_wrong_cost_model_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    spend_index = sorted([locked, funds[0]]).index(locked)
    rmap = redeemer_map([(0, spend_index, 1_000_000, 500_000_000)])
    as_v2 = integrity_hash(rmap, [DATUM], {1})
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM], integrity=as_v2)
    assert_rejected(ledger, tx, "script-integrity-hash")


def test_budget_over_the_tx_maximum_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    entries = [(0, 0, PARAMS.max_tx_ex_mem + 1, 1000)]
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM], redeemers=entries)
    assert_rejected(ledger, tx, "ex-units-too-big")


def test_script_tx_without_collateral_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    tx = script_spend(ledger, locked, funds[0], None, datums=[DATUM])
    assert_rejected(ledger, tx, "collateral-missing")


def test_too_many_collateral_inputs_are_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    extra = split(ledger, 2, 5 * ADA)
    tx = script_spend(ledger, locked, funds[0], funds[1:] + extra, datums=[DATUM])
    assert_rejected(ledger, tx, "collateral-too-many-inputs")


def test_script_locked_collateral_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    other = lock_at_script(ledger, [0, DATUM_HASH])
    tx = script_spend(ledger, locked, funds[0], [other], datums=[DATUM])
    assert_rejected(ledger, tx, "collateral-not-key-locked")


def test_collateral_with_tokens_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    usdm = bytes.fromhex(ledger.usdm_unit)
    pay = balanced_tx(
        ledger,
        genesis_wallet(ledger),
        [[ALICE.address_bytes, value_cbor(5 * ADA, {usdm: 10})]],
    )
    token_utxo = TxIn(bytes.fromhex(ledger.submit(pay)), 0)
    tx = script_spend(ledger, locked, funds[0], [token_utxo], datums=[DATUM])
    assert_rejected(ledger, tx, "collateral-not-ada")


def test_insufficient_collateral_is_rejected(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    small = split(ledger, 1, 1 * ADA)
    big_budget = [(0, 0, 10_000_000, 5_000_000_000)]  # fee > 1.1 ADA: 150 % of it > 1 ADA
    tx = script_spend(ledger, locked, funds[0], small, datums=[DATUM], redeemers=big_budget)
    assert_rejected(ledger, tx, "collateral-insufficient")


def test_total_collateral_must_match(script_setup: Any) -> None:
    ledger, locked, funds = script_setup
    tx = script_spend(
        ledger, locked, funds[0], [funds[1]], datums=[DATUM], extra_body={17: 19 * ADA}
    )
    assert_rejected(ledger, tx, "collateral-total-mismatch")


def test_script_tx_without_an_evaluator_is_rejected_as_phase2_unavailable(
    script_setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, locked, funds = script_setup
    monkeypatch.setitem(sys.modules, "devnet.phase2", None)  # import fails
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM])
    assert_rejected(ledger, tx, "phase2-unavailable")


def test_failing_script_is_rejected_as_phase2(
    script_setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, locked, funds = script_setup
    calls: list[dict[str, Any]] = []

    class FakeEval:
        tag, index, ok, mem, steps, logs, error = "spend", 0, False, 1, 1, ["boom"], "error"

    class FakePhase2:
        class Phase2Error(Exception):
            pass

        @staticmethod
        def evaluate_transaction(tx: Any, **kwargs: Any) -> list[Any]:
            calls.append(kwargs)
            return [FakeEval()]

    monkeypatch.setitem(sys.modules, "devnet.phase2", FakePhase2)
    monkeypatch.setattr(Ledger, "slot_config", property(lambda self: None))
    tx = script_spend(ledger, locked, funds[0], [funds[1]], datums=[DATUM])
    assert_rejected(ledger, tx, "phase2")
    (kwargs,) = calls
    assert kwargs["tx_id"] == phase1.decode_transaction(tx).tx_id
    assert set(kwargs["resolved"]) and kwargs["max_budget"] is None
    assert kwargs["cost_models"]["PlutusV3"] == PARAMS.cost_models_raw["PlutusV3"]
    assert DATUM_HASH in kwargs["witness_datums"]


# ---------------------------------------------------------------------------------------------
# The integrity hash agrees with pycardano's for transactions it builds


@pytest.mark.parametrize(
    ("script", "language"),
    [(PlutusV1Script(DUMMY_V3), 0), (PlutusV2Script(DUMMY_V3), 1), (PlutusV3Script(DUMMY_V3), 2)],
)
def test_integrity_hash_matches_pycardano(ledger: Ledger, script: Any, language: int) -> None:
    script_hash = Script(language + 1, DUMMY_V3).hash
    output = {0: script_address(script_hash), 1: 10 * ADA, 2: [0, DATUM_HASH]}
    locked = TxIn(bytes.fromhex(ledger.submit(balanced_tx(ledger, ALICE, [output]))), 0)
    context = LedgerChainContext(ledger)
    builder = TransactionBuilder(context)
    utxo = next(u for u in context.utxos(script_address_str(script_hash)) if u.input.index == 0)
    assert bytes(utxo.input.transaction_id) == locked.tx_id
    builder.add_script_input(
        utxo,
        script=script,
        datum=RawPlutusData(cbor2.loads(DATUM)),
        redeemer=Redeemer(Unit(), ExecutionUnits(1_000, 1_000_000)),
    )
    builder.add_input_address(ALICE.address)
    builder.add_output(TransactionOutput(BOB.address, 5 * ADA))
    tx = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    decoded = phase1.decode_transaction(bytes(tx.to_cbor()))
    ours = phase1.script_integrity_hash(decoded, {language}, PARAMS)
    assert decoded.script_data_hash == ours


def script_address_str(script_hash: bytes) -> str:
    from devnet.ledger import bech32_of

    return bech32_of(script_address(script_hash))


def test_language_views_put_v1_last_with_its_double_encoding() -> None:
    views = phase1.language_views({0, 2}, PARAMS)
    decoded = cbor2.loads(views)
    assert list(decoded) == [2, b"\x00"]
    assert decoded[2] == list(PARAMS.cost_models_raw["PlutusV3"])
    v1 = decoded[b"\x00"]
    assert v1[0] == 0x9F and v1[-1] == 0xFF  # an indefinite list inside a byte string
    assert cbor2.loads(v1) == list(PARAMS.cost_models_raw["PlutusV1"])


# ---------------------------------------------------------------------------------------------
# The original-bytes scanner

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.integers(0, 30), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(cbor_values)
def test_scanner_finds_the_end_of_any_item(value: Any) -> None:
    raw = cbor2.dumps(value) + b"\x00trailing"
    assert cbor_spans.item_end(raw, 0) == len(raw) - len(b"\x00trailing")


def test_scanner_handles_indefinite_items_and_set_tags() -> None:
    indefinite = b"\x9f\x01\x82\x02\x03\xff"  # [_ 1, [2, 3]]
    assert cbor_spans.item_end(indefinite + b"\x00", 0) == len(indefinite)
    assert cbor_spans.array_items(indefinite, 0) == [(1, 2), (2, 5)]
    tagged = cbor2.dumps(cbor2.CBORTag(258, [b"a", b"b"]))
    assert [tagged[s:e] for s, e in cbor_spans.array_items(tagged, 0)] == [b"\x41a", b"\x41b"]
    indefinite_map = b"\xbf\x01\x02\xff"
    assert cbor_spans.map_items(indefinite_map, 0) == [((1, 2), (2, 3))]


def test_tx_id_is_the_hash_of_the_original_body_bytes(ledger: Ledger) -> None:
    # An indefinite-length body map: re-encoding would change the bytes, and so the hash.
    tx = transfer(ledger, ALICE, BOB.address_bytes, 5 * ADA)
    spans = cbor_spans.scan_transaction(tx)
    assert spans.body[0] == 0xA3
    body_items = spans.body[1:]
    indefinite_body = b"\xbf" + body_items + b"\xff"
    body_hash = blake2b_256(indefinite_body)
    witness = cbor2.dumps({0: [[ALICE.vkey, ALICE.sign(body_hash)]]})
    rebuilt = b"\x84" + indefinite_body + witness + b"\xf5\xf6"
    decoded = phase1.decode_transaction(rebuilt)
    assert decoded.tx_id == body_hash != blake2b_256(cbor2.dumps(cbor2.loads(indefinite_body)))
    assert len(decoded.cbor) == len(tx) + 1  # the original bytes, not a re-encoding
