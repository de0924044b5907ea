"""blockchainIdentifier signing (§7.1): round trips, tampered fields, a hand-built vector."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lzstring import LZString  # type: ignore[import-untyped]
from pycardano import Address, Network, PaymentSigningKey, PaymentVerificationKey

from node.payments.identifier import decode_blockchain_identifier
from node.payments.signing import (
    IdentifierError,
    PaymentTimes,
    create_blockchain_identifier,
    verify_blockchain_identifier,
)
from node.wallets.keys import derive_keys

MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
KEYS = derive_keys(MNEMONIC, 0)
OTHER = derive_keys(" ".join(["zoo"] * 23 + ["vote"]), 0)
AGENT = "ab" * 28 + "6167656e74"
PURCHASER = "0011223344556677"
INPUT_HASH = hashlib.sha256(b"input").hexdigest()
TIMES = PaymentTimes(1_700_000_000_000, 1_700_000_900_000, 1_700_022_500_000, 1_700_044_100_000)
FUNDS = [{"amount": "5000000", "unit": "lovelace"}]


def _created(funds: Any = FUNDS) -> str:
    return create_blockchain_identifier(
        signing_key=KEYS.payment_signing_key,
        seller_address=KEYS.address,
        agent_identifier=AGENT,
        identifier_from_purchaser=PURCHASER,
        input_hash=INPUT_HASH,
        requested_funds=funds,
        times=TIMES,
    ).blockchain_identifier


def _verify(identifier: str, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "identifier_from_purchaser": PURCHASER,
        "agent_identifier": AGENT,
        "seller_vkey": KEYS.payment_key_hash,
        "holder_address": KEYS.address,
        "requested_funds": FUNDS,
        "times": TIMES,
        "input_hash": INPUT_HASH,
    }
    arguments.update(changes)
    return verify_blockchain_identifier(identifier, **arguments)


def test_round_trip() -> None:
    identifier = _created()
    verified = _verify(identifier)
    assert verified.seller_vkey == KEYS.payment_key_hash
    assert verified.identifier.agent_identifier == AGENT
    assert verified.request_id == verified.identifier.seller_id[:64]
    assert len(verified.request_id) == 64


def test_fixed_pricing_signs_null_funds() -> None:
    identifier = _created(None)
    _verify(identifier, requested_funds=None)
    with pytest.raises(IdentifierError) as error:
        _verify(identifier)
    assert error.value.field == "blockchainIdentifier"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"identifier_from_purchaser": "0011223344556688"}, "identifierFromPurchaser"),
        ({"agent_identifier": "cd" * 28 + "6167656e74"}, "agentIdentifier"),
        ({"seller_vkey": OTHER.payment_key_hash}, "sellerVkey"),
        ({"holder_address": OTHER.address}, "sellerVkey"),
        ({"input_hash": "00" * 32}, "blockchainIdentifier"),
        ({"requested_funds": [{"amount": "5000001", "unit": "lovelace"}]}, "blockchainIdentifier"),
        ({"times": replace(TIMES, unlock_time=TIMES.unlock_time + 1)}, "blockchainIdentifier"),
        ({"times": replace(TIMES, pay_by_time=TIMES.pay_by_time - 1)}, "blockchainIdentifier"),
    ],
)
def test_each_tampered_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(IdentifierError) as error:
        _verify(_created(), **change)
    assert error.value.field == field


def test_holder_with_same_key_other_stake_still_verifies_key_but_not_payload() -> None:
    # the seller address is signed: the same payment key under another address is refused
    enterprise = str(
        Address(
            PaymentVerificationKey.from_primitive(
                bytes.fromhex(_verify(_created()).public_key)
            ).hash(),
            network=Network.TESTNET,
        )
    )
    with pytest.raises(IdentifierError) as error:
        _verify(_created(), holder_address=enterprise)
    assert error.value.field == "blockchainIdentifier"


def test_forged_signature_is_refused() -> None:
    parts = decode_blockchain_identifier(_created())
    message = cbor2.loads(bytes.fromhex(parts.signature))
    message[3] = bytes(64)
    forged = _encode(parts.seller_id, parts.purchaser_id, cbor2.dumps(message).hex(), parts.key)
    with pytest.raises(IdentifierError) as error:
        _verify(forged)
    assert error.value.field == "blockchainIdentifier"
    assert "signature" in error.value.reason


def test_garbage_is_refused() -> None:
    with pytest.raises(IdentifierError) as error:
        _verify("zz")
    assert error.value.field == "blockchainIdentifier"
    with pytest.raises(IdentifierError):
        _verify(_encode("aa" * 32 + AGENT, PURCHASER, "00", "00"))


def _encode(*parts: str) -> str:
    text = LZString().compress(".".join(parts))
    return b"".join(ord(c).to_bytes(2, "big") for c in text).hex()


def test_identifier_built_by_hand_per_section_7_1() -> None:
    """Every step written out here with cbor2, nacl-free pycardano keys and lzstring."""
    signing_key = PaymentSigningKey.from_primitive(bytes(range(32)))
    public_key = bytes(PaymentVerificationKey.from_signing_key(signing_key).payload)
    address = Address(
        PaymentVerificationKey.from_signing_key(signing_key).hash(), network=Network.TESTNET
    )
    seller_id = hashlib.sha256(b"a cuid2 string").hexdigest() + AGENT
    payload = {
        "inputHash": INPUT_HASH,
        "agentIdentifier": AGENT,
        "purchaserIdentifier": PURCHASER,
        "sellerIdentifier": seller_id,
        "RequestedFunds": None,
        "payByTime": str(TIMES.pay_by_time),
        "submitResultTime": str(TIMES.submit_result_time),
        "unlockTime": str(TIMES.unlock_time),
        "externalDisputeUnlockTime": str(TIMES.external_dispute_unlock_time),
        "sellerAddress": str(address),
    }
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).digest()
    protected = cbor2.dumps({1: -8, 4: public_key, "address": bytes(address.to_primitive())})
    to_sign = cbor2.dumps(["Signature1", protected, b"", digest])
    sign1 = cbor2.dumps([protected, {"hashed": False}, digest, signing_key.sign(to_sign)])
    assert sign1.hex().startswith("84")
    assert "a166686173686564f4" in sign1.hex()
    key = cbor2.dumps({1: 1, 3: -8, -1: 6, -2: public_key})
    identifier = _encode(seller_id, PURCHASER, sign1.hex(), key.hex())

    verified = verify_blockchain_identifier(
        identifier,
        identifier_from_purchaser=PURCHASER,
        agent_identifier=AGENT,
        seller_vkey=hashlib.blake2b(public_key, digest_size=28).hexdigest(),
        holder_address=str(address),
        requested_funds=None,
        times=TIMES,
        input_hash=INPUT_HASH,
    )
    assert verified.request_id == seller_id[:64]
    assert verified.payload_hash == digest.hex()

    # and our signer produces the very same bytes for the same nonce (ed25519 is deterministic)
    from node.payments.signing import sign_payload

    assert sign_payload(digest.hex(), signing_key, address) == (sign1.hex(), key.hex())


hexes = st.binary(min_size=7, max_size=13).map(bytes.hex)
amounts = st.lists(
    st.fixed_dictionaries(
        {
            "amount": st.integers(1, 10**20).map(str),
            "unit": st.sampled_from(["lovelace", "aa" * 30]),
        }
    ),
    min_size=1,
    max_size=7,
)


@settings(max_examples=25, deadline=None)
@given(hexes, st.binary(min_size=32, max_size=32).map(bytes.hex), amounts, st.integers(0, 2**45))
def test_round_trip_property(purchaser: str, input_hash: str, funds: Any, start: int) -> None:
    times = PaymentTimes(start, start + 1, start + 2, start + 3)
    created = create_blockchain_identifier(
        signing_key=KEYS.payment_signing_key,
        seller_address=KEYS.address,
        agent_identifier=AGENT,
        identifier_from_purchaser=purchaser,
        input_hash=input_hash,
        requested_funds=funds,
        times=times,
    )
    verified = _verify(
        created.blockchain_identifier,
        identifier_from_purchaser=purchaser,
        input_hash=input_hash,
        requested_funds=funds,
        times=times,
    )
    assert verified.request_id == created.request_id
