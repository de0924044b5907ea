"""Phase-2 validation: run every Plutus redeemer of a transaction on the `uplc` CEK machine.

The ledger (phase 1) resolves inputs and computes the tx id and witness-datum hashes over the
original bytes; this module builds the script context (`devnet.script_context`), finds each
script (witness set or reference script), and evaluates it under the declared ExUnits (or a
given maximum) with the cost model passed explicitly as the ledger-ordered array.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import frozendict
import uplc.cost_model as uplc_cost
from pycardano.hash import ScriptHash
from pycardano.plutus import (
    PlutusV1Script,
    PlutusV2Script,
    PlutusV3Script,
    Redeemer,
    RedeemerMap,
    datum_hash,
    script_hash,
)
from pycardano.transaction import Transaction, TransactionInput, TransactionOutput
from uplc.ast import BuiltinUnit, Compute, Done, NoFrame, Program
from uplc.cost_model import CekOp
from uplc.machine import (
    AST_TO_CEK_OP_MAP,
    ComputationResult,
    Machine,
    budget_cost_of_op_on_model,
)
from uplc.tools import apply, unflatten
from uplc.transformer.unique_variables import UniqueVariableTransformer

from devnet.plutus_data import PlutusData, data_from_cbor_bytes, data_from_pycardano
from devnet.script_context import (
    REDEEMER_TAGS,
    Phase2Error,
    RedeemerTarget,
    SlotConfig,
    TxContextBuilder,
    sorted_inputs,
    sorted_policies,
    sorted_withdrawals,
)

__all__ = [
    "Phase2Error",
    "RedeemerEval",
    "SlotConfig",
    "evaluate_transaction",
    "ledger_param_names",
]

LANGUAGES: dict[type, str] = {
    PlutusV1Script: "PlutusV1",
    PlutusV2Script: "PlutusV2",
    PlutusV3Script: "PlutusV3",
}
MAX_ERROR_CHARS = 600
# deep scripts and data recurse in uplc's (recursive) decoder and AST visitors
RECURSION_LIMIT = 100_000
WORKER_STACK_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class RedeemerEval:
    tag: str  # "spend" | "mint" | "cert" | "reward" | "vote" | "propose"
    index: int
    ok: bool
    mem: int  # consumed
    steps: int  # consumed
    logs: list[str]
    error: str | None


# ---------------------------------------------------------------------------------------------
# cost models


@lru_cache(maxsize=1)
def _merged_cost_model_file() -> dict[str, dict[str, int]]:
    path = (
        Path(uplc_cost.__file__).parent
        / "cost_model_files"
        / "2024-07-30"
        / "cost-model-merged.json"
    )
    loaded: dict[str, dict[str, int]] = json.loads(path.read_text())
    return loaded


def ledger_param_names(language: str) -> tuple[str, ...]:
    """Cost-model parameter names in ledger order (the order of the on-chain arrays).

    uplc's bundled merged file lists them in that order; tests check its values against the
    devnet's raw arrays position by position."""
    return tuple(_merged_cost_model_file()[language])


def _fix_literal_in_y_or_linear_in_z(builtin_model: Any, named: Mapping[str, int]) -> None:
    # uplc 1.3.3's LiteralInYOrLinearInZ.update_from_network_config sets the wrong attributes,
    # so integerToByteString's memory intercept/slope would keep the base file's values
    for builtin, fun in builtin_model.memory.items():
        if isinstance(fun, uplc_cost.LiteralInYOrLinearInZ):
            prefix = builtin.name[:1].lower() + builtin.name[1:] + "-memory-arguments"
            fun.intercept = named.get(f"{prefix}-intercept", uplc_cost.DEFAULT_COST_COEFF)
            fun.slope = named.get(f"{prefix}-slope", uplc_cost.DEFAULT_COST_COEFF)


