"""Costs of the escrow contract per action on realistic devnet transactions.

For the lock and each redeemer: mem, steps, script size, transaction size and minimum fee, with
the script in the witness set ("inline") and as a reference script ("ref"). The datum carries a
real-sized COSE signature and key; 10 USDM are locked. Protocol parameters:
config/devnet-protocol-params.json (= ../shared/reference/protocol-params.json).

    python bench/contract_costs.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycardano import Transaction, TransactionInput

from contracts.datums import Action
from devnet import phase1
from tests.contracts.harness import ADMINS, BUYER, SELLER, EscrowWorld

# The deployed Masumi V1 validator (Aiken), measured on the same actions (issue #4)
AIKEN_BAR = {
    "SubmitResult": (357_653, 137_570_905),
    "SetRefundRequested": (349_238, 135_205_669),
    "UnSetRefundRequested": (344_120, 133_314_250),
    "AuthorizeRefund": (350_033, 135_103_672),
    "WithdrawRefund": (154_094, 57_549_190),
    "Withdraw": (444_487, 159_583_878),
    "WithdrawDisputed": (213_139, 76_162_196),
}

Setup = Callable[[EscrowWorld], TransactionInput]
Run = Callable[[EscrowWorld, TransactionInput, dict[str, Any]], None]


def _disputed(w: EscrowWorld) -> TransactionInput:
    txin = w.submit_result(w.lock())
    return w.buyer_toggle(txin, Action.SET_REFUND_REQUESTED)


def _withdraw(w: EscrowWorld, txin: TransactionInput, kw: dict[str, Any]) -> None:
    w.advance_to(w.datum_at(txin).unlock_time)
    w.spend(txin, Action.WITHDRAW, SELLER, outputs=w.withdraw_outputs(txin), **kw)


def _withdraw_refund(w: EscrowWorld, txin: TransactionInput, kw: dict[str, Any]) -> None:
    w.advance_to(w.datum_at(txin).submit_result_time)
    w.spend(txin, Action.WITHDRAW_REFUND, BUYER, **kw)


def _withdraw_disputed(w: EscrowWorld, txin: TransactionInput, kw: dict[str, Any]) -> None:
    w.advance_to(w.datum_at(txin).external_dispute_unlock_time)
    w.spend(
        txin, Action.WITHDRAW_DISPUTED, ADMINS[0], required_signers=[ADMINS[0], ADMINS[1]], **kw
    )


CASES: dict[str, tuple[Setup, Run]] = {
    "SubmitResult": (lambda w: w.lock(), lambda w, t, kw: w.submit_result(t, **kw) and None),
    "SetRefundRequested": (
        lambda w: w.submit_result(w.lock()),
        lambda w, t, kw: w.buyer_toggle(t, Action.SET_REFUND_REQUESTED, **kw) and None,
    ),
    "UnSetRefundRequested": (
        _disputed,
        lambda w, t, kw: w.buyer_toggle(t, Action.UNSET_REFUND_REQUESTED, **kw) and None,
    ),
    "AuthorizeRefund": (_disputed, lambda w, t, kw: w.authorize_refund(t, **kw) and None),
    "WithdrawRefund": (lambda w: w.lock(), _withdraw_refund),
    "Withdraw": (lambda w: w.submit_result(w.lock()), _withdraw),
    "WithdrawDisputed": (_disputed, _withdraw_disputed),
}


def _fee(world: EscrowWorld, tx: Transaction, ref_bytes: int) -> tuple[int, int]:
    cbor = bytes(tx.to_cbor())
    return len(cbor), phase1.min_fee(
        phase1.decode_transaction(cbor), ref_bytes, world.ledger.params
    )


def measure() -> dict[str, dict[str, int]]:
    results: dict[str, dict[str, int]] = {}
    script_bytes = len(EscrowWorld().script.cbor)
    for name, (setup, run) in CASES.items():
        row: dict[str, int] = {"script_bytes": script_bytes}
        for variant in ("inline", "ref"):
            w = EscrowWorld()
            ref = w.deploy_reference_script() if variant == "ref" else None
            txin = setup(w)
            run(w, txin, {"ex_units": None, "submit": False, "reference_script": ref})
            tx = w.last_spend.tx
            (ev,) = [r for r in w.ledger.evaluate(bytes(tx.to_cbor())) if r.tag == "spend"]
            assert ev.ok, (name, ev.error)
            row["mem"], row["steps"] = ev.mem, ev.steps
            size, fee = _fee(w, tx, script_bytes if ref else 0)
            row[f"tx_bytes_{variant}"], row[f"fee_{variant}"] = size, fee
        results[name] = row
    results = {"lock": _lock_row(script_bytes), **results}
    return results


def _lock_row(script_bytes: int) -> dict[str, int]:
    from pycardano import TransactionBuilder, TransactionOutput

    w = EscrowWorld()
    builder = TransactionBuilder(w.context)
    builder.add_input_address(BUYER.address)
    builder.add_output(
        TransactionOutput(w.address, w.value(4_000_000, 10_000_000), datum=w.datum())
    )
    tx = builder.build_and_sign([BUYER.signing_key], change_address=BUYER.address)
    size, fee = _fee(w, tx, 0)
    return {
        "mem": 0,
        "steps": 0,
        "script_bytes": script_bytes,
        "tx_bytes_inline": size,
        "fee_inline": fee,
        "tx_bytes_ref": size,
        "fee_ref": fee,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure()
    if args.json:
        print(json.dumps(results, sort_keys=True))
        return 0
    header = (
        f"{'action':<22}{'mem':>10}{'steps':>14}{'script B':>10}{'tx B inl':>10}"
        f"{'fee inl':>10}{'tx B ref':>10}{'fee ref':>10}  {'Aiken mem':>10}{'Aiken steps':>13}"
    )
    print(header)
    for name, r in results.items():
        bar = AIKEN_BAR.get(name)
        aiken = f"{bar[0]:>10,}{bar[1]:>13,}" if bar else ""
        print(
            f"{name:<22}{r['mem']:>10,}{r['steps']:>14,}{r['script_bytes']:>10,}"
            f"{r['tx_bytes_inline']:>10,}{r['fee_inline']:>10,}{r['tx_bytes_ref']:>10,}"
            f"{r['fee_ref']:>10,}  {aiken}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
