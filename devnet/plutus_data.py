"""Small constructors for Plutus `Data` values as the `uplc` machine represents them.

The script context is built directly as `uplc.ast` Data (not as pycardano objects) because that is
what the CEK machine consumes; going through CBOR for the whole context would cost time on every
evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2
from pycardano.serialization import CBORSerializable, RawCBOR, default_encoder
from uplc.ast import (
    PlutusByteString,
    PlutusConstr,
    PlutusData,
    PlutusInteger,
    PlutusList,
    PlutusMap,
    data_from_cbor,
)

__all__ = [
    "FALSE",
    "NOTHING",
    "TRUE",
    "PlutusData",
    "boolean",
    "bytestring",
    "constr",
    "data_from_cbor_bytes",
    "data_from_pycardano",
    "data_list",
    "data_map",
    "integer",
    "just",
    "maybe",
]


def constr(tag: int, *fields: PlutusData) -> PlutusData:
    return PlutusConstr(tag, list(fields))


def integer(value: int) -> PlutusData:
    return PlutusInteger(value)


def bytestring(value: bytes) -> PlutusData:
    return PlutusByteString(bytes(value))


def data_list(items: Iterable[PlutusData]) -> PlutusData:
    return PlutusList(list(items))


def data_map(pairs: Iterable[tuple[PlutusData, PlutusData]]) -> PlutusData:
    # insertion order is kept: callers pass the pairs in the ledger's order
    return PlutusMap(dict(pairs))


NOTHING: PlutusData = constr(1)
FALSE: PlutusData = constr(0)
TRUE: PlutusData = constr(1)


def just(value: PlutusData) -> PlutusData:
    return constr(0, value)


def maybe(value: PlutusData | None) -> PlutusData:
    return NOTHING if value is None else just(value)


def boolean(value: bool) -> PlutusData:
    return TRUE if value else FALSE


def data_from_cbor_bytes(raw: bytes) -> PlutusData:
    return data_from_cbor(bytes(raw))


def data_from_pycardano(value: Any) -> PlutusData:
    """Datum or redeemer as pycardano holds it (PlutusData, RawPlutusData, RawCBOR, or a bare
    int/bytes/list/dict, where bytes is a Data byte string) -> uplc Data."""
    if isinstance(value, RawCBOR):
        return data_from_cbor_bytes(value.cbor)
    if isinstance(value, CBORSerializable):
        return data_from_cbor_bytes(value.to_cbor())
    return data_from_cbor_bytes(cbor2.dumps(value, default=default_encoder))
