"""Original-bytes scanner for Conway transactions.

pycardano and cbor2 re-encode what they decode, and re-encoding can change bytes (indefinite
lists, set tags, integer widths). Hashes and signatures are over the bytes as submitted, so this
module only *locates* items in the original buffer: it never re-encodes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]  # [start, end) offsets into the buffer

_BREAK = 0xFF
_SET_TAG = 258


class CborScanError(ValueError):
    """The buffer is not well-formed CBOR where a scan expected an item."""


def _head(buf: bytes, pos: int) -> tuple[int, int, int | None, int]:
    """Decode an item head: (major, additional info, argument or None if indefinite, next pos)."""
    try:
        initial = buf[pos]
    except IndexError as exc:
        raise CborScanError(f"truncated CBOR at offset {pos}") from exc
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info in (24, 25, 26, 27):
        width = 1 << (info - 24)
        if pos + width > len(buf):
            raise CborScanError(f"truncated CBOR head at offset {pos}")
        return major, info, int.from_bytes(buf[pos : pos + width], "big"), pos + width
    if info == 31 and major in (2, 3, 4, 5):
        return major, info, None, pos
    raise CborScanError(f"unsupported CBOR head 0x{initial:02x} at offset {pos - 1}")


def item_end(buf: bytes, pos: int) -> int:
    """Offset just past the data item that starts at `pos`."""
    major, info, arg, pos = _head(buf, pos)
    if major in (0, 1):
        return pos
    if major in (2, 3):
        if arg is None:
            while buf[pos] != _BREAK:
                pos = item_end(buf, pos)
            return pos + 1
        end = pos + arg
        if end > len(buf):
            raise CborScanError("truncated CBOR string")
        return end
    if major in (4, 5):
        per_entry = 1 if major == 4 else 2
        if arg is None:
            while _peek(buf, pos) != _BREAK:
                pos = item_end(buf, pos)
            return pos + 1
        for _ in range(arg * per_entry):
            pos = item_end(buf, pos)
        return pos
    if major == 6:
        return item_end(buf, pos)
    # Major 7: simple values and floats; the head already consumed their bytes.
    del info
    return pos


def _peek(buf: bytes, pos: int) -> int:
    try:
        return buf[pos]
    except IndexError as exc:
        raise CborScanError(f"truncated CBOR at offset {pos}") from exc


def skip_tags(buf: bytes, pos: int) -> int:
    """Skip any tags (e.g. 258 for sets) in front of an item."""
    while _peek(buf, pos) >> 5 == 6:
        _, _, _, pos = _head(buf, pos)
    return pos


def array_items(buf: bytes, pos: int) -> list[Span]:
    """Spans of the items of the array at `pos` (a leading tag such as 258 is skipped)."""
    pos = skip_tags(buf, pos)
    major, _, count, pos = _head(buf, pos)
    if major != 4:
        raise CborScanError(f"expected an array at offset {pos}")
    spans: list[Span] = []
    while (len(spans) < count) if count is not None else _peek(buf, pos) != _BREAK:
        end = item_end(buf, pos)
        spans.append((pos, end))
        pos = end
    return spans


def map_items(buf: bytes, pos: int) -> list[tuple[Span, Span]]:
    """(key span, value span) of each entry of the map at `pos`."""
    pos = skip_tags(buf, pos)
    major, _, count, pos = _head(buf, pos)
    if major != 5:
        raise CborScanError(f"expected a map at offset {pos}")
    entries: list[tuple[Span, Span]] = []
    while (len(entries) < count) if count is not None else _peek(buf, pos) != _BREAK:
        key_end = item_end(buf, pos)
        value_end = item_end(buf, key_end)
        entries.append(((pos, key_end), (key_end, value_end)))
        pos = value_end
    return entries


def uint_at(buf: bytes, pos: int) -> int:
    major, _, value, _ = _head(buf, pos)
    if major != 0 or value is None:
        raise CborScanError(f"expected an unsigned integer at offset {pos}")
    return value


def bytes_at(buf: bytes, pos: int) -> bytes:
    """Content of the definite byte string at `pos` (e.g. a script inside a witness set)."""
    major, _, length, start = _head(buf, pos)
    if major != 2 or length is None:
        raise CborScanError(f"expected a definite byte string at offset {pos}")
    return buf[start : start + length]


@dataclass(frozen=True)
class TxSpans:
    """The original bytes of the parts of a transaction that hashes are computed over."""

    body: bytes
    witness_set: bytes
    auxiliary_data: bytes | None
    outputs: list[bytes]
    collateral_return: bytes | None
    redeemers: bytes | None
    datums: bytes | None
    datum_items: list[bytes] = field(default_factory=list)
    native_scripts: list[bytes] = field(default_factory=list)
    # (language id 0/1/2, script bytes = content of the witness byte string)
    plutus_scripts: list[tuple[int, bytes]] = field(default_factory=list)
    # Witness set keys present, so an empty-but-present field can be told from an absent one.
    witness_keys: frozenset[int] = frozenset()


_PLUTUS_WITNESS_KEYS = {3: 0, 6: 1, 7: 2}


def scan_transaction(buf: bytes) -> TxSpans:
    """Locate body, witness set, outputs, redeemers, datums and scripts in a transaction."""
    top = array_items(buf, 0)
    if len(top) != 4 or top[-1][1] != len(buf):
        raise CborScanError("a transaction is an array of 4 items with nothing after it")
    body_span, wits_span, _is_valid, aux_span = top
    body = buf[body_span[0] : body_span[1]]
    witness_set = buf[wits_span[0] : wits_span[1]]
    auxiliary = buf[aux_span[0] : aux_span[1]]
    outputs: list[bytes] = []
    collateral_return = None
    for key, value in map_items(body, 0):
        key_id = uint_at(body, key[0])
        if key_id == 1:
            outputs = [body[s:e] for s, e in array_items(body, value[0])]
        elif key_id == 16:
            collateral_return = body[value[0] : value[1]]
    return _scan_witnesses(
        witness_set,
        TxSpans(
            body=body,
            witness_set=witness_set,
            auxiliary_data=None if auxiliary == b"\xf6" else auxiliary,
            outputs=outputs,
            collateral_return=collateral_return,
            redeemers=None,
            datums=None,
        ),
    )


def _scan_witnesses(wits: bytes, base: TxSpans) -> TxSpans:
    redeemers = datums = None
    datum_items: list[bytes] = []
    native: list[bytes] = []
    plutus: list[tuple[int, bytes]] = []
    keys: set[int] = set()
    for key, value in map_items(wits, 0):
        key_id = uint_at(wits, key[0])
        keys.add(key_id)
        if key_id == 5:
            redeemers = wits[value[0] : value[1]]
        elif key_id == 4:
            datums = wits[value[0] : value[1]]
            datum_items = [wits[s:e] for s, e in array_items(wits, value[0])]
        elif key_id == 1:
            native = [wits[s:e] for s, e in array_items(wits, value[0])]
        elif key_id in _PLUTUS_WITNESS_KEYS:
            lang = _PLUTUS_WITNESS_KEYS[key_id]
            plutus += [(lang, bytes_at(wits, s)) for s, _ in array_items(wits, value[0])]
    return TxSpans(
        body=base.body,
        witness_set=base.witness_set,
        auxiliary_data=base.auxiliary_data,
        outputs=base.outputs,
        collateral_return=base.collateral_return,
        redeemers=redeemers,
        datums=datums,
        datum_items=datum_items,
        native_scripts=native,
        plutus_scripts=plutus,
        witness_keys=frozenset(keys),
    )


def output_parts(output: bytes) -> dict[int, Span]:
    """Spans of the fields of an output: 0 address, 1 value, 2 datum option / datum hash,
    3 script reference. Legacy array outputs map position to the same keys (2 = datum hash)."""
    pos = skip_tags(output, 0)
    major = output[pos] >> 5
    if major == 4:
        return dict(enumerate(array_items(output, pos)))
    return {uint_at(output, k[0]): v for k, v in map_items(output, pos)}
