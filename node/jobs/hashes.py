"""MIP-004 hashes of a job (masumi-protocol.md §16), by node/payments/hashes.py's rule; an
output object is hashed (and delivered) as its RFC 8785 canonical JSON text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.payments import hashes
from node.payments.hashes import input_hash

__all__ = ["input_hash", "output_text", "result_hash"]


def output_text(output: str | Mapping[str, Any]) -> str:
    """What a result is as text: a string as it is, an object as canonical JSON."""
    return output if isinstance(output, str) else hashes.jcs(dict(output))


def result_hash(identifier_from_purchaser: str, output: str | Mapping[str, Any]) -> str:
    return hashes.result_hash(identifier_from_purchaser, output_text(output))
