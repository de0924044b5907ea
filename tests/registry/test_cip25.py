"""CIP-25 strings: chunking on write (never splitting a character), joining on read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.chain.builders import BuildError
from node.chain.registry_builders import chunk_strings as builder_chunk_strings
from registry.cip25 import (
    METADATA_CHUNK_BYTES,
    MetadataError,
    chunk_strings,
    chunk_text,
    join_chunks,
)


def test_short_strings_stay_whole_and_long_ones_are_cut_at_64_bytes() -> None:
    assert METADATA_CHUNK_BYTES == 64
    assert chunk_text("") == [""]
    assert chunk_text("x" * 64) == ["x" * 64]
    assert chunk_text("x" * 65) == ["x" * 64, "x"]
    assert chunk_text("é" * 40) == ["é" * 32, "é" * 8]  # 2-byte characters
    assert chunk_text("a" + "€" * 30) == ["a" + "€" * 21, "€" * 9]  # 64 is no boundary here
    assert chunk_text("abcdef", limit=4) == ["abcd", "ef"]


def test_a_limit_that_could_split_a_character_is_refused() -> None:
    with pytest.raises(ValueError, match="split a character"):
        chunk_text("abc", limit=3)


def test_chunk_strings_recurses_and_refuses_what_metadata_cannot_carry() -> None:
    assert chunk_strings({"a": "short", "b": ("x" * 65, 3, b"\x00")}) == {
        "a": "short",
        "b": [["x" * 64, "x"], 3, b"\x00"],
    }
    with pytest.raises(MetadataError, match="float"):
        chunk_strings({"price": 1.5})
    with pytest.raises(MetadataError, match="bool"):
        chunk_strings([True])
    with pytest.raises(MetadataError, match="NoneType"):
        chunk_strings({"legal": None})
    with pytest.raises(MetadataError, match="key over 64 bytes"):
        chunk_strings({"k" * 65: "v"})
    assert issubclass(MetadataError, ValueError)


def test_the_chain_builder_keeps_raising_build_errors() -> None:
    with pytest.raises(BuildError, match="float"):
        builder_chunk_strings({"price": 1.5})
    assert builder_chunk_strings({"a": "y" * 70}) == {"a": ["y" * 64, "y" * 6]}


def test_join_chunks() -> None:
    assert join_chunks("plain") == "plain"
    assert join_chunks(["ab", "cd"]) == "abcd"
    assert join_chunks([]) == ""
    assert join_chunks(["ab", 3]) is None
    assert join_chunks(7) is None
    assert join_chunks(None) is None
    assert join_chunks({"a": "b"}) is None


@given(st.text(), st.integers(min_value=4, max_value=80))
def test_chunks_rejoin_and_fit(text: str, limit: int) -> None:
    chunks = chunk_text(text, limit)
    assert "".join(chunks) == text
    assert all(len(chunk.encode()) <= limit for chunk in chunks)
    assert all(chunk for chunk in chunks) or chunks == [""]
    written = chunk_strings(text, limit)
    assert join_chunks(written) == text
