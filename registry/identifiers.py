"""Registry asset names and agent identifiers (masumi-protocol.md §5.1).

A V1 registration mints one NFT whose asset name is blake2b_256(tx id ‖ output index as 4 bytes
big-endian) of an input the minting transaction spends. The agent identifier is the NFT's unit:
56 hex characters of policy id followed by the asset name in hex (64 characters for a registry
NFT, 0-64 for an arbitrary asset).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

TX_ID_BYTES = 32
POLICY_ID_HEX = 56
MAX_ASSET_NAME_HEX = 64

_HEX = re.compile(r"[0-9a-f]*")


def registry_asset_name(tx_id: bytes, index: int) -> bytes:
    """The one-shot asset name of a registration that spends output `index` of `tx_id`."""
    if len(tx_id) != TX_ID_BYTES:
        raise ValueError(f"a transaction id is {TX_ID_BYTES} bytes, not {len(tx_id)}")
    if not 0 <= index < 2**32:
        raise ValueError(f"an output index fits in 4 bytes: {index}")
    return hashlib.blake2b(tx_id + index.to_bytes(4, "big"), digest_size=32).digest()


def _check_hex(value: str, what: str) -> None:
    if not _HEX.fullmatch(value):
        raise ValueError(f"{what} must be lower-case hex: {value!r}")
    if len(value) % 2:
        raise ValueError(f"{what} must be whole bytes (an even number of hex digits): {value!r}")


@dataclass(frozen=True)
class AgentIdentifier:
    """policy id (56 lower-case hex) + asset name (0-64 lower-case hex)."""

    policy_id: str
    asset_name: str

    def __post_init__(self) -> None:
        if len(self.policy_id) != POLICY_ID_HEX:
            raise ValueError(
                f"a policy id is {POLICY_ID_HEX} hex characters, not {len(self.policy_id)}"
            )
        _check_hex(self.policy_id, "the policy id")
        if len(self.asset_name) > MAX_ASSET_NAME_HEX:
            raise ValueError(
                f"an asset name is at most {MAX_ASSET_NAME_HEX} hex characters, "
                f"not {len(self.asset_name)}"
            )
        _check_hex(self.asset_name, "the asset name")

    @classmethod
    def parse(cls, text: str) -> AgentIdentifier:
        """An agent identifier (or any asset unit) from its hex text; upper-case hex is
        accepted and normalised. ValueError says what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"an agent identifier is a hex string, not {type(text).__name__}")
        value = text.strip().lower()
        if not _HEX.fullmatch(value):
            raise ValueError(f"an agent identifier is hex (policy id + asset name): {text!r}")
        longest = POLICY_ID_HEX + MAX_ASSET_NAME_HEX
        if not POLICY_ID_HEX <= len(value) <= longest:
            raise ValueError(
                f"an agent identifier is {POLICY_ID_HEX}-{longest} hex characters "
                f"(56 policy id + up to 64 asset name), not {len(value)}"
            )
        return cls(value[:POLICY_ID_HEX], value[POLICY_ID_HEX:])

    @property
    def unit(self) -> str:
        """The Blockfrost asset unit: the same string."""
        return self.policy_id + self.asset_name

    def __str__(self) -> str:
        return self.unit
