"""Deterministic devnet genesis: funded addresses, a genesis wallet and the test stablecoin USDM.

Everything derives from a seed string, so two devnets started with the same seed have the same
keys, addresses, UTxOs and USDM policy id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pycardano import (
    Address,
    Asset,
    AssetName,
    MultiAsset,
    Network,
    PaymentSigningKey,
    ScriptHash,
    ScriptPubkey,
    TransactionOutput,
    Value,
)

# 1 January 2025 00:00:00 UTC: a fixed start keeps manual-mode devnets reproducible.
DEFAULT_SYSTEM_START_MS = 1_735_689_600_000
USDM_ASSET_NAME_HEX = "0014df105553444d"  # CIP-67 label 333 (fungible) + "USDM"
USDM_DECIMALS = 6
DEFAULT_WALLET_LOVELACE = 1_000_000_000_000_000  # 1e9 ADA, plenty for any test run
DEFAULT_USDM_SUPPLY = 1_000_000_000 * 10**USDM_DECIMALS
NETWORK_MAGIC = 42
EPOCH_LENGTH_SLOTS = 86_400  # one day per epoch at one-second slots


def _derive_key(seed: str, purpose: str) -> PaymentSigningKey:
    material = hashlib.blake2b(f"paynode-devnet/{purpose}/{seed}".encode(), digest_size=32)
    return PaymentSigningKey(material.digest())


@dataclass(frozen=True)
class Genesis:
    seed: str = "paynode-devnet"
    system_start_ms: int = DEFAULT_SYSTEM_START_MS
    funded: Mapping[str, int] = field(default_factory=dict)  # bech32 address -> lovelace
    wallet_lovelace: int = DEFAULT_WALLET_LOVELACE
    usdm_supply: int = DEFAULT_USDM_SUPPLY

    def __post_init__(self) -> None:
        if self.system_start_ms % 1000:
            raise ValueError("system_start_ms must be a whole second")

    # Keys and scripts -------------------------------------------------------------------------

    @cached_property
    def wallet_signing_key(self) -> PaymentSigningKey:
        """Key of the genesis wallet that pays the faucet."""
        return _derive_key(self.seed, "genesis-wallet")

    @cached_property
    def wallet_address(self) -> Address:
        return Address(
            self.wallet_signing_key.to_verification_key().hash(), network=Network.TESTNET
        )

    @cached_property
    def usdm_policy_signing_key(self) -> PaymentSigningKey:
        return _derive_key(self.seed, "usdm-policy")

    @cached_property
    def usdm_policy_script(self) -> ScriptPubkey:
        return ScriptPubkey(self.usdm_policy_signing_key.to_verification_key().hash())

    @cached_property
    def usdm_policy_id(self) -> ScriptHash:
        return self.usdm_policy_script.hash()

    @property
    def usdm_unit(self) -> str:
        """Blockfrost unit (policy id hex + asset name hex) of the test stablecoin."""
        return bytes(self.usdm_policy_id.payload).hex() + USDM_ASSET_NAME_HEX

    # The pseudo genesis transaction -----------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "system_start_ms": self.system_start_ms,
            "funded": dict(sorted(self.funded.items())),
            "wallet_lovelace": self.wallet_lovelace,
            "usdm_supply": self.usdm_supply,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Genesis:
        return cls(
            seed=str(data["seed"]),
            system_start_ms=int(data["system_start_ms"]),
            funded={str(k): int(v) for k, v in dict(data["funded"]).items()},
            wallet_lovelace=int(data["wallet_lovelace"]),
            usdm_supply=int(data["usdm_supply"]),
        )

    @cached_property
    def tx_id(self) -> bytes:
        """Hash of the pseudo genesis transaction whose outputs are the initial UTxOs."""
        canonical = json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(
            b"paynode-devnet-genesis:" + canonical.encode(), digest_size=32
        ).digest()

    def output_cbors(self) -> list[bytes]:
        """CBOR of the genesis outputs: the wallet (ADA + all USDM) first, then funded addresses
        in address order."""
        usdm = MultiAsset(
            {
                self.usdm_policy_id: Asset(
                    {AssetName(bytes.fromhex(USDM_ASSET_NAME_HEX)): self.usdm_supply}
                )
            }
        )
        outputs = [TransactionOutput(self.wallet_address, Value(self.wallet_lovelace, usdm))]
        for address, lovelace in sorted(self.funded.items()):
            outputs.append(TransactionOutput(Address.from_primitive(address), lovelace))
        return [bytes(o.to_cbor()) for o in outputs]
