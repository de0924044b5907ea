"""Signing and verifying a blockchainIdentifier (masumi-protocol.md §7.1 steps 1-5 and the
buyer-side verification), pure functions: no database, no chain, no HTTP.

Public API (the buyer side imports these):

- `payload_of(*, input_hash, agent_identifier, purchaser_identifier, seller_identifier,
  requested_funds, times, seller_address) -> str` — the canonical JSON (npm `canonical-json`:
  keys sorted, no whitespace) of the signed object; `requested_funds` is a sequence of
  `{"amount": str, "unit": str}` (signed in the order given) or None (Fixed pricing).
- `payload_hash(payload) -> str` — its sha256, 64 lowercase hex.
- `sign_payload(payload_hex, signing_key, address) -> (signature_hex, key_hex)` — CIP-8: a
  COSE_Sign1 (untagged array `[protected bstr, {"hashed": false}, payload bstr, sig bstr]`)
  whose payload is the raw bytes of `payload_hex` (32 bytes for a digest), protected header
  `{1: -8, 4: <32-byte public key>, "address": <address bytes>}`; and the COSE_Key
  `{1: 1, 3: -8, -1: 6, -2: <public key>}`. `signing_key` is a pycardano SigningKey or
  ExtendedSigningKey; `address` a pycardano Address or its bech32.
- `create_blockchain_identifier(*, signing_key, seller_address, agent_identifier,
  identifier_from_purchaser, input_hash, requested_funds, times, nonce=None)
  -> CreatedIdentifier` — step 1 (sellerId = sha256 hex of a fresh random nonce, then the
  agentIdentifier hex) to step 5 (lz-string + hex through node/payments/identifier.py).
- `verify_blockchain_identifier(identifier, *, identifier_from_purchaser, agent_identifier,
  seller_vkey, holder_address, requested_funds, times, input_hash) -> VerifiedIdentifier` —
  every check of "Buyer-side verification"; each failure raises `IdentifierError(field, reason)`
  with `field` one of: blockchainIdentifier (not decodable, bad COSE, bad signature, or a signed
  payload that differs from inputHash / RequestedFunds / times / sellerAddress — a hash cannot
  say which), identifierFromPurchaser, agentIdentifier, sellerVkey (key hash of the COSE key,
  or not the payment key hash of the NFT holder's address).
- `PaymentTimes(pay_by_time, submit_result_time, unlock_time, external_dispute_unlock_time)` —
  POSIX ms ints, written into the payload as decimal strings.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pycardano import Address, ExtendedSigningKey, ExtendedVerificationKey, SigningKey

from node.payments import identifier as ids

PUBLIC_KEY_BYTES = 32
UNPROTECTED = {"hashed": False}
Funds = Sequence[Mapping[str, str]]


class IdentifierError(ids.IdentifierError):
    """A check of the identifier failed: `field` names the request field, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PaymentTimes:
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int


@dataclass(frozen=True)
class CreatedIdentifier:
    blockchain_identifier: str
    seller_id: str  # request id (64 hex) ‖ agentIdentifier
    request_id: str
    signature: str  # COSE_Sign1 hex
    key: str  # COSE_Key hex
    payload_hash: str


@dataclass(frozen=True)
class VerifiedIdentifier:
    identifier: ids.BlockchainIdentifier
    request_id: str
    seller_vkey: str
    public_key: str
    payload_hash: str


def _funds(requested_funds: Funds | None) -> list[dict[str, str]] | None:
    if requested_funds is None:
        return None
    return [{"amount": str(f["amount"]), "unit": str(f["unit"])} for f in requested_funds]


