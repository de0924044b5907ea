"""CIP-1852 keys of a hot wallet, derived from its 24-word mnemonic with pycardano."""

from __future__ import annotations

from dataclasses import dataclass

from pycardano import (
    Address,
    ExtendedSigningKey,
    HDWallet,
    Network,
    PaymentVerificationKey,
    StakeVerificationKey,
)

MNEMONIC_WORDS = 24
PAYMENT_PATH = "m/1852'/1815'/0'/0/0"
STAKE_PATH = "m/1852'/1815'/0'/2/0"


class MnemonicError(ValueError):
    """Not 24 words of the BIP-39 English list with a valid checksum."""


@dataclass(frozen=True)
class WalletKeys:
    payment_signing_key: ExtendedSigningKey
    payment_key_hash: str
    stake_key_hash: str
    address: str


def normalise_mnemonic(mnemonic: str) -> str:
    words = mnemonic.lower().split()
    if len(words) != MNEMONIC_WORDS:
        raise MnemonicError(f"must be {MNEMONIC_WORDS} words, got {len(words)}")
    phrase = " ".join(words)
    if not HDWallet.is_mnemonic(phrase):
        raise MnemonicError("is not a valid BIP-39 mnemonic (unknown word or bad checksum)")
    return phrase


def generate_mnemonic() -> str:
    phrase: str = HDWallet.generate_mnemonic(strength=256)
    return phrase


def derive_keys(mnemonic: str, network_id: int) -> WalletKeys:
    """Account 0, first payment key and first stake key: a base address like any light wallet's."""
    root = HDWallet.from_mnemonic(normalise_mnemonic(mnemonic))
    payment = root.derive_from_path(PAYMENT_PATH)
    stake = root.derive_from_path(STAKE_PATH)
    payment_vkey = PaymentVerificationKey.from_primitive(payment.public_key)
    stake_vkey = StakeVerificationKey.from_primitive(stake.public_key)
    network = Network.MAINNET if network_id == 1 else Network.TESTNET
    address = Address(payment_vkey.hash(), stake_vkey.hash(), network=network)
    return WalletKeys(
        payment_signing_key=ExtendedSigningKey.from_hdwallet(payment),
        payment_key_hash=payment_vkey.hash().payload.hex(),
        stake_key_hash=stake_vkey.hash().payload.hex(),
        address=str(address),
    )
