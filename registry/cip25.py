"""CIP-25 metadata strings: the ledger's 64-byte limit, chunking on write and joining on read.

A transaction metadata text string holds at most 64 UTF-8 bytes. MIP-002 readers accept every
string value either as a plain string or as a list of chunks they join (masumi-protocol.md §14).
Masumi nodes always write lists chunked at 60 bytes; we leave strings of up to 64 bytes alone and
cut longer ones into chunks of at most 64 bytes, never splitting a character. Keys cannot be
chunked, so a key over 64 bytes is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METADATA_CHUNK_BYTES = 64  # the ledger's limit for one metadata string
_WIDEST_CHARACTER = 4  # UTF-8 bytes of the widest code point


class MetadataError(ValueError):
    """A value transaction metadata cannot carry (a key over 64 bytes, a float, None, ...)."""


def chunk_text(text: str, limit: int = METADATA_CHUNK_BYTES) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, never splitting a character.

    The empty string is one empty chunk."""
    if limit < _WIDEST_CHARACTER:
        raise ValueError(f"a chunk limit under {_WIDEST_CHARACTER} bytes can split a character")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode())
        if size + width > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current or not chunks:
        chunks.append("".join(current))
    return chunks


def chunk_strings(value: Any, limit: int = METADATA_CHUNK_BYTES) -> Any:
    """Metadata with every string longer than `limit` bytes replaced by its list of chunks,
    recursing through mappings, lists and tuples (tuples come back as lists).

    Raises MetadataError for a key over 64 bytes (pycardano would let it through to the ledger)
    and for values metadata cannot carry: only str, int (not bool), bytes, lists and maps."""
    if isinstance(value, str):
        return value if len(value.encode()) <= limit else chunk_text(value, limit)
    if isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and len(key.encode()) > METADATA_CHUNK_BYTES:
                raise MetadataError(f"metadata key over {METADATA_CHUNK_BYTES} bytes: {key!r}")
        return {key: chunk_strings(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [chunk_strings(item, limit) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | bytes):
        raise MetadataError(f"metadata cannot carry {type(value).__name__} values: {value!r}")
    return value


def join_chunks(value: Any) -> str | None:
    """What a MIP-002 reader sees: a plain string as it is, a list of strings joined (an empty
    list is ""), anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    return None
