"""The request id and the blockchainIdentifier: a known vector, round trips, properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.datums import EscrowDatum, NoStake, PlutusAddress, PubKeyCredential
from node.payments.identifier import (
    IdentifierError,
    agent_identifier_of,
    blockchain_identifier_from_datum,
    decode_blockchain_identifier,
    encode_blockchain_identifier,
    request_id_of,
)

hex_bytes = st.binary(min_size=1, max_size=150).map(bytes.hex)

# lz-string's compress("aa.bb.cc.dd") (npm 1.5.0 and Python's lzstring agree), 2 bytes per char
SMALL_TEXT = "aa.bb.cc.dd"


def test_compress_to_uint8array_is_compress_split_into_big_endian_pairs() -> None:
    from lzstring import LZString  # type: ignore[import-untyped]

    compressed = LZString().compress(SMALL_TEXT)
    expected = b"".join(ord(c).to_bytes(2, "big") for c in compressed).hex()
    assert encode_blockchain_identifier("aa", "bb", "cc", "dd") == expected
    assert len(expected) == 4 * len(compressed)


def test_request_id_and_agent_identifier_split_the_seller_nonce() -> None:
    digest = hashlib.sha256(b"job").digest()
    agent = bytes.fromhex("ab" * 28) + b"agent"
    assert request_id_of(digest + agent) == digest.hex()
    assert agent_identifier_of(digest + agent) == agent.hex()
    assert agent_identifier_of(digest) == ""


@given(hex_bytes, hex_bytes, hex_bytes, hex_bytes)
def test_round_trip(seller: str, purchaser: str, signature: str, key: str) -> None:
    decoded = decode_blockchain_identifier(
        encode_blockchain_identifier(seller, purchaser, signature, key)
    )
    assert (decoded.seller_id, decoded.purchaser_id) == (seller, purchaser)
    assert (decoded.signature, decoded.key) == (signature, key)
    assert decoded.smart_contract_address is None


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=29, max_size=60))
def test_decoded_request_id_and_agent(digest: bytes, agent: bytes) -> None:
    text = encode_blockchain_identifier((digest + agent).hex(), "0011", "aa", "bb")
    decoded = decode_blockchain_identifier(text)
    assert decoded.request_id == digest.hex()
    assert decoded.agent_identifier == agent.hex()


def test_v2_carries_the_contract_address() -> None:
    text = encode_blockchain_identifier("aa" * 40, "0011", "cc", "dd", "addr_test1wxyz")
    assert decode_blockchain_identifier(text).smart_contract_address == "addr_test1wxyz"


@pytest.mark.parametrize("text", ["", "zz", "0", "abcd"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(IdentifierError):
        decode_blockchain_identifier(text)


def test_three_parts_are_refused() -> None:
    from lzstring import LZString

    compressed = LZString().compress("aa.bb.cc")
    text = b"".join(ord(c).to_bytes(2, "big") for c in compressed).hex()
    with pytest.raises(IdentifierError, match="4 or 5"):
        decode_blockchain_identifier(text)


def test_non_hex_parts_are_refused() -> None:
    with pytest.raises(IdentifierError):
        encode_blockchain_identifier("xyz", "00", "00", "00")


def test_from_datum_uses_the_v1_mapping() -> None:
    address = PlutusAddress(PubKeyCredential(bytes(28)), NoStake())
    nonce = hashlib.sha256(b"r").digest() + bytes.fromhex("cd" * 30)
    datum = EscrowDatum.make(
        buyer=address, seller=address, reference_key=b"\x01" * 40,
        reference_signature=b"\x02" * 120, seller_nonce=nonce, buyer_nonce=b"\x03" * 10,
        collateral_return_lovelace=0, input_hash=bytes(32), pay_by_time=1,
        submit_result_time=2, unlock_time=3, external_dispute_unlock_time=4,
    )  # fmt: skip
    decoded = decode_blockchain_identifier(blockchain_identifier_from_datum(datum))
    assert decoded.seller_id == nonce.hex()
    assert decoded.purchaser_id == "03" * 10
    assert decoded.signature == "02" * 120
    assert decoded.key == "01" * 40
    assert decoded.request_id == request_id_of(nonce)
