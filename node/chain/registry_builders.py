"""Builders for the registry's mint and burn transactions (masumi-protocol.md §5.1, §5.3, §14).

A registration mints one NFT under the V1 registry policy: its asset name is
blake2b_256(tx id ‖ output index as 4 bytes big-endian) of a seed input the transaction spends, so
no two registrations can share a name. The NFT goes to the recipient (the minting wallet by
default) with at least 5 ADA, and the agent's MIP-002 metadata rides under label 721 (CIP-25 v1:
policy id and asset name as hex keys, every string over 64 bytes as a list of ≤ 64-byte chunks).
A deregistration burns it. Both carry a CIP-20 message (label 674) and the owner as required
signer; the owner pays fees and collateral.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pycardano import (
    Address,
    AlonzoMetadata,
    Asset,
    AssetName,
    AuxiliaryData,
    ExecutionUnits,
    Metadata,
    MultiAsset,
    PlutusV3Script,
    Redeemer,
    ScriptHash,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
    min_lovelace_post_alonzo,
)

from contracts.datums import BurnAction, MintAction
from node.chain.builders import WINDOW_MS, Actor, BuildError, BuiltTx, script_builder
from node.chain.context import PortChainContext
from node.clock import now_ms
from node.config import SlotConfig
from registry import cip25, identifiers
from registry.cip25 import METADATA_CHUNK_BYTES as METADATA_CHUNK_BYTES
from registry.cip25 import MetadataError
from registry.cip25 import chunk_text as chunk_text  # re-exported for callers of this module

REGISTRATION_LOVELACE = 5_000_000  # Masumi sends the NFT with at least 5 ADA
CIP25_VERSION = "1"


def registry_asset_name(seed: TransactionInput) -> bytes:
    """The one-shot asset name of a registration spending `seed` (§5.1)."""
    return identifiers.registry_asset_name(bytes(seed.transaction_id.payload), int(seed.index))


def chunk_strings(value: Any, limit: int = METADATA_CHUNK_BYTES) -> Any:
    """registry.cip25.chunk_strings, with what metadata cannot carry raised as a BuildError."""
    try:
        return cip25.chunk_strings(value, limit)
    except MetadataError as exc:
        raise BuildError(str(exc)) from exc


def registration_metadata(
    policy_id: bytes, asset_name: bytes, metadata: Mapping[str, Any]
) -> dict[int, Any]:
    """Labels 721 (CIP-25 v1, hex keys as §5.3 writes them) and 674 of a registration."""
    return {
        721: {
            policy_id.hex(): {asset_name.hex(): chunk_strings(metadata)},
            "version": CIP25_VERSION,
        },
        674: {"msg": ["Masumi", "RegisterAgent"]},
    }


class RegistryBuilders:
    def __init__(
        self,
        context: PortChainContext,
        policy: PlutusV3Script,
        policy_id: bytes,
        clock: Callable[[], int] = now_ms,
        slot_config: SlotConfig | None = None,
    ) -> None:
        """Without a slot config the validity window is left to pycardano, which then asks the
        chain for its tip on every build."""
        self.context = context
        self.policy = policy
        self.policy_id = ScriptHash(policy_id)
        self.clock = clock
        self.slots = slot_config

    # building -------------------------------------------------------------------------------

    def _builder(self, owner: Actor, message: dict[int, Any]) -> TransactionBuilder:
        builder = script_builder(self.context)
        builder.add_input_address(owner.address)
        builder.auxiliary_data = AuxiliaryData(AlonzoMetadata(Metadata(message)))
        builder.required_signers = [owner.key_hash]
        # Chosen here, not by pycardano: for a burn it would take the NFT's own UTxO, whose
        # 5 ADA cannot cover both the collateral and a collateral return carrying the NFT.
        collateral = self.context.collateral_for(owner.address)
        if collateral is None:  # pycardano would take a pending output: some nodes refuse it
            raise BuildError(
                "no collateral: the wallet has no confirmed UTxO that its pending transactions "
                "do not spend; wait for them"
            )
        builder.collaterals = [collateral]
        if self.slots is not None:
            now = self.clock()
            start = self.slots.posix_ms_to_slot(now - WINDOW_MS)
            builder.validity_start = max(self.slots.zero_slot, start)
            builder.ttl = self.slots.posix_ms_to_slot(now + WINDOW_MS)
        return builder

    def _tokens(self, asset_name: bytes, quantity: int) -> MultiAsset:
        return MultiAsset({self.policy_id: Asset({AssetName(asset_name): quantity})})

    def _finish(self, builder: TransactionBuilder, owner: Actor, kind: str) -> BuiltTx:
        tx = builder.build_and_sign([owner.signing_key], change_address=owner.address)
        spent = tuple(
            (txin.transaction_id.payload.hex(), int(txin.index))
            for txin in tx.transaction_body.inputs
        )
        return BuiltTx(tx, kind, (), spent)

    def _seed(self, owner: Actor) -> UTxO:
        """The owner's UTxO whose reference names the NFT: the largest one holding only ADA."""
        seed = self.context.largest_ada_only(owner.address)
        if seed is None:
            raise BuildError(f"{owner.address} holds no ADA-only UTxO to seed a registration")
        return seed

    # the registry ---------------------------------------------------------------------------

    def mint(
        self,
        owner: Actor,
        metadata: Mapping[str, Any],
        *,
        recipient: Address | None = None,
        lovelace: int = REGISTRATION_LOVELACE,
        ex_units: ExecutionUnits | None = None,
    ) -> tuple[BuiltTx, str]:
        """Register: the signed mint and the asset name (hex). `ex_units` given up front skips
        the evaluation round trip."""
        if lovelace < REGISTRATION_LOVELACE:
            raise BuildError(f"the NFT goes out with at least {REGISTRATION_LOVELACE} lovelace")
        seed = self._seed(owner)
        asset_name = registry_asset_name(seed.input)
        builder = self._builder(
            owner, registration_metadata(bytes(self.policy_id.payload), asset_name, metadata)
        )
        builder.add_input(seed)
        nft = self._tokens(asset_name, 1)
        builder.mint = nft
        builder.add_minting_script(self.policy, Redeemer(MintAction(), _copy(ex_units)))
        output = TransactionOutput(recipient or owner.address, Value(lovelace, nft))
        needed = min_lovelace_post_alonzo(output, self.context)
        if needed > lovelace:
            output.amount = Value(needed, nft)
        builder.add_output(output)
        return self._finish(builder, owner, "RegisterAgent"), asset_name.hex()

    def burn(
        self,
        owner: Actor,
        nft: UTxO,
        asset_name: bytes,
        *,
        ex_units: ExecutionUnits | None = None,
    ) -> BuiltTx:
        """Deregister: spend the UTxO holding the NFT and burn it; the rest comes back as change."""
        held = nft.output.amount.multi_asset.get(self.policy_id, Asset()).get(
            AssetName(asset_name), 0
        )
        if held != 1:
            raise BuildError(f"{nft.input} does not hold the registry NFT {asset_name.hex()}")
        builder = self._builder(owner, {674: {"msg": ["Masumi", "DeregisterAgent"]}})
        builder.add_input(nft)
        builder.mint = self._tokens(asset_name, -1)
        builder.add_minting_script(self.policy, Redeemer(BurnAction(), _copy(ex_units)))
        return self._finish(builder, owner, "DeregisterAgent")


def _copy(units: ExecutionUnits | None) -> ExecutionUnits | None:
    """A fresh object per build: pycardano keeps (and may rescale) the redeemer's units."""
    return None if units is None else ExecutionUnits(units.mem, units.steps)