@lru_cache(maxsize=16)
def _cost_models(language: str, raw: tuple[int, ...]) -> tuple[Any, Any]:
    """(CEK machine model, builtin model) from a raw ledger-ordered array of any length.

    Extra trailing values (parameters of builtins uplc does not know) are ignored; missing ones
    get uplc's prohibitive default, as the ledger makes missing parameters unusable."""
    named = dict(zip(ledger_param_names(language), raw, strict=False))
    cek = uplc_cost.updated_cek_machine_cost_model_from_network_config(
        uplc_cost.default_cek_machine_cost_model_base(), named
    )
    builtins = uplc_cost.updated_builtin_cost_model_from_network_config(
        uplc_cost.default_builtin_cost_model_base(), named
    )
    _fix_literal_in_y_or_linear_in_z(builtins, named)
    return cek, builtins


# ---------------------------------------------------------------------------------------------
# scripts


@dataclass(frozen=True)
class _Script:
    language: str
    raw: bytes  # CBOR-wrapped flat, as in the witness set


_PROGRAMS: dict[bytes, Program] = {}
_PROGRAMS_LOCK = threading.Lock()
_MAX_CACHED_PROGRAMS = 256


def _program(hash_: bytes, script: _Script) -> Program:
    with _PROGRAMS_LOCK:
        cached = _PROGRAMS.get(hash_)
    if cached is not None:
        return cached
    try:
        # renamed once here so that each run can skip uplc's renaming pass
        program = UniqueVariableTransformer().visit(unflatten(script.raw))
    except Exception as exc:  # a decoding or scoping failure means a malformed script
        raise Phase2Error(f"script {hash_.hex()} does not decode: {exc}") from exc
    with _PROGRAMS_LOCK:
        if len(_PROGRAMS) >= _MAX_CACHED_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[hash_] = program
    return program


def _plutus_script(script: Any) -> _Script | None:
    language = LANGUAGES.get(type(script))
    return None if language is None else _Script(language, bytes(script))


def _available_scripts(
    tx: Transaction, resolved: Mapping[TransactionInput, TransactionOutput]
) -> dict[bytes, _Script]:
    """Plutus scripts by hash: from the witness set, then reference scripts of (ref.) inputs."""
    witness = tx.transaction_witness_set
    found: dict[bytes, _Script] = {}
    for scripts in (witness.plutus_v1_script, witness.plutus_v2_script, witness.plutus_v3_script):
        for script in scripts or ():
            _add_script(found, script)
    body = tx.transaction_body
    for inp in [*(body.inputs or ()), *(body.reference_inputs or ())]:
        out = resolved.get(inp)
        if out is not None and out.script is not None:
            _add_script(found, out.script)
    return found


def _add_script(found: dict[bytes, _Script], script: Any) -> None:
    plutus = _plutus_script(script)
    if plutus is not None:
        found.setdefault(bytes(script_hash(script)), plutus)


# ---------------------------------------------------------------------------------------------
# redeemers -> targets


def _redeemer_entries(tx: Transaction) -> list[tuple[str, int, Any, int, int]]:
    """(tag, index, data, declared mem, declared steps) from list- or map-shaped redeemers."""
    redeemers = tx.transaction_witness_set.redeemer
    entries = []
    if isinstance(redeemers, RedeemerMap):
        for key, val in redeemers.items():
            units = val.ex_units
            entries.append(
                (REDEEMER_TAGS[key.tag.value], key.index, val.data, units.mem, units.steps)
            )
    else:
        for r in redeemers or ():
            assert isinstance(r, Redeemer)
            mem, steps = (r.ex_units.mem, r.ex_units.steps) if r.ex_units else (0, 0)
            entries.append((REDEEMER_TAGS[r.tag.value], r.index, r.data, mem, steps))
    return sorted(entries, key=lambda e: (REDEEMER_TAGS.index(e[0]), e[1]))


def _ref(inp: TransactionInput) -> str:
    return f"{bytes(inp.transaction_id).hex()}#{inp.index}"


