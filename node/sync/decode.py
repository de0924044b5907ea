"""Chain facts of one transaction for the sync, from its CBOR alone (read with cbor2): fee,
validity, the inputs it spends, its outputs (address, value, datum), redeemers and signers; escrow
datums decoded. What an input spent is not in the CBOR: the sync knows it when the output was its
own address's (sync_output), and asks /txs/{hash}/utxos only where a party's inputs matter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cbor2
from pycardano import Address, Network
from pycardano.exception import PyCardanoException

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
    outputs: tuple[TxIo, ...] = ()


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


# What reading a malformed transaction can raise (cbor2, pycardano, the shapes we index into);
# pycardano asserts a hash's size (an address of a wrong length is an AssertionError).
_MALFORMED = (
    AssertionError,
    cbor2.CBORDecodeError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    PyCardanoException,
)


def read_cbor(raw: bytes, tx_hash: str = "") -> CborFacts:
    """The facts of a transaction's CBOR; DecodeError for bytes that are not a transaction."""
    try:
        body, witnesses, is_valid, _aux = cbor2.loads(raw)
        inputs = sorted((bytes(i[0]).hex(), int(i[1])) for i in _items(body[0]))
        outputs = tuple(_output(tx_hash, index, o) for index, o in enumerate(_items(body[1])))
        signers = frozenset(
            hashlib.blake2b(bytes(w[0]), digest_size=28).hexdigest()
            for w in _items(witnesses.get(0))
        )
        fee, redeemers = int(body[2]), _redeemers(witnesses)
    except _MALFORMED as error:
        raise DecodeError(f"not a transaction: {type(error).__name__}: {error}") from error
    return CborFacts(fee, bool(is_valid), inputs, redeemers, signers, outputs)


def _output(tx_hash: str, index: int, output: Any) -> TxIo:
    """A legacy [address, value, datum hash?] or a post-Alonzo {0: address, 1: value, 2: datum
    option, 3: script reference} output, as Blockfrost would show it."""
    if isinstance(output, dict):
        address, value, datum, script = output[0], output[1], output.get(2), output.get(3)
    else:
        address, value = output[0], output[1]
        datum, script = ([0, output[2]] if len(output) > 2 else None), None
    data_hash = inline = None
    if datum is not None and int(datum[0]) == 0:
        data_hash = bytes(datum[1]).hex()
    elif datum is not None:  # Blockfrost shows an inline datum's hash too
        raw = bytes(_untag(datum[1]))
        inline, data_hash = raw.hex(), hashlib.blake2b(raw, digest_size=32).hexdigest()
    return TxIo(
        address=str(Address.from_primitive(bytes(address))),
        amount=_amount(value),
        tx_hash=tx_hash,
        output_index=index,
        data_hash=data_hash,
        inline_datum=inline,
        reference_script_hash=_script_hash(script) if script is not None else None,
    )


def _script_hash(script_ref: Any) -> str:
    """blake2b-224 of the language tag and the script: 0 native (its CBOR), 1-3 Plutus V1-V3."""
    language, script = cbor2.loads(bytes(_untag(script_ref)))
    body = cbor2.dumps(script) if int(language) == 0 else bytes(script)
    return hashlib.blake2b(bytes([int(language)]) + body, digest_size=28).hexdigest()


def _untag(value: Any) -> Any:
    return value.value if isinstance(value, cbor2.CBORTag) and value.tag == 24 else value


def _amount(value: Any) -> dict[str, int]:
    """A coin or [coin, {policy: {name: quantity}}] as Blockfrost's units."""
    if isinstance(value, int):
        return {"lovelace": value}
    amounts = {"lovelace": int(value[0])}
    for policy, assets in dict(value[1]).items():
        for name, quantity in dict(assets).items():
            unit = bytes(policy).hex() + bytes(name).hex()
            amounts[unit] = amounts.get(unit, 0) + int(quantity)
    return amounts


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
