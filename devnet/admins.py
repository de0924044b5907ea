"""The devnet's escrow parties: three admin keys, a fee address and the holder of the escrow's
reference script, public and fixed.

The devnet profile (config/devnet.toml) applies our escrow with these, so that anyone running a
devnet can also play the admins in a dispute (2 of 3 signatures). They derive from a fixed name,
not from the genesis seed: every devnet, whatever its seed, has the same escrow address and
registry policy. They guard nothing of value; never use them on a real network.
"""

from __future__ import annotations

import hashlib
from functools import cache

from pycardano import Address, Network, PaymentSigningKey

ESCROW_PARTIES_NAME = "paynode-devnet-escrow"
ADMIN_COUNT = 3
REQUIRED_ADMIN_SIGNATURES = 2


def _key(purpose: str) -> PaymentSigningKey:
    material = hashlib.blake2b(f"{ESCROW_PARTIES_NAME}/{purpose}".encode(), digest_size=32)
    return PaymentSigningKey(material.digest())


@cache
def admin_signing_keys() -> tuple[PaymentSigningKey, ...]:
    return tuple(_key(f"admin-{index}") for index in range(ADMIN_COUNT))


def admin_key_hashes() -> list[str]:
    return [key.to_verification_key().hash().payload.hex() for key in admin_signing_keys()]


@cache
def fee_signing_key() -> PaymentSigningKey:
    return _key("fee")


def fee_address() -> str:
    key_hash = fee_signing_key().to_verification_key().hash()
    return str(Address(key_hash, network=Network.TESTNET))


@cache
def reference_holder_signing_key() -> PaymentSigningKey:
    """Holds the escrow's reference-script output on the devnet; nothing else spends from it."""
    return _key("reference-holder")


def reference_holder_address() -> str:
    key_hash = reference_holder_signing_key().to_verification_key().hash()
    return str(Address(key_hash, network=Network.TESTNET))


def escrow_parties() -> dict[str, object]:
    """What GET /devnet/info reports of them."""
    return {
        "admin_key_hashes": admin_key_hashes(),
        "required_admin_signatures": REQUIRED_ADMIN_SIGNATURES,
        "fee_address": fee_address(),
        "reference_address": reference_holder_address(),
    }
