# Test validator (Plutus V3): the owner may claim after the deadline.
# ruff: noqa: F403, F405, F841  (OpShin needs star imports; the checks are the point)
from opshin.ledger.interval import *
from opshin.prelude import *


@dataclass()
class EscrowDatum(PlutusData):
    CONSTR_ID = 0
    owner: bytes
    deadline: int


@dataclass()
class Claim(PlutusData):
    CONSTR_ID = 0


def validator(context: ScriptContext) -> None:
    datum: EscrowDatum = own_datum_unsafe(context)
    redeemer: Claim = context.redeemer
    tx_info = context.transaction
    assert datum.owner in tx_info.signatories, "missing signature"
    assert contains(make_from(datum.deadline), tx_info.validity_range), "too early"