def _pick(items: Sequence[Any], index: int, what: str) -> Any:
    if not 0 <= index < len(items):
        raise Phase2Error(f"redeemer {what}:{index} points at nothing ({len(items)} {what} items)")
    return items[index]


def _script_hash_of(part: Any, what: str) -> bytes:
    if not isinstance(part, ScriptHash):
        raise Phase2Error(f"{what} is not locked by a script")
    return bytes(part)


def _target(
    tx: Transaction,
    resolved: Mapping[TransactionInput, TransactionOutput],
    entry: tuple[str, int, Any, int, int],
) -> RedeemerTarget:
    tag, index, data, mem, steps = entry
    common: dict[str, Any] = {
        "tag": tag,
        "index": index,
        "redeemer": data_from_pycardano(data),
        "declared_mem": mem,
        "declared_steps": steps,
    }
    body = tx.transaction_body
    if tag == "spend":
        inp = _pick(sorted_inputs(body.inputs), index, "spend")
        out = resolved.get(inp)
        if out is None:
            raise Phase2Error(f"spent input {_ref(inp)} is not resolved")
        hash_ = _script_hash_of(out.address.payment_part, f"input {_ref(inp)}")
        return RedeemerTarget(script_hash=hash_, spent_input=inp, spent_output=out, **common)
    if tag == "mint":
        policy = bytes(_pick(sorted_policies(body.mint), index, "mint"))
        return RedeemerTarget(script_hash=policy, policy=policy, **common)
    if tag == "reward":
        cred, _ = _pick(sorted_withdrawals(tx), index, "reward")
        hash_ = _script_hash_of(cred, f"reward account {index}")
        return RedeemerTarget(script_hash=hash_, stake_credential=cred, **common)
    if tag == "cert":
        cert = _pick(list(body.certificates or ()), index, "cert")
        stake = getattr(cert, "stake_credential", None)
        hash_ = _script_hash_of(getattr(stake, "credential", None), f"certificate {index}")
        return RedeemerTarget(script_hash=hash_, certificate=cert, **common)
    raise Phase2Error(f"{tag} redeemers are not supported by the devnet")


# ---------------------------------------------------------------------------------------------
# datums


def _witness_datums(tx: Transaction, given: Mapping[bytes, Any] | None) -> dict[bytes, PlutusData]:
    if given is not None:
        return {bytes(h): _datum_data(d) for h, d in given.items()}
    datums = tx.transaction_witness_set.plutus_data or ()
    return {bytes(datum_hash(d)): data_from_pycardano(d) for d in datums}


def _datum_data(datum: Any) -> PlutusData:
    # here bare bytes are the datum's CBOR (as the ledger hands them over), not a byte string
    if isinstance(datum, (bytes, bytearray)):
        return data_from_cbor_bytes(bytes(datum))
    return data_from_pycardano(datum)


def _spent_ref(target: RedeemerTarget) -> str:
    return "?" if target.spent_input is None else _ref(target.spent_input)


def _spent_datum(
    target: RedeemerTarget, witness_datums: Mapping[bytes, PlutusData]
) -> PlutusData | None:
    out = target.spent_output
    if out is None:
        return None
    if out.datum is not None:
        return data_from_pycardano(out.datum)
    if out.datum_hash is not None:
        try:
            return witness_datums[bytes(out.datum_hash)]
        except KeyError:
            raise Phase2Error(
                f"datum {bytes(out.datum_hash).hex()} of input {_spent_ref(target)} is missing"
            ) from None
    return None


# ---------------------------------------------------------------------------------------------
# running the machine


def _script_arguments(
    script: _Script,
    target: RedeemerTarget,
    builder: TxContextBuilder,
    witness_datums: Mapping[bytes, PlutusData],
) -> list[PlutusData]:
    datum = _spent_datum(target, witness_datums)
    if script.language == "PlutusV3":
        return [builder.context_v3(target, datum)]
    if script.language == "PlutusV2":
        context = builder.context_v2(target)
    else:
        raise Phase2Error(f"{script.language} scripts are not supported by the devnet")
    if target.tag != "spend":
        return [target.redeemer, context]
    if datum is None:
        raise Phase2Error(f"{script.language} spend of {_spent_ref(target)} needs a datum")
    return [datum, target.redeemer, context]


