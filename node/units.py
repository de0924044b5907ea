"""Amounts of one unit: lovelace ("" or "lovelace") or a native asset (policy id + name hex)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

LOVELACE = ""
MAX_AMOUNT = 2**63 - 1  # what a BIGINT column holds; far above any supply on Cardano
_ASSET_UNIT = re.compile(r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$")
_DIGITS = re.compile(r"^-?[0-9]{1,25}$")


def normalise_unit(unit: str) -> str:
    if unit in ("", "lovelace"):
        return LOVELACE
    if not _ASSET_UNIT.match(unit):
        raise ValueError("must be '' or 'lovelace', or a policy id and asset name in lowercase hex")
    return unit


def _amount(text: object, *, signed: bool) -> int:
    # Amounts travel as decimal strings; a float would lose the smallest unit.
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError("must be an integer in the smallest unit, as a decimal string")
    if isinstance(text, str) and not _DIGITS.match(text):
        raise ValueError("must be an integer in the smallest unit, as a decimal string")
    value = int(text)
    if not signed and value < 0:
        raise ValueError("must not be negative")
    if abs(value) > MAX_AMOUNT:
        raise ValueError("is too large")
    return value


def parse_amount(text: object) -> int:
    return _amount(text, signed=False)


def parse_signed_amount(text: object) -> int:
    return _amount(text, signed=True)


Unit = Annotated[str, Field(max_length=150), AfterValidator(normalise_unit)]

_AMOUNT_SCHEMA = {"type": "string", "pattern": "^[0-9]{1,25}$", "examples": ["1000000"]}
_DELTA_SCHEMA = {"type": "string", "pattern": "^-?[0-9]{1,25}$", "examples": ["-500000"]}

# Integers inside, decimal strings on the wire (a JSON number would lose precision in clients).
Amount = Annotated[
    int,
    BeforeValidator(parse_amount),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(_AMOUNT_SCHEMA),
]
SignedAmount = Annotated[
    int,
    BeforeValidator(parse_signed_amount),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(_DELTA_SCHEMA),
]


class UnitAmount(BaseModel):
    """`{"unit": "", "amount": "1000000"}` with a non-negative amount in the smallest unit."""

    model_config = ConfigDict(frozen=True)

    unit: Unit
    amount: Amount


class UnitDelta(BaseModel):
    """`{"unit": "", "amount": "-5"}`: an amount to add (or, negative, remove)."""

    model_config = ConfigDict(frozen=True)

    unit: Unit
    amount: SignedAmount
