"""MIP-004 hashes and the variants a counterparty may have used (§16)."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from node.payments.hashes import (
    input_hash,
    is_hash,
    match_input_hash,
    match_result_hash,
    result_hash,
)

IDENT = "0011223344556677"


def test_input_hash_vector() -> None:
    data = {"b": 1, "a": "x"}
    expected = hashlib.sha256(b'0011223344556677;{"a":"x","b":1}').hexdigest()
    assert input_hash(IDENT, data) == expected
    assert match_input_hash(IDENT, data, expected.upper()) == "rfc8785"


def test_result_hash_vector() -> None:
    expected = hashlib.sha256(b"0011223344556677;hello").hexdigest()
    assert result_hash(IDENT, "hello") == expected
    assert match_result_hash(IDENT, "hello", expected) == "raw"


def test_canonicaljson_variant_is_recognised_where_it_differs() -> None:
    data = {"x": 1e-07}  # JCS writes 1e-7, Python's json writes 1e-07
    theirs = hashlib.sha256(f'{IDENT};{{"x":1e-07}}'.encode()).hexdigest()
    assert theirs != input_hash(IDENT, data)
    assert match_input_hash(IDENT, data, theirs) == "canonicaljson"


def test_legacy_no_separator_variant() -> None:
    theirs = hashlib.sha256(f'{IDENT}{{"a":1}}'.encode()).hexdigest()
    assert match_input_hash(IDENT, {"a": 1}, theirs) == "rfc8785-no-separator"


def test_pip_masumi_escaped_output_is_recognised() -> None:
    output = 'say "hi"\n'
    theirs = hashlib.sha256(f'{IDENT};say \\"hi\\"\\n'.encode()).hexdigest()
    assert theirs != result_hash(IDENT, output)
    assert match_result_hash(IDENT, output, theirs) == "json-escaped"
    assert match_result_hash(IDENT, output, "00" * 32) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_key_order_never_changes_the_input_hash(data: dict[str, Any]) -> None:
    reordered = dict(reversed(list(data.items())))
    assert input_hash(IDENT, data) == input_hash(IDENT, reordered)
    assert is_hash(input_hash(IDENT, data))
    assert match_input_hash(IDENT, data, input_hash(IDENT, data)) == "rfc8785"


def test_is_hash() -> None:
    assert is_hash("ab" * 32)
    assert not is_hash("ab" * 31)
    assert not is_hash("zz" * 32)