_OPS_BY_TYPE: dict[type, Any] = {}


def _cek_op(term_type: type) -> Any:
    """The CEK step kind of a term type, by uplc's own rule (first matching isinstance)."""
    op = _OPS_BY_TYPE.get(term_type)
    if op is None:
        op = next(o for t, o in AST_TO_CEK_OP_MAP.items() if issubclass(term_type, t))
        _OPS_BY_TYPE[term_type] = op
    return op


class _CheaperStepMachine(Machine):  # type: ignore[misc]  # uplc is untyped
    """uplc's CEK machine with cheaper step accounting.

    uplc charges machine steps in batches of `slippage`, recomputing each step's cost from the
    model every time (about half of all evaluation time). Here each step kind's cost is looked
    up once and the pending cost kept as two ints; batches and the final flush are the same, so
    the consumed budget is identical."""

    def __init__(self, budget: Any, cek_model: Any, builtin_model: Any) -> None:
        super().__init__(budget, cek_model, builtin_model)
        self._step_costs = {
            op: budget_cost_of_op_on_model(cek_model, op, 0) for op in AST_TO_CEK_OP_MAP.values()
        }
        self._pending_cpu = 0
        self._pending_mem = 0
        self._pending_steps = 0

    def eval(self, program: Program) -> ComputationResult:
        """Run a program whose variables are already unique (see `_program`).

        uplc's own `eval` renames every variable of the whole script on each run (a third of
        the time); our cached programs were renamed once, and the arguments are constants."""
        self.remaining_budget = copy.copy(self.budget)
        self.logs: list[str] = []
        state: Any = Compute(NoFrame(), frozendict.frozendict(), program.term)
        try:
            self.spend_budget(
                budget_cost_of_op_on_model(self.cek_machine_cost_model, CekOp.Startup, 0)
            )
            while not isinstance(state, Done):
                if isinstance(state, Compute):
                    state = self.compute(state.term, state.ctx, state.env)
                else:
                    state = self.return_compute(state.context, state.value)
            self.spend_unbudgeted_steps()
            outcome: Any = state.term
        except Exception as exc:  # a failing script: error term, builtin failure, budget
            outcome = exc
        return ComputationResult(outcome, self.logs, self.budget - self.remaining_budget)

    def step_and_maybe_spend(self, term: Any) -> None:
        cost = self._step_costs[_cek_op(type(term))]
        self._pending_cpu += cost.cpu
        self._pending_mem += cost.memory
        self._pending_steps += 1
        if self._pending_steps >= self.slippage:
            self.spend_unbudgeted_steps()

    def spend_unbudgeted_steps(self) -> None:
        pending = uplc_cost.Budget(cpu=self._pending_cpu, memory=self._pending_mem)
        self._pending_cpu = self._pending_mem = self._pending_steps = 0
        self.spend_budget(pending)


def _run(
    program: Program,
    arguments: list[PlutusData],
    budget: tuple[int, int],
    models: tuple[Any, Any],
) -> tuple[Any, list[str], int, int]:
    """(result or exception, logs, consumed mem, consumed steps)."""
    mem, steps = budget
    machine = _CheaperStepMachine(uplc_cost.Budget(cpu=steps, memory=mem), *models)
    result = machine.eval(apply(program, *arguments))
    return result.result, list(result.logs), result.cost.memory, result.cost.cpu


def _failure_reason(language: str, result: Any) -> str | None:
    if isinstance(result, Exception):
        text = str(result) or type(result).__name__
        if text == "Exhausted budget":
            text = "the script exceeded its execution budget"
        return text[:MAX_ERROR_CHARS]
    # V3 succeeds only on unit; V1/V2 results are ignored when there is no error
    if language == "PlutusV3" and not isinstance(result, BuiltinUnit):
        return f"Plutus V3 script returned a non-unit value: {str(result)[:MAX_ERROR_CHARS]}"
    return None


