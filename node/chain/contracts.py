"""Which escrow contract and registry policy a network profile means, and reference-script outputs.

- `chain`: the deployed Masumi V1 escrow (preprod, mainnet): the applied script is fetched once
  by its hash from the chain and cached; we never ship their compiled code.
- `contracts`: our validator from contracts/, applied with the profile's parameters.
- `file`: an operator's own compatible validator, as a CBOR hex file.

The registry policy is ours applied to our escrow's address when the profile's policy id is that,
else the deployed policy loaded by its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pycardano import (
    Address,
    Network,
    PlutusV3Script,
    TransactionBuilder,
    TransactionOutput,
    UTxO,
    plutus_script_hash,
)

from contracts.params import EscrowParams, escrow_script, registry_policy
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import Actor, BuiltTx, EscrowContract
from node.chain.context import PortChainContext
from node.config import EscrowProfile, NetworkProfile

REFERENCE_SCRIPT_LOVELACE = 40_000_000  # a reference output's min-ADA grows with the script


class ContractError(Exception):
    """The profile does not describe a usable escrow contract."""


def escrow_contract(
    profile: NetworkProfile, chain: BlockfrostChain, *, reference_holder: str | None = None
) -> EscrowContract:
    """The profile's escrow; with `reference_holder`, the reference-script output found there."""
    escrow = profile.escrow
    network = Network.MAINNET if profile.network_id == 1 else Network.TESTNET
    script = _script(escrow, chain)
    script_hash = plutus_script_hash(script).payload.hex()
    if escrow.script_hash is not None and escrow.script_hash != script_hash:
        raise ContractError(
            f"escrow.script_hash is {escrow.script_hash}, the script's {script_hash}"
        )
    if escrow.fee_address is None:
        raise ContractError("escrow.fee_address is not set")
    reference = None
    if reference_holder is not None:
        reference = find_reference_output(chain, reference_holder, script_hash)
    return EscrowContract(
        script=script,
        address=Address(plutus_script_hash(script), network=network),
        fee_address=Address.from_primitive(escrow.fee_address),
        fee_permille=escrow.fee_permille,
        cooldown_ms=escrow.cooldown_ms,
        reference=reference,
    )


def _script(escrow: EscrowProfile, chain: BlockfrostChain) -> PlutusV3Script:
    if escrow.source == "chain":
        assert escrow.script_hash is not None  # the profile validator demands it
        loaded = chain.plutus_script(escrow.script_hash)
        if not isinstance(loaded, PlutusV3Script):
            raise ContractError(f"script {escrow.script_hash} is not Plutus V3")
        return loaded
    if escrow.source == "file":
        assert escrow.script_file is not None
        return PlutusV3Script(bytes.fromhex(Path(escrow.script_file).read_text().strip()))
    return escrow_script(our_escrow_params(escrow)).plutus_script


def our_escrow_params(escrow: EscrowProfile) -> EscrowParams:
    """The parameters our escrow is applied with, from the profile (§3.1 order)."""
    if not escrow.admin_key_hashes or escrow.fee_address is None:
        raise ContractError("our escrow needs escrow.admin_key_hashes and escrow.fee_address")
    return EscrowParams(
        required_admins_multi_sig=escrow.required_admin_signatures,
        admin_vks=tuple(bytes.fromhex(key) for key in escrow.admin_key_hashes),
        fee_address=escrow.fee_address,
        fee_permille=escrow.fee_permille,
        cooldown_period_ms=escrow.cooldown_ms,
    )


@dataclass(frozen=True)
class RegistryContract:
    script: PlutusV3Script
    policy_id: bytes


def registry_contract(profile: NetworkProfile, chain: BlockfrostChain) -> RegistryContract:
    """The registry minting policy of a resolved profile (node.chain.network.resolve_profile):
    ours applied to our escrow's address, or a deployed one (Masumi's) loaded by its id."""
    policy_id = profile.registry.policy_id
    if policy_id is None:
        raise ContractError("registry.policy_id is not set (resolve the profile first)")
    escrow = profile.escrow
    if escrow.source == "contracts" and escrow.address is not None:
        ours = registry_policy(escrow.address)
        if ours.hash.hex() == policy_id:
            return RegistryContract(ours.plutus_script, ours.hash)
    loaded = chain.plutus_script(policy_id)
    if not isinstance(loaded, PlutusV3Script):
        raise ContractError(f"registry policy {policy_id} is not Plutus V3")
    if plutus_script_hash(loaded).payload.hex() != policy_id:
        raise ContractError(f"the script loaded for {policy_id} has another hash")
    return RegistryContract(loaded, bytes.fromhex(policy_id))


def find_reference_output(chain: BlockfrostChain, holder: str, script_hash: str) -> UTxO | None:
    for utxo in chain.utxos_at(holder):
        script = utxo.output.script
        if script is not None and plutus_script_hash(script).payload.hex() == script_hash:
            return utxo
    return None


def deploy_reference_script(
    context: PortChainContext,
    payer: Actor,
    script: PlutusV3Script,
    holder: Address,
    *,
    ttl: int | None = None,
) -> BuiltTx:
    """An output at `holder` carrying the script, so spends reference it instead of paying for
    its bytes in every transaction. `ttl` (a slot) lets a wallet's journal settle it as Expired
    when it never lands."""
    builder = TransactionBuilder(context)
    builder.add_input_address(payer.address)
    builder.ttl = ttl
    builder.add_output(TransactionOutput(holder, REFERENCE_SCRIPT_LOVELACE, script=script))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    spent = tuple(
        (i.transaction_id.payload.hex(), int(i.index)) for i in tx.transaction_body.inputs
    )
    return BuiltTx(tx, "DeployReferenceScript", (), spent)
