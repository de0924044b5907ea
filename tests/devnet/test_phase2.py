"""Phase-2 evaluator: real signed transactions against our small test validators.

Budgets asserted here are exact; `test_phase2_oracle.py` checks the same kind of transactions
against Aiken's evaluator.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import threading
import time
from typing import Any

import pytest
from cbor2 import CBORTag
from pycardano import (
    ExecutionUnits,
    PlutusV3Script,
    RawPlutusData,
    RedeemerTag,
    TransactionInput,
    TransactionOutput,
    Unit,
    datum_hash,
    script_hash,
)
from uplc.ast import PlutusByteString, PlutusConstr, PlutusInteger, PlutusList, PlutusMap
from uplc.cost_model import DEFAULT_COST_COEFF

from devnet.phase2 import Phase2Error, SlotConfig, ledger_param_names
from devnet.phase2 import _cost_models as build_cost_models
from devnet.script_context import RedeemerTarget, TxContextBuilder, sorted_inputs
from tests.devnet.phase2_helpers import (
    COST_MODELS,
    MAX_BUDGET,
    SCRIPTS_DIR,
    SLOT_CONFIG,
    Claim,
    EscrowDatum,
    TxSpec,
    evaluate,
    fake_input,
    key_address,
    key_hash,
    load_v2,
    load_v3,
    posix_ms,
    script_address,
    signing_key,
    tokens,
    value,
)

OWNER = signing_key("owner")
OTHER = signing_key("other")
ESCROW = load_v3("escrow")
WINDOW = load_v3("window")
MINT_EXACT = load_v3("mint_exact")
V2_EQUALS = load_v2("v2_datum_equals_redeemer")
DEADLINE_SLOT = 1_000
PLENTY = ExecutionUnits(2_000_000, 1_000_000_000)
# measured once, and equal to Aiken's (see test_phase2_oracle.py)
ESCROW_CLAIM_COST = (317_685, 69_435_280)

FUND_IN = fake_input("fund", 1)
FUND_OUT = TransactionOutput(key_address(OWNER), 50_000_000)


def escrow_datum(deadline_slot: int = DEADLINE_SLOT) -> EscrowDatum:
    return EscrowDatum(bytes(key_hash(OWNER)), posix_ms(deadline_slot))


def escrow_claim(
    *,
    lock_out: TransactionOutput | None = None,
    units: ExecutionUnits = PLENTY,
    signer: Any = OWNER,
    validity_start: int | None = DEADLINE_SLOT,
    **extra: Any,
) -> tuple[TxSpec, dict[TransactionInput, TransactionOutput]]:
    """A claim of 10 ADA locked at the escrow script (inline datum unless `lock_out` says)."""
    lock_in = fake_input("lock", 0)
    lock = lock_out or TransactionOutput(script_address(ESCROW), 10_000_000, datum=escrow_datum())
    spec = TxSpec(
        inputs=[lock_in, FUND_IN],
        outputs=[TransactionOutput(key_address(OWNER), 59_600_000)],
        redeemers=[(RedeemerTag.SPEND, 0, Claim(), units)],
        signers=[OWNER],
        required_signers=[key_hash(signer)],
        v3_scripts=[ESCROW],
        collateral=[FUND_IN],
        validity_start=validity_start,
        ttl=DEADLINE_SLOT + 100,
        **extra,
    )
    return spec, {lock_in: lock, FUND_IN: FUND_OUT}


def only(results: list[Any]) -> Any:
    assert len(results) == 1
    return results[0]


# ---------------------------------------------------------------------------------------------
# cost models and clock


def test_ledger_param_names_follow_the_devnet_arrays() -> None:
    # uplc's bundled named model has the same values, position by position, as our raw arrays:
    # its key order is the ledger order
    import json
    from pathlib import Path

    import uplc.cost_model

    merged_path = (
        Path(uplc.cost_model.__file__).parent / "cost_model_files/2024-07-30/cost-model-merged.json"
    )
    merged = json.loads(merged_path.read_text())
    for language, raw in COST_MODELS.items():
        names = ledger_param_names(language)
        assert len(names) == len(raw)
        assert [merged[language][n] for n in names] == raw
    assert ledger_param_names("PlutusV3")[-3:] == (
        "ripemd_160-cpu-arguments-intercept",
        "ripemd_160-cpu-arguments-slope",
        "ripemd_160-memory-arguments",
    )


@pytest.mark.parametrize("language", ["PlutusV2", "PlutusV3"])
def test_every_cost_parameter_reaches_the_machine(language: str) -> None:
    cek, builtins = build_cost_models(language, tuple(COST_MODELS[language]))
    coefficients: list[int] = []
    for model in (cek.cpu, cek.memory, builtins.cpu, builtins.memory):
        for fun in model.values():
            coefficients.extend(_ints(fun))
    # builtins the language lacks keep the prohibitive default; V3 has them all
    if language == "PlutusV3":
        assert DEFAULT_COST_COEFF not in coefficients


def _ints(fun: Any) -> list[int]:
    """The coefficients a costing function uses (its dataclass fields, recursively)."""
    out: list[int] = []
    for f in dataclasses.fields(fun):
        attr = getattr(fun, f.name)
        if isinstance(attr, int):
            out.append(attr)
        elif dataclasses.is_dataclass(attr):
            out.extend(_ints(attr))
    return out


def test_shorter_or_longer_arrays_are_accepted() -> None:
    spec, resolved = escrow_claim()
    longer = {"PlutusV3": [*COST_MODELS["PlutusV3"], 1, 2, 3]}
    assert only(evaluate(spec.build(), resolved, cost_models=longer)).ok
    shorter = {"PlutusV3": COST_MODELS["PlutusV3"][:200]}
    # the missing parameters (newer builtins) are not used by this script
    assert only(evaluate(spec.build(), resolved, cost_models=shorter)).ok


def test_slot_config_conversions_floor() -> None:
    config = SlotConfig(zero_time_ms=1_596_059_091_000, zero_slot=4_492_800, slot_length_ms=1000)
    assert config.slot_to_posix_ms(4_492_800) == 1_596_059_091_000
    assert config.slot_to_posix_ms(4_492_801) == 1_596_059_092_000
    assert config.posix_ms_to_slot(1_596_059_092_999) == 4_492_801
    assert config.posix_ms_to_slot(1_596_059_091_000) == 4_492_800


# ---------------------------------------------------------------------------------------------
# spending with the escrow validator


def test_claim_after_deadline_succeeds_with_exact_cost() -> None:
    spec, resolved = escrow_claim()
    result = only(evaluate(spec.build(), resolved))
    assert (result.tag, result.index, result.ok, result.error) == ("spend", 0, True, None)
    assert (result.mem, result.steps) == ESCROW_CLAIM_COST
    assert result.logs == []


def test_claim_before_deadline_fails_with_trace() -> None:
    spec, resolved = escrow_claim(validity_start=DEADLINE_SLOT - 1)
    result = only(evaluate(spec.build(), resolved))
    assert not result.ok
    assert result.logs == ["too early"]
    assert result.error == "Execution called Error"


def test_claim_without_validity_start_fails() -> None:
    spec, resolved = escrow_claim(validity_start=None)
    result = only(evaluate(spec.build(), resolved))
    assert (result.ok, result.logs) == (False, ["too early"])


def test_claim_signed_by_someone_else_fails() -> None:
    spec, resolved = escrow_claim(signer=OTHER)
    result = only(evaluate(spec.build(), resolved))
    assert (result.ok, result.logs) == (False, ["missing signature"])


def test_declared_budget_exactly_enough_succeeds() -> None:
    spec, resolved = escrow_claim(units=ExecutionUnits(*ESCROW_CLAIM_COST))
    assert only(evaluate(spec.build(), resolved)).ok


@pytest.mark.parametrize("short", [(1, 0), (0, 1)], ids=["mem", "steps"])
def test_under_declared_budget_fails(short: tuple[int, int]) -> None:
    mem, steps = ESCROW_CLAIM_COST[0] - short[0], ESCROW_CLAIM_COST[1] - short[1]
    spec, resolved = escrow_claim(units=ExecutionUnits(mem, steps))
    result = only(evaluate(spec.build(), resolved))
    assert not result.ok
    assert result.error == "the script exceeded its execution budget"


def test_tiny_budget_fails_cleanly() -> None:
    spec, resolved = escrow_claim(units=ExecutionUnits(10, 10))
    result = only(evaluate(spec.build(), resolved))
    assert (result.ok, result.error) == (False, "the script exceeded its execution budget")


def test_max_budget_replaces_declared_units() -> None:
    spec, resolved = escrow_claim(units=ExecutionUnits(0, 0))
    assert not only(evaluate(spec.build(), resolved)).ok
    result = only(evaluate(spec.build(), resolved, max_budget=MAX_BUDGET))
    assert result.ok
    assert (result.mem, result.steps) == ESCROW_CLAIM_COST


def test_hashed_datum_from_witness_set() -> None:
    datum = escrow_datum()
    lock = TransactionOutput(script_address(ESCROW), 10_000_000, datum_hash=datum_hash(datum))
    spec, resolved = escrow_claim(lock_out=lock, datums=[datum])
    result = only(evaluate(spec.build(), resolved))
    assert result.ok
    # the datum now also sits in txInfoData, so the context is bigger, the cost slightly higher
    assert result.mem > ESCROW_CLAIM_COST[0]


def test_witness_datums_given_by_the_ledger_as_cbor() -> None:
    datum = escrow_datum()
    lock = TransactionOutput(script_address(ESCROW), 10_000_000, datum_hash=datum_hash(datum))
    spec, resolved = escrow_claim(lock_out=lock, datums=[datum])
    tx = spec.build()
    from devnet.phase2 import evaluate_transaction

    given = {bytes(datum_hash(datum)): datum.to_cbor()}
    result = only(
        evaluate_transaction(
            tx,
            tx_id=tx.transaction_body.hash(),
            resolved=resolved,
            slot_config=SLOT_CONFIG,
            cost_models=COST_MODELS,
            protocol_major=10,
            witness_datums=given,
        )
    )
    computed_here = only(evaluate(tx, resolved))
    assert result.ok
    assert (result.mem, result.steps) == (computed_here.mem, computed_here.steps)


def test_missing_witness_datum_is_structural() -> None:
    datum = escrow_datum()
    lock = TransactionOutput(script_address(ESCROW), 10_000_000, datum_hash=datum_hash(datum))
    spec, resolved = escrow_claim(lock_out=lock)
    with pytest.raises(Phase2Error, match=r"datum [0-9a-f]{64} of input .* is missing"):
        evaluate(spec.build(), resolved)


def test_missing_script_is_structural() -> None:
    spec, resolved = escrow_claim()
    spec.v3_scripts = []
    with pytest.raises(Phase2Error, match="no Plutus script"):
        evaluate(spec.build(), resolved)


def test_reference_script_spend() -> None:
    ref_in = fake_input("reference-script", 0)
    ref_out = TransactionOutput(key_address(OTHER), 20_000_000, script=ESCROW)
    spec, resolved = escrow_claim(reference_inputs=[ref_in])
    spec.v3_scripts = []
    resolved[ref_in] = ref_out
    result = only(evaluate(spec.build(), resolved))
    assert result.ok
    # the escrow never looks at reference inputs: same cost as with the script in the witness set
    assert (result.mem, result.steps) == ESCROW_CLAIM_COST


# ---------------------------------------------------------------------------------------------
# validity interval at the boundaries (window validator: redeemer time must be in the range)


def window_spend(moment_ms: int, *, start: int | None, ttl: int | None) -> TxSpec:
    return TxSpec(
        inputs=[fake_input("window", 0), FUND_IN],
        outputs=[TransactionOutput(key_address(OWNER), 55_000_000)],
        redeemers=[(RedeemerTag.SPEND, 0, moment_ms, PLENTY)],
        signers=[OWNER],
        v3_scripts=[WINDOW],
        collateral=[FUND_IN],
        validity_start=start,
        ttl=ttl,
    )


WINDOW_RESOLVED = {
    # no datum at all: allowed for a Plutus V3 spend
    fake_input("window", 0): TransactionOutput(script_address(WINDOW), 5_000_000),
    FUND_IN: FUND_OUT,
}


@pytest.mark.parametrize(
    ("moment_ms", "expected"),
    [
        (posix_ms(100) - 1, False),  # before the (closed) lower bound
        (posix_ms(100), True),  # lower bound is inclusive
        (posix_ms(200) - 1, True),  # last millisecond before the upper bound
        (posix_ms(200), False),  # the upper bound (TTL) is strict
    ],
)
def test_validity_range_boundaries(moment_ms: int, expected: bool) -> None:
    tx = window_spend(moment_ms, start=100, ttl=200).build()
    result = only(evaluate(tx, WINDOW_RESOLVED))
    assert result.ok is expected
    assert result.logs == (["window check"] if expected else ["window check", "outside window"])


def test_upper_bound_was_closed_before_protocol_9() -> None:
    tx = window_spend(posix_ms(200), start=100, ttl=200).build()
    assert only(evaluate(tx, WINDOW_RESOLVED, protocol_major=8)).ok


@pytest.mark.parametrize(
    ("start", "ttl", "moment"),
    [(None, None, -(10**15)), (None, 200, -(10**15)), (100, None, 10**15)],
)
def test_infinite_bounds_contain_far_moments(
    start: int | None, ttl: int | None, moment: int
) -> None:
    tx = window_spend(moment, start=start, ttl=ttl).build()
    assert only(evaluate(tx, WINDOW_RESOLVED)).ok


# ---------------------------------------------------------------------------------------------
# minting


def mint_spec(minted: int, claimed: int) -> TxSpec:
    policy = bytes(script_hash(MINT_EXACT))
    return TxSpec(
        inputs=[FUND_IN],
        outputs=[
            TransactionOutput(key_address(OWNER), value(49_000_000, tokens(policy, T=minted)))
        ],
        redeemers=[(RedeemerTag.MINT, 0, claimed, PLENTY)],
        signers=[OWNER],
        v3_scripts=[MINT_EXACT],
        collateral=[FUND_IN],
        mint=tokens(policy, T=minted),
    )


def test_mint_with_matching_redeemer() -> None:
    result = only(evaluate(mint_spec(5, 5).build(), {FUND_IN: FUND_OUT}))
    assert (result.tag, result.index, result.ok) == ("mint", 0, True)


def test_mint_with_wrong_amount_fails() -> None:
    result = only(evaluate(mint_spec(5, 4).build(), {FUND_IN: FUND_OUT}))
    assert (result.ok, result.logs) == (False, ["wrong amount"])


def test_several_redeemers_are_reported_in_ledger_order() -> None:
    spec = mint_spec(3, 3)
    spec.inputs = [fake_input("window", 0), FUND_IN]
    spec.redeemers.append((RedeemerTag.SPEND, 0, posix_ms(150), PLENTY))
    spec.v3_scripts.append(WINDOW)
    spec.validity_start, spec.ttl = 100, 200
    results = evaluate(spec.build(), WINDOW_RESOLVED)
    assert [(r.tag, r.index, r.ok) for r in results] == [("spend", 0, True), ("mint", 0, True)]


# ---------------------------------------------------------------------------------------------
# Plutus V2


def v2_spend(datum: Any, redeemer: Any, *, inline: bool) -> tuple[Any, dict[Any, Any]]:
    lock_in = fake_input("v2-lock", 3)
    address = script_address(V2_EQUALS)
    if inline:
        lock = TransactionOutput(address, 7_000_000, datum=datum)
    else:
        lock = TransactionOutput(address, 7_000_000, datum_hash=datum_hash(datum))
    spend_index = sorted_inputs([FUND_IN, lock_in]).index(lock_in)
    spec = TxSpec(
        inputs=[FUND_IN, lock_in],
        outputs=[TransactionOutput(key_address(OWNER), 56_000_000)],
        redeemers=[(RedeemerTag.SPEND, spend_index, redeemer, PLENTY)],
        signers=[OWNER],
        v2_scripts=[V2_EQUALS],
        datums=[] if inline else [datum],
        collateral=[FUND_IN],
        validity_start=10,
        ttl=20,
    )
    return spec.build(), {FUND_IN: FUND_OUT, lock_in: lock}


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "hashed"])
def test_v2_spend_succeeds_when_datum_equals_redeemer(inline: bool) -> None:
    tx, resolved = v2_spend(42, 42, inline=inline)
    result = only(evaluate(tx, resolved))
    assert (result.tag, result.ok, result.logs) == ("spend", True, [])


def test_v2_spend_fails_with_trace() -> None:
    tx, resolved = v2_spend(42, 43, inline=True)
    result = only(evaluate(tx, resolved))
    assert (result.ok, result.logs) == (False, ["datum /= redeemer"])


def test_v2_spend_without_datum_is_structural() -> None:
    tx, resolved = v2_spend(42, 42, inline=True)
    lock_in = fake_input("v2-lock", 3)
    resolved[lock_in] = TransactionOutput(script_address(V2_EQUALS), 7_000_000)
    with pytest.raises(Phase2Error, match="needs a datum"):
        evaluate(tx, resolved)


def test_v2_script_ignores_its_result_value() -> None:
    # a V2 script that returns a non-unit value (the integer 7) still succeeds
    from pycardano import PlutusV2Script
    from uplc.tools import flatten, parse

    returns_seven = PlutusV2Script(
        flatten(parse("(program 1.0.0 (lam d (lam r (lam c (con integer 7)))))"))
    )
    tx, resolved = v2_spend(1, 1, inline=True)
    lock_in = fake_input("v2-lock", 3)
    resolved[lock_in] = TransactionOutput(script_address(returns_seven), 7_000_000, datum=1)
    tx.transaction_witness_set.plutus_v2_script = [returns_seven]
    assert only(evaluate(tx, resolved)).ok


def test_v3_script_must_return_unit() -> None:
    from pycardano import PlutusV3Script
    from uplc.tools import flatten, parse

    returns_seven = PlutusV3Script(flatten(parse("(program 1.1.0 (lam c (con integer 7)))")))
    tx = window_spend(0, start=None, ttl=None).build()
    resolved = dict(WINDOW_RESOLVED)
    resolved[fake_input("window", 0)] = TransactionOutput(script_address(returns_seven), 5_000_000)
    tx.transaction_witness_set.plutus_v3_script = [returns_seven]
    result = only(evaluate(tx, resolved))
    assert not result.ok
    assert result.error is not None and "non-unit" in result.error


# ---------------------------------------------------------------------------------------------
# the V3 context itself


def test_v3_context_translation() -> None:
    """Field by field: sorted inputs and signatories, interval closures, empty mint, plain
    tx id, only witness datums in txInfoData, redeemers keyed by purpose."""
    first_in, second_in = sorted(
        [fake_input("a"), fake_input("b")], key=lambda i: bytes(i.transaction_id), reverse=True
    )
    datum = escrow_datum()
    inline_out = TransactionOutput(script_address(ESCROW), 3_000_000, datum=Unit())
    hashed_out = TransactionOutput(script_address(ESCROW), 4_000_000, datum_hash=datum_hash(datum))
    resolved = {first_in: inline_out, second_in: hashed_out}
    signer_keys = sorted([key_hash(OWNER), key_hash(OTHER)], key=bytes, reverse=True)
    spec = TxSpec(
        inputs=[first_in, second_in],
        outputs=[TransactionOutput(key_address(OWNER), 6_000_000)],
        redeemers=[
            (RedeemerTag.SPEND, 1, Claim(), PLENTY),
            (RedeemerTag.SPEND, 0, Claim(), PLENTY),
        ],
        required_signers=signer_keys,  # deliberately not sorted
        datums=[datum],
        validity_start=100,
        ttl=200,
    )
    tx = spec.build()
    tx_id = tx.transaction_body.hash()
    ordered = sorted([first_in, second_in], key=lambda i: bytes(i.transaction_id))
    target = RedeemerTarget(
        tag="spend",
        index=0,
        script_hash=bytes(script_hash(ESCROW)),
        redeemer=PlutusConstr(0, []),
        declared_mem=0,
        declared_steps=0,
        spent_input=ordered[0],
        spent_output=resolved[ordered[0]],
    )
    from devnet.phase2 import _redeemer_entries, _target, _witness_datums

    targets = [_target(tx, resolved, e) for e in _redeemer_entries(tx)]
    datums = _witness_datums(tx, None)
    builder = TxContextBuilder(tx, tx_id, resolved, SLOT_CONFIG, 10, datums, targets)
    context = builder.context_v3(target, None)
    tx_info, redeemer, script_info = context.fields
    assert context.constructor == 0 and redeemer == PlutusConstr(0, [])
    fields = tx_info.fields
    assert len(fields) == 16
    inputs = fields[0].value
    assert [i.fields[0].fields[0].value for i in inputs] == [
        bytes(i.transaction_id) for i in ordered
    ]
    assert fields[1] == PlutusList([])  # no reference inputs
    assert fields[3] == PlutusInteger(spec.fee)
    assert fields[4] == PlutusMap({})  # no mint: empty map, no ADA entry
    assert fields[5] == PlutusList([]) and fields[6] == PlutusMap({})
    lower, upper = fields[7].fields
    assert lower == PlutusConstr(
        0, [PlutusConstr(1, [PlutusInteger(posix_ms(100))]), PlutusConstr(1, [])]
    )
    assert upper == PlutusConstr(
        0, [PlutusConstr(1, [PlutusInteger(posix_ms(200))]), PlutusConstr(0, [])]
    )
    assert [s.value for s in fields[8].value] == sorted(bytes(k) for k in signer_keys)
    purposes = list(fields[9].value)
    assert [p.fields[0].fields[0].value for p in purposes] == [
        bytes(i.transaction_id) for i in ordered
    ]
    assert list(fields[10].value) == [PlutusByteString(bytes(datum_hash(datum)))]
    assert fields[11] == PlutusByteString(tx_id)
    assert fields[12] == PlutusMap({}) and fields[13] == PlutusList([])
    assert fields[14] == PlutusConstr(1, []) and fields[15] == PlutusConstr(1, [])
    # Value: ADA entry first, inline datum as OutputDatum 2
    out = inputs[0].fields[1]
    assert next(iter(out.fields[1].value)) == PlutusByteString(b"")
    assert script_info == PlutusConstr(1, [inputs[0].fields[0], PlutusConstr(1, [])])


def test_deeply_nested_datum() -> None:
    # cbor2 (and so pycardano) refuses CBOR nested deeper than 400 levels; stay below that
    nested: Any = 0
    for _ in range(390):
        nested = [nested]
    datum = RawPlutusData(CBORTag(121, [nested]))
    lock = TransactionOutput(script_address(WINDOW), 5_000_000, datum=datum)
    resolved = dict(WINDOW_RESOLVED)
    resolved[fake_input("window", 0)] = lock
    tx = window_spend(posix_ms(150), start=100, ttl=200).build()
    assert only(evaluate(tx, resolved)).ok


# ---------------------------------------------------------------------------------------------
# speed


def test_simple_spend_is_fast() -> None:
    spec, resolved = escrow_claim()
    tx = spec.build()
    evaluate(tx, resolved)  # fills the caches
    timings = []
    for _ in range(7):
        started = time.perf_counter_ns()
        evaluate(tx, resolved)
        timings.append(time.perf_counter_ns() - started)
    assert statistics.median(timings) < 150_000_000


# ---------------------------------------------------------------------------------------------
# artifacts and deep programs


def test_v2_artifact_matches_its_source() -> None:
    from uplc.tools import flatten, parse

    source = (SCRIPTS_DIR / "src" / "v2_datum_equals_redeemer.uplc").read_text()
    assert bytes(V2_EQUALS) == flatten(parse(source))


def _deep_identity_program(depth: int) -> bytes:
    """(lam ctx [(lam x x) [(lam x x) ... (con unit ())]]) with `depth` nested applications,
    flattened on a thread with a large stack (uplc's encoder is recursive)."""
    from uplc.ast import Apply, BuiltinUnit, Lambda, Program, Variable
    from uplc.tools import flatten

    body: Any = BuiltinUnit()
    for _ in range(depth):
        body = Apply(Lambda("x", Variable("x")), body)
    program = Program((1, 1, 0), Lambda("ctx", body))
    out: list[bytes] = []
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, 100_000))
    previous_stack = threading.stack_size(256 * 1024 * 1024)
    try:
        worker = threading.Thread(target=lambda: out.append(flatten(program)))
        worker.start()
        worker.join()
    finally:
        threading.stack_size(previous_stack)
    return out[0]