def _evaluate_target(
    target: RedeemerTarget,
    scripts: Mapping[bytes, _Script],
    builder: TxContextBuilder,
    witness_datums: Mapping[bytes, PlutusData],
    cost_models: Mapping[str, Sequence[int]],
    max_budget: tuple[int, int] | None,
) -> RedeemerEval:
    script = scripts.get(target.script_hash)
    if script is None:
        raise Phase2Error(
            f"no Plutus script {target.script_hash.hex()} for {target.tag}:{target.index}"
        )
    if script.language not in cost_models:
        raise Phase2Error(f"no cost model for {script.language}")
    arguments = _script_arguments(script, target, builder, witness_datums)
    models = _cost_models(script.language, tuple(cost_models[script.language]))
    budget = max_budget or (target.declared_mem, target.declared_steps)
    program = _program(target.script_hash, script)
    result, logs, mem, steps = _run(program, arguments, budget, models)
    error = _failure_reason(script.language, result)
    return RedeemerEval(target.tag, target.index, error is None, mem, steps, logs, error)


def _evaluate(
    tx: Transaction,
    tx_id: bytes,
    resolved: Mapping[TransactionInput, TransactionOutput],
    slot_config: SlotConfig,
    cost_models: Mapping[str, Sequence[int]],
    protocol_major: int,
    witness_datums: Mapping[bytes, Any] | None,
    max_budget: tuple[int, int] | None,
) -> list[RedeemerEval]:
    targets = [_target(tx, resolved, e) for e in _redeemer_entries(tx)]
    if not targets:
        return []
    scripts = _available_scripts(tx, resolved)
    datums = _witness_datums(tx, witness_datums)
    builder = TxContextBuilder(
        tx, bytes(tx_id), resolved, slot_config, protocol_major, datums, targets
    )
    return [_evaluate_target(t, scripts, builder, datums, cost_models, max_budget) for t in targets]


# ---------------------------------------------------------------------------------------------
# a worker thread with a large C stack, so deep programs do not overflow it

_T = TypeVar("_T")
_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _big_stack_worker() -> ThreadPoolExecutor:
    global _worker
    with _worker_lock:
        if _worker is None:
            sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
            previous = threading.stack_size(WORKER_STACK_BYTES)
            try:
                _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phase2")
                _worker.submit(lambda: None).result()  # starts the thread with that stack
            finally:
                threading.stack_size(previous)
        return _worker


def _on_big_stack(work: Callable[[], _T]) -> _T:
    if threading.current_thread().name.startswith("phase2"):
        return work()
    return _big_stack_worker().submit(work).result()


# ---------------------------------------------------------------------------------------------
# public entry point


def evaluate_transaction(
    tx: Transaction,
    *,
    tx_id: bytes,
    resolved: Mapping[TransactionInput, TransactionOutput],
    slot_config: SlotConfig,
    cost_models: Mapping[str, Sequence[int]],
    protocol_major: int,
    witness_datums: Mapping[bytes, Any] | None = None,
    max_budget: tuple[int, int] | None = None,
) -> list[RedeemerEval]:
    """Evaluate every redeemer of `tx`; results are ordered by (tag, index).

    `tx_id` and the witness-datum hashes must come from the original bytes (pycardano
    re-encodes). With `max_budget` each redeemer runs under that budget instead of its declared
    ExUnits (used to compute costs). Raises Phase2Error on structural problems; a script that
    fails gives `ok=False` with its error and traces."""
    return _on_big_stack(
        lambda: _evaluate(
            tx,
            tx_id,
            resolved,
            slot_config,
            cost_models,
            protocol_major,
            witness_datums,
            max_budget,
        )
    )
