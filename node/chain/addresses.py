"""Cardano addresses as the node accepts them: bech32, of the node's network."""

from __future__ import annotations

from dataclasses import dataclass

from pycardano import Address, Network, ScriptHash, VerificationKeyHash


class AddressError(ValueError):
    """Not a Cardano address, or one of another network."""


@dataclass(frozen=True)
class ParsedAddress:
    bech32: str
    payment_key_hash: str | None
    script_hash: str | None
    stake_key_hash: str | None
    network_id: int


def parse_address(text: str, network_id: int) -> ParsedAddress:
    """Decode a bech32 Shelley address; it must belong to `network_id` (0 test, 1 main)."""
    try:
        address = Address.from_primitive(text)
    except Exception as error:  # pycardano raises several types for malformed input
        raise AddressError("not a valid Cardano address") from error
    if not isinstance(text, str) or not text.startswith("addr"):
        raise AddressError("not a Shelley address")
    actual = 1 if address.network == Network.MAINNET else 0
    if actual != network_id:
        wanted = "mainnet" if network_id == 1 else "a test network"
        raise AddressError(f"address of another network (this node serves {wanted})")
    payment = address.payment_part
    stake = address.staking_part
    return ParsedAddress(
        bech32=text,
        payment_key_hash=payment.payload.hex()
        if isinstance(payment, VerificationKeyHash)
        else None,
        script_hash=payment.payload.hex() if isinstance(payment, ScriptHash) else None,
        stake_key_hash=stake.payload.hex() if isinstance(stake, VerificationKeyHash) else None,
        network_id=actual,
    )
