# Test minting policy (Plutus V3): the quantity minted of token "T" under this policy
# must equal the redeemer.
# ruff: noqa: F403, F405  (OpShin needs star imports; the checks are the point)
from opshin.prelude import *


def validator(context: ScriptContext) -> None:
    purpose: Minting = context.purpose
    wanted: int = context.redeemer
    minted = context.transaction.mint.get(purpose.policy_id, {b"": 0}).get(b"T", 0)
    assert minted == wanted, "wrong amount"
