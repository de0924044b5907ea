# Test validator (Plutus V3, any datum or none): the redeemer is a POSIX time (ms)
# that must lie inside the transaction's validity range.
# ruff: noqa: F403, F405  (OpShin needs star imports; the checks are the point)
from opshin.ledger.interval import *
from opshin.prelude import *


def validator(context: ScriptContext) -> None:
    moment: int = context.redeemer
    print("window check")
    assert contains(context.transaction.validity_range, make_range(moment, moment)), (
        "outside window"
    )
