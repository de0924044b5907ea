"""Chain facts of one transaction for the sync: its CBOR (fee, validity, redeemers, signers) read
with cbor2, its inputs and outputs from Blockfrost's /txs/{hash}/utxos, escrow datums decoded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cbor2
from pycardano import Address, Network

from contracts.datums import EscrowDatum, PlutusAddress, PubKeyCredential
from node.chain.port import TxIo, TxUtxos

SPEND_TAG = 0


class DecodeError(ValueError):
    """The bytes are not what the sync expects (a datum that is not an escrow datum...)."""


@dataclass(frozen=True)
class CborFacts:
    fee: int
    is_valid: bool
    inputs: list[tuple[str, int]]  # sorted as the ledger indexes redeemers
    spend_redeemers: dict[int, int]  # input index -> constructor of the redeemer data
    signers: frozenset[str]  # key hashes of the vkey witnesses


def _items(value: Any) -> list[Any]:
    """A CBOR array or a set (tag 258) as a list."""
    if isinstance(value, cbor2.CBORTag) and value.tag == 258:
        value = value.value
    return list(value or [])


def _constructor(data: Any) -> int:
    if isinstance(data, cbor2.CBORTag):
        if 121 <= data.tag <= 127:
            return int(data.tag) - 121
        if 1280 <= data.tag <= 1400:
            return int(data.tag) - 1280 + 7
        if data.tag == 102:
            return int(data.value[0])
    raise DecodeError("a redeemer that is not a constructor")


def _redeemers(witnesses: dict[int, Any]) -> dict[int, int]:
    raw = witnesses.get(5)
    spends: dict[int, int] = {}
    if isinstance(raw, dict):  # Conway map {[tag, index]: [data, ex_units]}
        for key, value in raw.items():
            if int(key[0]) == SPEND_TAG:
                spends[int(key[1])] = _constructor(value[0])
    else:
        for entry in _items(raw):
            if int(entry[0]) == SPEND_TAG:
                spends[int(entry[1])] = _constructor(entry[2])
    return spends


def read_cbor(raw: bytes) -> CborFacts:
    try:
        body, witnesses, is_valid, _aux = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as error:
        raise DecodeError(f"not a transaction: {error}") from error
    inputs = sorted((bytes(i[0]).hex(), int(i[1])) for i in _items(body[0]))
    signers = frozenset(
        hashlib.blake2b(bytes(w[0]), digest_size=28).hexdigest() for w in _items(witnesses.get(0))
    )
    return CborFacts(int(body[2]), bool(is_valid), inputs, _redeemers(witnesses), signers)


def escrow_datum(inline_datum: str | None) -> EscrowDatum | None:
    """The escrow datum an output carries inline, or None if it carries another."""
    if not inline_datum:
        return None
    try:
        datum = EscrowDatum.from_cbor(bytes.fromhex(inline_datum))
    except Exception:  # pycardano raises several kinds on foreign data; all mean "not ours"
        return None
    return datum if isinstance(datum, EscrowDatum) else None


def raw_bytes(value: object) -> bytes:
    inner: Any = getattr(value, "value", value)  # pycardano ByteString wraps long byte strings
    return bytes(inner)


def key_hash_of(address: PlutusAddress) -> str | None:
    payment = address.payment
    return raw_bytes(payment.key_hash).hex() if isinstance(payment, PubKeyCredential) else None


def bech32_of(address: PlutusAddress, network_id: int) -> str:
    network = Network.MAINNET if network_id == 1 else Network.TESTNET
    return str(address.to_address(network))


def payment_key_hash(bech32: str) -> str | None:
    try:
        part = Address.from_primitive(bech32).payment_part
    except Exception:  # Byron or malformed addresses: no key hash we could own
        return None
    return bytes(part.payload).hex() if part is not None else None


def spent(utxos: TxUtxos) -> list[TxIo]:
    return [io for io in utxos.inputs if not io.collateral and not io.reference]


def add(total: dict[str, int], amounts: dict[str, int], sign: int = 1) -> dict[str, int]:
    result = dict(total)
    for unit, quantity in amounts.items():
        result[unit] = result.get(unit, 0) + sign * quantity
    return {unit: quantity for unit, quantity in result.items() if quantity != 0}


def total(values: Iterable[dict[str, int]]) -> dict[str, int]:
    result: dict[str, int] = {}
    for value in values:
        result = add(result, value)
    return result