def test_deep_program_evaluates() -> None:
    # far deeper than Python's default recursion limit allows uplc's decoder to go
    deep = PlutusV3Script(_deep_identity_program(5_000))
    tx = window_spend(0, start=None, ttl=None).build()
    resolved = dict(WINDOW_RESOLVED)
    resolved[fake_input("window", 0)] = TransactionOutput(script_address(deep), 5_000_000)
    tx.transaction_witness_set.plutus_v3_script = [deep]
    result = only(evaluate(tx, resolved))
    assert result.ok, result.error
    # startup + (lam ctx) + apply + 5000 * (apply, lam, const-or-var) steps
    assert result.steps > 5_000 * 16_000


def test_map_shaped_redeemers_give_the_same_result() -> None:
    from pycardano import RedeemerKey, RedeemerMap, RedeemerValue

    spec, resolved = escrow_claim()
    tx = spec.build()
    [listed] = tx.transaction_witness_set.redeemer
    tx.transaction_witness_set.redeemer = RedeemerMap(
        {RedeemerKey(listed.tag, listed.index): RedeemerValue(listed.data, listed.ex_units)}
    )
    result = only(evaluate(tx, resolved))
    assert (result.ok, result.mem, result.steps) == (True, *ESCROW_CLAIM_COST)


def test_plutus_v1_is_refused() -> None:
    from pycardano import PlutusV1Script

    v1 = PlutusV1Script(bytes(V2_EQUALS))
    tx, resolved = v2_spend(1, 1, inline=False)
    lock_in = fake_input("v2-lock", 3)
    resolved[lock_in] = TransactionOutput(script_address(v1), 7_000_000, datum_hash=datum_hash(1))
    tx.transaction_witness_set.plutus_v2_script = None
    tx.transaction_witness_set.plutus_v1_script = [v1]
    with pytest.raises(Phase2Error, match="PlutusV1 scripts are not supported"):
        evaluate(tx, resolved)
