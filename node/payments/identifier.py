"""The request id and the blockchainIdentifier (masumi-protocol.md §7.1), pure functions.

`seller_nonce` (the datum's sellerId bytes) = 32-byte request id digest ‖ agentIdentifier bytes.
The identifier joins `sellerId . purchaserId . signature . key` (hex each) with dots and
compresses the text with lz-string's `compressToUint8Array`: every UTF-16 code unit of
`LZString().compress(text)` as 2 big-endian bytes, hex-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lzstring import LZString

from contracts.datums import EscrowDatum

REQUEST_ID_BYTES = 32
HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
MAX_V2_ADDRESS_CHARS = 250


class IdentifierError(ValueError):
    """The text is not a blockchainIdentifier."""


@dataclass(frozen=True)
class BlockchainIdentifier:
    seller_id: str  # 64 hex request id, then the agentIdentifier hex
    purchaser_id: str
    signature: str
    key: str
    smart_contract_address: str | None = None  # V2 only

    @property
    def request_id(self) -> str:
        return self.seller_id[: 2 * REQUEST_ID_BYTES].lower()

    @property
    def agent_identifier(self) -> str | None:
        tail = self.seller_id[2 * REQUEST_ID_BYTES :]
        return tail.lower() or None


def request_id_of(seller_nonce: bytes) -> str:
    """The 64-hex request id: the first 32 bytes of the seller nonce."""
    return bytes(seller_nonce[:REQUEST_ID_BYTES]).hex()


def agent_identifier_of(seller_nonce: bytes) -> str:
    """The agentIdentifier hex after the request id ("" when the nonce carries none)."""
    return bytes(seller_nonce[REQUEST_ID_BYTES:]).hex()


def _compress_to_bytes(text: str) -> bytes:
    compressed: str = LZString().compress(text)
    return b"".join(ord(char).to_bytes(2, "big") for char in compressed)


def _decompress_bytes(data: bytes) -> str:
    if len(data) % 2:
        raise IdentifierError("not lz-string bytes: odd length")
    chars = "".join(chr(int.from_bytes(data[i : i + 2], "big")) for i in range(0, len(data), 2))
    try:
        text = LZString().decompress(chars)
    # lzstring fails on foreign data in several ways, an UnboundLocalError among them
    except (IndexError, KeyError, TypeError, ValueError, NameError, RecursionError) as error:
        raise IdentifierError(f"not lz-string data: {error}") from error
    if not isinstance(text, str) or not text:
        raise IdentifierError("not lz-string data")
    return text


def _require_hex(name: str, value: str) -> None:
    if not HEX.match(value):
        raise IdentifierError(f"{name} must be hex")


def encode_blockchain_identifier(
    seller_id_hex: str,
    purchaser_id_hex: str,
    signature_hex: str,
    key_hex: str,
    smart_contract_address: str | None = None,
) -> str:
    """§7.1 step 5; V2 appends the smart contract address."""
    for name, value in (
        ("sellerId", seller_id_hex),
        ("purchaserId", purchaser_id_hex),
        ("signature", signature_hex),
        ("key", key_hex),
    ):
        _require_hex(name, value)
    parts = [seller_id_hex, purchaser_id_hex, signature_hex, key_hex]
    if smart_contract_address is not None:
        parts.append(smart_contract_address)
    return _compress_to_bytes(".".join(parts)).hex()


def decode_blockchain_identifier(text: str) -> BlockchainIdentifier:
    """§7.1 "Decoding": 4 parts (V1) or 5 (V2, the last an address of at most 250 chars)."""
    if not text or not HEX.match(text):
        raise IdentifierError("a blockchainIdentifier is hex")
    parts = _decompress_bytes(bytes.fromhex(text)).split(".")
    if len(parts) not in (4, 5):
        raise IdentifierError(f"expected 4 or 5 parts, found {len(parts)}")
    _require_hex("sellerId", parts[0])
    _require_hex("purchaserId", parts[1])
    address = None
    if len(parts) == 5:
        address = parts[4]
        if not address.startswith("addr") or len(address) > MAX_V2_ADDRESS_CHARS:
            raise IdentifierError("the fifth part must be an address")
    return BlockchainIdentifier(parts[0], parts[1], parts[2], parts[3], address)


def _raw(value: object) -> bytes:
    inner: Any = getattr(value, "value", value)  # pycardano ByteString wraps long byte strings
    return bytes(inner)


def blockchain_identifier_from_datum(datum: EscrowDatum) -> str:
    """The identifier a V1 datum was locked under: a pure function of its fields."""
    return encode_blockchain_identifier(
        _raw(datum.seller_nonce).hex(),
        _raw(datum.buyer_nonce).hex(),
        _raw(datum.reference_signature).hex(),
        _raw(datum.reference_key).hex(),
    )
