"""Our phase-2 evaluator against Aiken's (`phase2.mjs` of the shared tx-oracles).

For every transaction: same success/failure under the declared budgets, and the same ExUnits per
redeemer under the maximum budget. One transaction dumps the whole V3 ScriptContext in a trace
so that the two contexts can be compared as Data, field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
import pytest
from pycardano import (
    Address,
    ExecutionUnits,
    RedeemerTag,
    StakeCredential,
    StakeRegistration,
    StakeRegistrationConway,
    Transaction,
    TransactionInput,
    TransactionOutput,
    Withdrawals,
    datum_hash,
    script_hash,
)

from tests.devnet.oracles import phase2_job, run_phase2_oracle
from tests.devnet.phase2_helpers import (
    MAX_BUDGET,
    NETWORK,
    PARAMS_PATH,
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

OWNER = signing_key("oracle-owner")
OTHER = signing_key("oracle-other")
ESCROW = load_v3("escrow")
WINDOW = load_v3("window")
MINT_EXACT = load_v3("mint_exact")
DUMP = load_v3("dump_context")
V2_EQUALS = load_v2("v2_datum_equals_redeemer")
PLENTY = ExecutionUnits(3_000_000, 1_500_000_000)
DEADLINE = 5_000
CURRENT_SLOT = DEADLINE + 10
AIKEN_TAGS = {"Spend": "spend", "Mint": "mint", "Cert": "cert", "Reward": "reward"}


@dataclass
class Case:
    name: str
    tx: Transaction
    resolved: dict[TransactionInput, TransactionOutput]
    expect_ok: bool


@dataclass
class Builder:
    """Each case gets its own inputs, so all cases fit in one oracle job (one UTxO set)."""

    name: str
    inputs: dict[TransactionInput, TransactionOutput] = field(default_factory=dict)

    def add(self, label: str, out: TransactionOutput) -> TransactionInput:
        inp = fake_input(f"{self.name}/{label}", len(self.inputs))
        self.inputs[inp] = out
        return inp


def _escrow_datum(owner: Any = OWNER) -> EscrowDatum:
    return EscrowDatum(bytes(key_hash(owner)), posix_ms(DEADLINE))


def _fund(b: Builder) -> TransactionInput:
    return b.add("fund", TransactionOutput(key_address(OWNER), 80_000_000))


def escrow_case(
    name: str,
    expect_ok: bool,
    *,
    start: int = DEADLINE,
    signer: Any = OWNER,
    hashed: bool = False,
    by_reference: bool = False,
    units: ExecutionUnits = PLENTY,
) -> Case:
    b = Builder(name)
    datum = _escrow_datum()
    address = script_address(ESCROW)
    if hashed:
        lock = TransactionOutput(address, 10_000_000, datum_hash=datum_hash(datum))
    else:
        lock = TransactionOutput(address, 10_000_000, datum=datum)
    lock_in, fund_in = b.add("lock", lock), _fund(b)
    spec = TxSpec(
        inputs=[lock_in, fund_in],
        outputs=[TransactionOutput(key_address(OWNER), 89_000_000)],
        redeemers=[(RedeemerTag.SPEND, _index_of(lock_in, [lock_in, fund_in]), Claim(), units)],
        signers=[OWNER],
        required_signers=[key_hash(signer)],
        v3_scripts=[] if by_reference else [ESCROW],
        datums=[datum] if hashed else [],
        collateral=[fund_in],
        validity_start=start,
        ttl=start + 300,
    )
    if by_reference:
        ref_out = TransactionOutput(key_address(OTHER), 25_000_000, script=ESCROW)
        spec.reference_inputs = [b.add("ref", ref_out)]
    return Case(name, spec.build(), b.inputs, expect_ok)


def _index_of(inp: TransactionInput, inputs: list[TransactionInput]) -> int:
    return sorted(inputs, key=lambda i: (bytes(i.transaction_id), i.index)).index(inp)


def window_case(name: str, moment: int, expect_ok: bool, *, start: int, ttl: int) -> Case:
    b = Builder(name)
    lock_in = b.add("lock", TransactionOutput(script_address(WINDOW), 6_000_000))
    fund_in = _fund(b)
    spec = TxSpec(
        inputs=[lock_in, fund_in],
        outputs=[TransactionOutput(key_address(OWNER), 85_000_000)],
        redeemers=[(RedeemerTag.SPEND, _index_of(lock_in, [lock_in, fund_in]), moment, PLENTY)],
        signers=[OWNER],
        v3_scripts=[WINDOW],
        collateral=[fund_in],
        validity_start=start,
        ttl=ttl,
    )
    return Case(name, spec.build(), b.inputs, expect_ok)


def mint_case(name: str, minted: int, claimed: int) -> Case:
    b = Builder(name)
    fund_in = _fund(b)
    policy = bytes(script_hash(MINT_EXACT))
    spec = TxSpec(
        inputs=[fund_in],
        outputs=[
            TransactionOutput(key_address(OWNER), value(79_000_000, tokens(policy, T=minted)))
        ],
        redeemers=[(RedeemerTag.MINT, 0, claimed, PLENTY)],
        signers=[OWNER],
        v3_scripts=[MINT_EXACT],
        collateral=[fund_in],
        mint=tokens(policy, T=minted),
    )
    return Case(name, spec.build(), b.inputs, minted == claimed)


def v2_case(name: str, datum: int, redeemer: int, *, inline: bool) -> Case:
    b = Builder(name)
    address = script_address(V2_EQUALS)
    if inline:
        lock = TransactionOutput(address, 7_000_000, datum=datum)
    else:
        lock = TransactionOutput(address, 7_000_000, datum_hash=datum_hash(datum))
    lock_in, fund_in = b.add("lock", lock), _fund(b)
    policy = bytes(script_hash(MINT_EXACT))
    spec = TxSpec(
        inputs=[lock_in, fund_in],
        outputs=[TransactionOutput(key_address(OWNER), value(86_000_000, tokens(policy, T=2)))],
        redeemers=[
            (RedeemerTag.SPEND, _index_of(lock_in, [lock_in, fund_in]), redeemer, PLENTY),
            (RedeemerTag.MINT, 0, 2, PLENTY),  # a V3 policy in the same tx as a V2 spend
        ],
        signers=[OWNER],
        required_signers=[key_hash(OTHER), key_hash(OWNER)],
        v2_scripts=[V2_EQUALS],
        v3_scripts=[MINT_EXACT],
        datums=[] if inline else [datum],
        collateral=[fund_in],
        mint=tokens(policy, T=2),
        validity_start=100,
        ttl=DEADLINE + 1000,
    )
    return Case(name, spec.build(), b.inputs, datum == redeemer)


def rich_spend(script: Any, name: str) -> tuple[TxSpec, Builder]:
    """A transaction with a bit of everything a V3 context shows: several inputs (inline datum,
    hashed datum, none), a reference input with a reference script, multi-asset outputs whose
    asset names sort differently by length and by bytes, a mint, unsorted required signers,
    a key withdrawal, a certificate, and a finite validity range."""
    b = Builder(name)
    policy = bytes(script_hash(MINT_EXACT))
    hashed_datum = 1234
    lock_in = b.add(
        "lock", TransactionOutput(script_address(script), 9_000_000, datum=_escrow_datum())
    )
    hashed_in = b.add(
        "hashed",
        TransactionOutput(key_address(OTHER), 4_000_000, datum_hash=datum_hash(hashed_datum)),
    )
    fund_in = _fund(b)
    ref_in = b.add("ref", TransactionOutput(key_address(OTHER), 30_000_000, script=ESCROW))
    stake_key = key_hash(signing_key("oracle-stake"))
    reward_account = Address(staking_part=stake_key, network=NETWORK)
    minted = tokens(policy, T=3)
    spec = TxSpec(
        inputs=[fund_in, lock_in, hashed_in],
        outputs=[
            TransactionOutput(key_address(OWNER), value(20_000_000, tokens(policy, ZZ=1, AAA=2))),
            TransactionOutput(key_address(OTHER), value(60_000_000, minted), datum=42),
        ],
        redeemers=[
            (RedeemerTag.SPEND, _index_of(lock_in, [fund_in, lock_in, hashed_in]), Claim(), PLENTY),
            (RedeemerTag.MINT, 0, 3, PLENTY),
        ],
        signers=[OWNER, OTHER],
        required_signers=sorted([key_hash(OWNER), key_hash(OTHER)], key=bytes, reverse=True),
        v3_scripts=[script, MINT_EXACT],
        datums=[hashed_datum],
        reference_inputs=[ref_in],
        collateral=[fund_in],
        mint=minted,
        validity_start=DEADLINE,
        ttl=DEADLINE + 600,
    )
    spec.extra_body = {
        "withdraws": Withdrawals({bytes(reward_account): 0}),
        "certificates": [StakeRegistration(StakeCredential(stake_key))],
    }
    return spec, b


def staking_script_case(name: str, moment: int, expect_ok: bool) -> Case:
    """A withdrawal from, and a registration (with deposit) of, a script stake credential:
    the reward and cert purposes, both run by the window script."""
    b = Builder(name)
    fund_in = _fund(b)
    stake = script_hash(WINDOW)
    reward_account = Address(staking_part=stake, network=NETWORK)
    spec = TxSpec(
        inputs=[fund_in],
        outputs=[TransactionOutput(key_address(OWNER), 77_000_000)],
        redeemers=[
            (RedeemerTag.CERTIFICATE, 0, moment, PLENTY),
            (RedeemerTag.WITHDRAWAL, 0, moment, PLENTY),
        ],
        signers=[OWNER],
        v3_scripts=[WINDOW],
        collateral=[fund_in],
        validity_start=100,
        ttl=200,
    )
    spec.extra_body = {
        "withdraws": Withdrawals({bytes(reward_account): 0}),
        "certificates": [StakeRegistrationConway(StakeCredential(stake), 2_000_000)],
    }
    return Case(name, spec.build(), b.inputs, expect_ok)


def rich_case(name: str) -> Case:
    spec, b = rich_spend(ESCROW, name)
    return Case(name, spec.build(), b.inputs, True)


CASE_FACTORIES: list[Callable[[], Case]] = [
    lambda: escrow_case("escrow-claim", True),
    lambda: escrow_case("escrow-too-early", False, start=DEADLINE - 1),
    lambda: escrow_case("escrow-wrong-signer", False, signer=OTHER),
    lambda: escrow_case("escrow-hashed-datum", True, hashed=True),
    lambda: escrow_case("escrow-reference-script", True, by_reference=True),
    lambda: escrow_case("escrow-budget-short", False, units=ExecutionUnits(317_684, 69_435_280)),
    lambda: window_case("window-lower-inclusive", posix_ms(100), True, start=100, ttl=200),
    lambda: window_case("window-upper-strict", posix_ms(200), False, start=100, ttl=200),
    lambda: window_case("window-last-ms", posix_ms(200) - 1, True, start=100, ttl=200),
    lambda: mint_case("mint-exact", 5, 5),
    lambda: mint_case("mint-wrong", 5, 4),
    lambda: v2_case("v2-inline", 7, 7, inline=True),
    lambda: v2_case("v2-hashed", 7, 7, inline=False),
    lambda: v2_case("v2-mismatch", 7, 8, inline=True),
    lambda: staking_script_case("reward-and-cert", posix_ms(150), True),
    lambda: staking_script_case("reward-and-cert-fail", posix_ms(250), False),
    lambda: rich_case("rich-v3"),
]
CASES = [make() for make in CASE_FACTORIES]


@pytest.fixture(scope="module")
def phase2_aiken_results() -> dict[str, dict[str, Any]]:
    utxos: dict[TransactionInput, TransactionOutput] = {}
    for case in CASES:
        utxos.update(case.resolved)
    job = phase2_job(
        [(c.name, c.tx) for c in CASES], utxos, slot=CURRENT_SLOT, slot_config=SLOT_CONFIG
    )
    return {r["name"]: r for r in run_phase2_oracle(job, PARAMS_PATH)}


def _ours_computed(case: Case) -> dict[tuple[str, int], tuple[int, int]]:
    results = evaluate(case.tx, case.resolved, max_budget=MAX_BUDGET)
    return {(r.tag, r.index): (r.mem, r.steps) for r in results if r.ok}


def _aiken_computed(result: dict[str, Any]) -> dict[tuple[str, int], tuple[int, int]]:
    return {
        (AIKEN_TAGS[c["tag"]], int(c["index"])): (
            int(c["ex_units"]["mem"]),
            int(c["ex_units"]["steps"]),
        )
        for c in result.get("computed", [])
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_verdict_and_ex_units_as_aiken(
    case: Case, phase2_aiken_results: dict[str, dict[str, Any]]
) -> None:
    aiken = phase2_aiken_results[case.name]
    assert aiken.get("missing") == [], aiken
    ours = evaluate(case.tx, case.resolved)
    ours_ok = all(r.ok for r in ours)
    assert ours_ok is case.expect_ok, ours
    assert aiken["ok"] is case.expect_ok, aiken
    if "computed" in aiken:  # Aiken computes budgets only when every script succeeds
        assert _ours_computed(case) == _aiken_computed(aiken)


def test_the_case_set_covers_success_and_failure() -> None:
    verdicts = {c.expect_ok for c in CASES}
    assert verdicts == {True, False}
    assert len(CASES) >= 12


# ---------------------------------------------------------------------------------------------
# the V3 context, compared as Data


def _dumped_context(trace_hex: str) -> Any:
    # uplc serialises lists definite-length, Aiken indefinite: decoded, the two are equal
    return _ordered(cbor2.loads(bytes.fromhex(trace_hex)))


def _ordered(item: Any) -> Any:
    """Decoded CBOR with maps as lists of pairs, so that comparing also compares key order."""
    if isinstance(item, Mapping):
        return ["map", [[_ordered(k), _ordered(v)] for k, v in item.items()]]
    if isinstance(item, cbor2.CBORTag):
        return ["tag", item.tag, _ordered(item.value)]
    if isinstance(item, (list, tuple)):
        return [_ordered(x) for x in item]
    return item


def _aiken_trace(error: str) -> str:
    traces = [line.strip()[len("Trace ") :] for line in error.splitlines() if "Trace " in line]
    return traces[0]


def test_v3_context_equals_aikens() -> None:
    spec, b = rich_spend(DUMP, "dump-v3")
    tx = spec.build()
    [aiken] = run_phase2_oracle(
        phase2_job([("dump", tx)], b.inputs, slot=CURRENT_SLOT, slot_config=SLOT_CONFIG),
        PARAMS_PATH,
    )
    assert aiken["ok"] is False and "Trace dumped" in aiken["error"]
    ours = [r for r in evaluate(tx, b.inputs, max_budget=MAX_BUDGET) if r.tag == "spend"]
    assert ours[0].logs[1:] == ["dumped"]
    assert _dumped_context(ours[0].logs[0]) == _dumped_context(_aiken_trace(aiken["error"]))
