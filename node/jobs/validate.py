"""Input data checked against a MIP-003 input schema: every problem names its field
(`input_data.<id>`), unknown fields are refused, optional fields may be left out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from node.jobs.schemas import InputField

TEXT_TYPES = frozenset(
    {"text", "textarea", "string", "email", "password", "tel", "url", "date", "datetime-local",
     "time", "month", "week", "color", "file", "hidden", "search"}
)  # fmt: skip
NUMBER_TYPES = frozenset({"number", "range"})
BOOLEAN_TYPES = frozenset({"boolean", "checkbox"})
CHOICE_TYPES = frozenset({"option", "radio"})
FORMATS = {
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "url": re.compile(r"^https?://\S+$"),
    "nonempty": re.compile(r"\S"),
}


class InputError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _rule(spec: InputField, name: str) -> str | None:
    return next((v.value for v in spec.validations if v.validation == name), None)


def _optional(spec: InputField) -> bool:
    return spec.type == "none" or (_rule(spec, "optional") or "").lower() == "true"


def _limit(spec: InputField, name: str, field: str) -> Decimal | None:
    text = _rule(spec, name)
    if text is None:
        return None
    try:
        limit = Decimal(text)
    except ArithmeticError:  # decimal.InvalidOperation
        limit = Decimal("NaN")
    if not limit.is_finite():
        raise InputError(field, f"the input schema's {name} {text!r} is not a number")
    return limit


def _bounds(spec: InputField, measured: Decimal, what: str, field: str) -> None:
    low, high = _limit(spec, "min", field), _limit(spec, "max", field)
    if low is not None and measured < low:
        raise InputError(field, f"{what} must be at least {low}")
    if high is not None and measured > high:
        raise InputError(field, f"{what} must be at most {high}")


def _text(spec: InputField, value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise InputError(field, "must be a string")
    _bounds(spec, Decimal(len(value)), "its length", field)
    shape = _rule(spec, "format") or (spec.type if spec.type in FORMATS else None)
    pattern = FORMATS.get(shape or "")
    if pattern is not None and not pattern.search(value):
        raise InputError(field, f"must be of format {shape}")


def _number(spec: InputField, value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InputError(field, "must be a number")
    # an int as it is (str() refuses over 4300 digits); a float through its shortest digits
    measured = Decimal(value) if isinstance(value, int) else Decimal(str(value))
    if not measured.is_finite():  # JSON as Python reads it has NaN and Infinity
        raise InputError(field, "must be a finite number")
    _bounds(spec, measured, "it", field)


def _choice(spec: InputField, value: Any, field: str) -> None:
    allowed = [str(v) for v in (spec.data or {}).get("values", [])]
    chosen = value if isinstance(value, list) else [value]
    if not chosen or any(not isinstance(item, (str, int)) for item in chosen):
        raise InputError(field, "must be one of the listed values")
    if allowed and any(str(item) not in allowed for item in chosen):
        raise InputError(field, f"must be among {', '.join(allowed)}")


def check_value(spec: InputField, value: Any) -> None:
    field = f"input_data.{spec.id}"
    if spec.type in TEXT_TYPES:
        _text(spec, value, field)
    elif spec.type in NUMBER_TYPES:
        _number(spec, value, field)
    elif spec.type in BOOLEAN_TYPES and not isinstance(value, bool):
        raise InputError(field, "must be true or false")
    elif spec.type in CHOICE_TYPES:
        _choice(spec, value, field)


def check_input(schema: Sequence[InputField], input_data: Mapping[str, Any]) -> None:
    """Raise InputError for the first field that breaks the schema."""
    known = {spec.id for spec in schema}
    for key in input_data:
        if key not in known:
            raise InputError(f"input_data.{key}", "is not a field of the input schema")
    for spec in schema:
        if spec.id not in input_data or input_data[spec.id] is None:
            if not _optional(spec):
                raise InputError(f"input_data.{spec.id}", "is required")
            continue
        check_value(spec, input_data[spec.id])
