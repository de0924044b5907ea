"""Registry asset names (§5.1) and agent identifiers."""

from __future__ import annotations

import hashlib

import pytest
from pycardano import TransactionId, TransactionInput

from node.chain.registry_builders import registry_asset_name as builder_asset_name
from registry.identifiers import AgentIdentifier, registry_asset_name

POLICY = "7e8bdaf2b2b919a3a4b94002cafb50086c0c845fe535d07a77ab7f77"  # Masumi V1 preprod


def test_asset_name_is_blake2b_256_of_tx_id_and_big_endian_index() -> None:
    tx_id = bytes(range(32))
    expected = hashlib.blake2b(tx_id + b"\x00\x00\x01\x02", digest_size=32).digest()
    assert registry_asset_name(tx_id, 258) == expected
    assert len(expected) == 32
    assert registry_asset_name(tx_id, 0) != registry_asset_name(tx_id, 1)
    seed = TransactionInput(TransactionId(tx_id), 258)
    assert builder_asset_name(seed) == expected


@pytest.mark.parametrize(
    ("tx_id", "index", "message"),
    [
        (b"\x00" * 31, 0, "32 bytes"),
        (b"\x00" * 32, -1, "4 bytes"),
        (b"\x00" * 32, 2**32, "4 bytes"),
    ],
)
def test_asset_name_refuses_bad_inputs(tx_id: bytes, index: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        registry_asset_name(tx_id, index)


def test_parse_splits_policy_and_asset_name() -> None:
    name = "ab" * 32
    identifier = AgentIdentifier.parse(POLICY + name)
    assert identifier == AgentIdentifier(POLICY, name)
    assert str(identifier) == identifier.unit == POLICY + name
    assert AgentIdentifier.parse((POLICY + name).upper()) == identifier
    assert AgentIdentifier.parse(f" {POLICY} ") == AgentIdentifier(POLICY, "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "56-120 hex characters"),
        (POLICY[:-2], "56-120 hex characters"),
        (POLICY + "ab" * 33, "56-120 hex characters"),
        (POLICY + "zz", "is hex"),
        (POLICY + "abc", "whole bytes"),
    ],
)
def test_parse_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AgentIdentifier.parse(text)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ValueError, match="lower-case hex"):
        AgentIdentifier(POLICY.upper(), "")
    with pytest.raises(ValueError, match="56 hex characters"):
        AgentIdentifier("ab", "")
    with pytest.raises(ValueError, match="at most 64"):
        AgentIdentifier(POLICY, "ab" * 33)
