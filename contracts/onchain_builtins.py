# The raw data builtins and two helpers shared by our on-chain sources (contracts/escrow.py,
# contracts/registry_policy.py), which pull them in with `from onchain_builtins import *`: OpShin
# inlines the module into each (see ADR 0006). Unused ones cost nothing: the optimiser drops them.
# This file is compiled by OpShin, not imported by Python code.
from opshin.bridge import wraps_builtin
from opshin.ledger.api_v3 import *


@wraps_builtin
def un_constr_data(x: Anything) -> Anything:
    pass


@wraps_builtin
def fst_pair(x: Anything) -> int:
    pass


@wraps_builtin
def snd_pair(x: Anything) -> Anything:
    pass


@wraps_builtin
def head_list(x: Anything) -> Anything:
    pass


@wraps_builtin
def tail_list(x: Anything) -> Anything:
    pass


@wraps_builtin
def null_list(x: Anything) -> bool:
    pass


@wraps_builtin
def mk_cons(x: Anything, y: Anything) -> Anything:
    pass


@wraps_builtin
def un_list_data(x: Anything) -> Anything:
    pass


@wraps_builtin
def un_map_data(x: Anything) -> Anything:
    pass


@wraps_builtin
def map_data(x: Anything) -> Anything:
    pass


@wraps_builtin
def un_i_data(x: Anything) -> int:
    pass


@wraps_builtin
def i_data(x: int) -> Anything:
    pass


@wraps_builtin
def un_b_data(x: Anything) -> bytes:
    pass


@wraps_builtin
def b_data(x: bytes) -> Anything:
    pass


@wraps_builtin
def list_data(x: Anything) -> Anything:
    pass


@wraps_builtin
def if_then_else(x: bool, y: int, z: int) -> Anything:
    pass


def key(pair: Anything) -> Anything:
    # the first component of a map entry is data; fst_pair is typed for constructor pairs
    k = fst_pair(pair)
    return if_then_else(True, k, k)


def fields(d: Anything) -> Anything:
    return snd_pair(un_constr_data(d))
