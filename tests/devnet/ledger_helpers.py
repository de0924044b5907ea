"""Helpers for ledger tests: wallets, raw transactions with exact control over every byte, and
pycardano-built transactions through the in-process ChainContext."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
from pycardano import Address, Network, PaymentSigningKey
from pycardano.serialization import default_encoder

from devnet import phase1
from devnet.genesis import Genesis
from devnet.ledger import Ledger
from devnet.params import ProtocolParams
from devnet.phase1 import TxIn

ADA = 1_000_000


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True)
class Wallet:
    signing_key: PaymentSigningKey

    @property
    def vkey(self) -> bytes:
        return bytes(self.signing_key.to_verification_key().payload)

    @property
    def key_hash(self) -> bytes:
        return bytes(self.signing_key.to_verification_key().hash().payload)

    @property
    def address(self) -> Address:
        return Address(self.signing_key.to_verification_key().hash(), network=Network.TESTNET)

    @property
    def address_bytes(self) -> bytes:
        return bytes(self.address.to_primitive())

    @property
    def bech32(self) -> str:
        return str(self.address)

    def sign(self, message: bytes) -> bytes:
        return bytes(self.signing_key.sign(message))


def wallet(name: str) -> Wallet:
    return Wallet(PaymentSigningKey(blake2b_256(f"ledger-test/{name}".encode())))


ALICE = wallet("alice")
BOB = wallet("bob")
CAROL = wallet("carol")

PARAMS = ProtocolParams.load()
GENESIS = Genesis(
    seed="ledger-tests",
    funded={ALICE.bech32: 1_000 * ADA, BOB.bech32: 1_000 * ADA, CAROL.bech32: 50 * ADA},
)


def new_ledger(**kwargs: Any) -> Ledger:
    return Ledger(PARAMS, GENESIS, **kwargs)


def genesis_wallet(ledger: Ledger) -> Wallet:
    return Wallet(ledger.genesis.wallet_signing_key)


# ---------------------------------------------------------------------------------------------
# Raw transactions


def script_address(script_hash: bytes) -> bytes:
    """An enterprise testnet address locked by a script (header 0111 0000)."""
    return bytes([0x70]) + script_hash


def encode_tx(
    body: Mapping[int, Any],
    signers: Iterable[Wallet] = (),
    *,
    witnesses: Mapping[int, Any] | None = None,
    aux: Any = None,
    is_valid: bool = True,
) -> bytes:
    """A transaction assembled from parts, its body signed by `signers`."""
    body_bytes: bytes = cbor2.dumps(dict(body))
    tx_id = blake2b_256(body_bytes)
    wits = dict(witnesses or {})
    vkey_witnesses = [[w.vkey, w.sign(tx_id)] for w in signers]
    if vkey_witnesses:
        wits[0] = vkey_witnesses
    witness_bytes: bytes = cbor2.dumps(wits, default=default_encoder)
    return (
        b"\x84"
        + body_bytes
        + witness_bytes
        + (b"\xf5" if is_valid else b"\xf4")
        + (cbor2.dumps(aux) if aux is not None else b"\xf6")
    )


def utxos_of(ledger: Ledger, who: Wallet) -> list[tuple[TxIn, phase1.Output]]:
    return ledger.outputs_at(who.address_bytes)


def first_utxo(ledger: Ledger, who: Wallet) -> tuple[TxIn, phase1.Output]:
    return max(utxos_of(ledger, who), key=lambda pair: pair[1].coin)


def value_cbor(coin: int, assets: Mapping[bytes, int] | None = None) -> Any:
    if not assets:
        return coin
    multi: dict[bytes, dict[bytes, int]] = {}
    for unit, qty in assets.items():
        multi.setdefault(unit[:28], {})[unit[28:]] = qty
    return [coin, multi]


def fee_for(tx_cbor: bytes, ref_script_bytes: int = 0) -> int:
    return phase1.min_fee(phase1.decode_transaction(tx_cbor), ref_script_bytes, PARAMS)


def balanced_tx(
    ledger: Ledger,
    payer: Wallet,
    outputs: Sequence[Any],
    *,
    inputs: Sequence[TxIn] | None = None,
    signers: Sequence[Wallet] | None = None,
    extra_body: Mapping[int, Any] | None = None,
    witnesses: Mapping[int, Any] | None = None,
    aux: Any = None,
    mint_assets: Mapping[bytes, int] | None = None,
    fee_delta: int = 0,
) -> bytes:
    """A signed transaction spending `inputs` (default: the payer's largest UTxO), paying
    `outputs` (CBOR output items), change back to the payer, at exactly the minimum fee plus
    `fee_delta`. The change absorbs ADA and any assets not paid out."""
    chosen = list(inputs) if inputs is not None else [first_utxo(ledger, payer)[0]]
    spent = [ledger.utxo(t, include_mempool=True) for t in chosen]
    assert all(o is not None for o in spent), "inputs must exist"
    balance: dict[bytes, int] = {}
    for output in spent:
        assert output is not None
        balance[b""] = balance.get(b"", 0) + output.coin
        for unit, qty in output.assets.items():
            balance[unit] = balance.get(unit, 0) + qty
    for unit, qty in (mint_assets or {}).items():
        balance[unit] = balance.get(unit, 0) + qty
    for out in outputs:
        coin, assets = phase1.decode_value(out[1])
        balance[b""] -= coin
        for unit, qty in assets.items():
            balance[unit] -= qty
    change_assets = {u: q for u, q in balance.items() if u and q}
    fee = 200_000
    for _ in range(4):
        body: dict[int, Any] = {
            0: [[t.tx_id, t.index] for t in chosen],
            1: [*outputs, [payer.address_bytes, value_cbor(balance[b""] - fee, change_assets)]],
            2: fee,
            **(extra_body or {}),
        }
        keys = signers if signers is not None else [payer]
        tx = encode_tx(body, keys, witnesses=witnesses, aux=aux)
        wanted = fee_for(tx) + fee_delta
        if wanted == fee:
            return tx
        fee = wanted
    raise AssertionError("fee did not converge")


def transfer(ledger: Ledger, payer: Wallet, to: bytes, coin: int, **kwargs: Any) -> bytes:
    return balanced_tx(ledger, payer, [[to, coin]], **kwargs)
