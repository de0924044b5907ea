"""MIP-004 hashes (masumi-protocol.md §16), pure functions.

- `input_hash(identifier_from_purchaser, input_data)`: lowercase hex
  sha256(utf8(identifier_from_purchaser + ";" + RFC 8785 JCS(input_data))).
- `result_hash(identifier_from_purchaser, output)`: sha256(utf8(identifier + ";" + output)).
- `match_input_hash` / `match_result_hash`: which variant of the ones in use reproduces a
  counterparty's hash (the name of the first that matches, or None). We always compute with
  the MIP's own rule; the variants only serve to say what a counterparty did.

Input variants: "rfc8785" (the MIP), "canonicaljson" (the MIP's Python reference and pip-masumi:
sorted keys, compact, UTF-8, not RFC 8785 for floats or non-ASCII key order), "rfc8785-no-separator"
(before the ";" separator). Result variants: "raw" (the MIP), "json-escaped" (pip-masumi hashes
`json.dumps(output)` without its quotes), "json-escaped-unicode" (the same, non-ASCII kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

HASH_HEX_CHARS = 64


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def jcs(value: Any) -> str:
    """RFC 8785 canonical JSON text."""
    encoded: bytes = rfc8785.dumps(value)
    return encoded.decode("utf-8")


def _canonicaljson(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(identifier_from_purchaser: str, input_data: Mapping[str, Any]) -> str:
    return _sha256(f"{identifier_from_purchaser};{jcs(dict(input_data))}")


def result_hash(identifier_from_purchaser: str, output: str) -> str:
    return _sha256(f"{identifier_from_purchaser};{output}")


INPUT_VARIANTS: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "rfc8785": input_hash,
    "canonicaljson": lambda ident, data: _sha256(f"{ident};{_canonicaljson(dict(data))}"),
    "rfc8785-no-separator": lambda ident, data: _sha256(f"{ident}{jcs(dict(data))}"),
}

RESULT_VARIANTS: dict[str, Callable[[str, str], str]] = {
    "raw": result_hash,
    "json-escaped": lambda ident, out: _sha256(f"{ident};{json.dumps(out)[1:-1]}"),
    "json-escaped-unicode": lambda ident, out: _sha256(
        f"{ident};{json.dumps(out, ensure_ascii=False)[1:-1]}"
    ),
}


def match_input_hash(
    identifier_from_purchaser: str, input_data: Mapping[str, Any], claimed: str
) -> str | None:
    """The name of the first input variant that gives `claimed`, or None."""
    wanted = claimed.lower()
    for name, compute in INPUT_VARIANTS.items():
        if compute(identifier_from_purchaser, input_data) == wanted:
            return name
    return None


def match_result_hash(identifier_from_purchaser: str, output: str, claimed: str) -> str | None:
    """The name of the first result variant that gives `claimed`, or None."""
    wanted = claimed.lower()
    for name, compute in RESULT_VARIANTS.items():
        if compute(identifier_from_purchaser, output) == wanted:
            return name
    return None


def is_hash(text: str) -> bool:
    """64 hex characters (a submitResultHash)."""
    return len(text) == HASH_HEX_CHARS and all(c in "0123456789abcdefABCDEF" for c in text)
