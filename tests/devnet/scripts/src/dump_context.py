# Test validator (Plutus V3): traces the hex of the serialised ScriptContext, then fails.
# Used only to compare our context with the one Aiken's evaluator builds.
# ruff: noqa: F403, F405, B011  (OpShin needs star imports; the checks are the point)
from opshin.prelude import *
from opshin.std.builtins import *


def validator(context: ScriptContext) -> None:
    print(serialise_data(context).hex())
    assert False, "dumped"
