"""The registry minting policy (masumi-protocol.md §5.1) on the devnet: one-shot asset names,
double mint rejected, burn by the holder."""

from __future__ import annotations

import pytest
from pycardano import (
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    Network,
    Redeemer,
    ScriptHash,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    Value,
)

from contracts.datums import BurnAction, MintAction
from contracts.params import AppliedScript, registry_policy
from devnet.errors import LedgerRejection
from tests.contracts.harness import ADA, SELLER, STRANGER, EscrowWorld, blake2b_256

PLENTY = ExecutionUnits(2_000_000, 1_000_000_000)


@pytest.fixture(scope="module")
def policy() -> AppliedScript:
    world = EscrowWorld()
    return registry_policy(str(world.script.address(Network.TESTNET)))


def asset_name_for(txin: TransactionInput) -> bytes:
    return blake2b_256(bytes(txin.transaction_id.payload) + int(txin.index).to_bytes(4, "big"))


def mint(
    world: EscrowWorld,
    policy: AppliedScript,
    name: bytes,
    quantity: int,
    redeemer: object,
    holder=SELLER,
    seed: TransactionInput | None = None,
) -> TransactionInput:  # type: ignore[no-untyped-def]
    builder = TransactionBuilder(world.context)
    if seed is not None:
        builder.add_input(world.utxo(seed))
    builder.add_input_address(holder.address)
    assets = MultiAsset({ScriptHash(policy.hash): Asset({AssetName(name): quantity})})
    builder.mint = assets
    builder.add_minting_script(policy.plutus_script, Redeemer(redeemer, PLENTY))
    if quantity > 0:
        builder.add_output(TransactionOutput(holder.address, Value(5 * ADA, assets)))
    tx = builder.build_and_sign([holder.signing_key], change_address=holder.address)
    world.ledger.submit(tx.to_cbor())
    return TransactionInput(tx.id, 0)


def seed_utxo(world: EscrowWorld) -> TransactionInput:
    utxos = world.context.utxos(SELLER.address)
    return max(utxos, key=lambda u: u.output.amount.coin).input


def test_policy_id_depends_on_the_escrow_address(policy: AppliedScript) -> None:
    assert registry_policy("addr_test1wz" + "q" * 51).hash != policy.hash


def test_mint_with_a_one_shot_name_then_burn(policy: AppliedScript) -> None:
    world = EscrowWorld()
    seed = seed_utxo(world)
    name = asset_name_for(seed)
    mint(world, policy, name, 1, MintAction(), seed=seed)
    mint(world, policy, name, -1, BurnAction())


def test_name_not_derived_from_an_input_is_rejected(policy: AppliedScript) -> None:
    world = EscrowWorld()
    with pytest.raises(LedgerRejection) as info:
        mint(world, policy, blake2b_256(b"free choice"), 1, MintAction())
    assert info.value.rule == "phase2"


def test_double_mint_is_rejected(policy: AppliedScript) -> None:
    world = EscrowWorld()
    seed = seed_utxo(world)
    name = asset_name_for(seed)
    with pytest.raises(LedgerRejection):
        mint(world, policy, name, 2, MintAction(), seed=seed)
    mint(world, policy, name, 1, MintAction(), seed=seed)
    # the seed is spent: without it the same name cannot be minted again
    with pytest.raises(LedgerRejection) as info:
        mint(world, policy, name, 1, MintAction())
    assert info.value.rule == "phase2"


def test_burn_by_the_holder_only_burns_one(policy: AppliedScript) -> None:
    world = EscrowWorld()
    seed = seed_utxo(world)
    name = asset_name_for(seed)
    mint(world, policy, name, 1, MintAction(), seed=seed)
    with pytest.raises(LedgerRejection):
        mint(world, policy, name, -1, MintAction())  # wrong redeemer
    with pytest.raises(LedgerRejection):
        mint(world, policy, name, 1, BurnAction(), holder=STRANGER)  # burn redeemer cannot mint
    mint(world, policy, name, -1, BurnAction())