def payload_of(
    *,
    input_hash: str,
    agent_identifier: str,
    purchaser_identifier: str,
    seller_identifier: str,
    requested_funds: Funds | None,
    times: PaymentTimes,
    seller_address: str,
) -> str:
    """§7.1 steps 2-3: the canonical JSON text that is hashed and signed."""
    payload: dict[str, Any] = {
        "inputHash": input_hash,
        "agentIdentifier": agent_identifier,
        "purchaserIdentifier": purchaser_identifier,
        "sellerIdentifier": seller_identifier,
        "RequestedFunds": _funds(requested_funds),
        "payByTime": str(times.pay_by_time),
        "submitResultTime": str(times.submit_result_time),
        "unlockTime": str(times.unlock_time),
        "externalDisputeUnlockTime": str(times.external_dispute_unlock_time),
        "sellerAddress": seller_address,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def public_key_of(signing_key: SigningKey | ExtendedSigningKey) -> bytes:
    """The 32-byte ed25519 public key (the chain code of an extended key dropped)."""
    verification_key = signing_key.to_verification_key()
    if isinstance(verification_key, ExtendedVerificationKey):
        verification_key = verification_key.to_non_extended()
    return bytes(verification_key.payload)[:PUBLIC_KEY_BYTES]


def _address_bytes(address: Address | str) -> bytes:
    parsed = Address.from_primitive(address) if isinstance(address, str) else address
    return bytes(parsed.to_primitive())


def _protected(public_key: bytes, address: bytes) -> bytes:
    encoded: bytes = cbor2.dumps({1: -8, 4: public_key, "address": address})
    return encoded


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    encoded: bytes = cbor2.dumps(["Signature1", protected, b"", payload])
    return encoded


def cose_key_of(public_key: bytes) -> bytes:
    encoded: bytes = cbor2.dumps({1: 1, 3: -8, -1: 6, -2: public_key})
    return encoded


def sign_payload(
    payload_hex: str, signing_key: SigningKey | ExtendedSigningKey, address: Address | str
) -> tuple[str, str]:
    """§7.1 step 4: (COSE_Sign1 hex, COSE_Key hex) over the raw bytes of `payload_hex`."""
    public_key = public_key_of(signing_key)
    payload = bytes.fromhex(payload_hex)
    protected = _protected(public_key, _address_bytes(address))
    signature = signing_key.sign(_sig_structure(protected, payload))
    message = cbor2.dumps([protected, UNPROTECTED, payload, signature])
    return message.hex(), cose_key_of(public_key).hex()


def new_seller_id(agent_identifier: str, nonce: str | None = None) -> str:
    """§7.1 step 1: sha256 hex of a fresh random nonce, followed by the agentIdentifier hex."""
    text = nonce if nonce is not None else secrets.token_hex(16)
    return hashlib.sha256(text.encode()).hexdigest() + agent_identifier.lower()


def create_blockchain_identifier(
    *,
    signing_key: SigningKey | ExtendedSigningKey,
    seller_address: str,
    agent_identifier: str,
    identifier_from_purchaser: str,
    input_hash: str,
    requested_funds: Funds | None,
    times: PaymentTimes,
    nonce: str | None = None,
) -> CreatedIdentifier:
    """§7.1 steps 1-5, signed by the selling wallet at `seller_address`."""
    seller_id = new_seller_id(agent_identifier, nonce)
    digest = payload_hash(
        payload_of(
            input_hash=input_hash,
            agent_identifier=agent_identifier,
            purchaser_identifier=identifier_from_purchaser,
            seller_identifier=seller_id,
            requested_funds=requested_funds,
            times=times,
            seller_address=seller_address,
        )
    )
    signature, key = sign_payload(digest, signing_key, seller_address)
    text = ids.encode_blockchain_identifier(seller_id, identifier_from_purchaser, signature, key)
    return CreatedIdentifier(text, seller_id, seller_id[:64], signature, key, digest)


@dataclass(frozen=True)
class _Cose:
    protected: bytes
    public_key: bytes
    payload: bytes
    signature: bytes


def _decode_cose(signature_hex: str, key_hex: str) -> _Cose:
    field = "blockchainIdentifier"
    try:
        message = cbor2.loads(bytes.fromhex(signature_hex))
        key = cbor2.loads(bytes.fromhex(key_hex))
        if isinstance(message, cbor2.CBORTag):
            message = message.value
        protected, _unprotected, payload, signature = message
        public_key = key[-2]
    except (ValueError, TypeError, KeyError, cbor2.CBORDecodeError) as error:
        raise IdentifierError(field, f"not a COSE_Sign1 and COSE_Key: {error}") from error
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise IdentifierError(field, "the COSE_Key holds no 32-byte public key")
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise IdentifierError(field, "malformed COSE_Sign1")
    return _Cose(protected, public_key, payload, signature)


def _check_signature(cose: _Cose) -> None:
    try:
        VerifyKey(cose.public_key).verify(
            _sig_structure(cose.protected, cose.payload), cose.signature
        )
    except (BadSignatureError, ValueError) as error:
        raise IdentifierError(
            "blockchainIdentifier", "the seller's signature is invalid"
        ) from error


def key_hash(public_key: bytes) -> str:
    return hashlib.blake2b(public_key, digest_size=28).hexdigest()


def _holder_key_hash(holder_address: str) -> str:
    try:
        address = Address.from_primitive(holder_address)
    except Exception as error:  # pycardano raises several kinds
        raise IdentifierError(
            "sellerVkey", f"the NFT holder address is unreadable: {error}"
        ) from error
    part = address.payment_part
    return bytes(part.payload).hex() if part is not None else ""


def _decode(identifier: str) -> ids.BlockchainIdentifier:
    try:
        return ids.decode_blockchain_identifier(identifier)
    except IdentifierError:
        raise
    except ids.IdentifierError as error:
        raise IdentifierError("blockchainIdentifier", str(error)) from error


def verify_blockchain_identifier(
    identifier: str,
    *,
    identifier_from_purchaser: str,
    agent_identifier: str,
    seller_vkey: str,
    holder_address: str,
    requested_funds: Funds | None,
    times: PaymentTimes,
    input_hash: str,
) -> VerifiedIdentifier:
    """§7.1 buyer-side verification; raises IdentifierError(field, reason) at the first failure."""
    parts = _decode(identifier)
    if parts.purchaser_id.lower() != identifier_from_purchaser.lower():
        raise IdentifierError("identifierFromPurchaser", "differs from the identifier's")
    if parts.agent_identifier != agent_identifier.lower():
        raise IdentifierError("agentIdentifier", "differs from the identifier's")
    cose = _decode_cose(parts.signature, parts.key)
    if key_hash(cose.public_key) != seller_vkey.lower():
        raise IdentifierError("sellerVkey", "is not the hash of the key that signed")
    if _holder_key_hash(holder_address) != seller_vkey.lower():
        raise IdentifierError("sellerVkey", "is not the payment key of the agent NFT's holder")
    digest = payload_hash(
        payload_of(
            input_hash=input_hash,
            agent_identifier=agent_identifier,
            purchaser_identifier=identifier_from_purchaser,
            seller_identifier=parts.seller_id,
            requested_funds=requested_funds,
            times=times,
            seller_address=holder_address,
        )
    )
    if cose.payload != bytes.fromhex(digest):
        raise IdentifierError(
            "blockchainIdentifier",
            "the signed payload differs from inputHash, RequestedFunds, times or sellerAddress",
        )
    _check_signature(cose)
    return VerifiedIdentifier(
        parts, parts.request_id, seller_vkey.lower(), cose.public_key.hex(), digest
    )
