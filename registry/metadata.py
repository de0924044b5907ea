"""MIP-002 registry metadata: the model, its on-chain form, and a reader that reports every fault.

The on-chain object (label 721 → policy id → asset name) has the keys Masumi nodes write and read
(masumi-protocol.md §14): `name`, `description`, `api_base_url`, `example_output`, `capability`,
`author`, `legal`, `tags`, `image`, `metadata_version` "1" and `agentPricing`. We add the seed-002
keys `pricing_mode` and `pricing` [{quantity, unit}], which Masumi readers ignore.

Four pricing modes (seed 002) and how Masumi nodes see them through `agentPricing`:

| pricing_mode  | amounts | agentPricing                                   | pricing        |
| ------------- | ------- | ---------------------------------------------- | -------------- |
| Free          | none    | {pricingType: Free}                            | omitted        |
| Fixed         | one     | {pricingType: Fixed, fixedPricing: [the one]}  | [the one]      |
| Fixed+prices  | ≥ 2     | {pricingType: Dynamic}                         | [the tiers]    |
| Dynamic       | none    | {pricingType: Dynamic}                         | omitted        |

Fixed+prices is Dynamic to a Masumi node: a multi-entry Fixed means "pay all of these together"
there, while Fixed+prices means "the buyer picks one tier"; the chosen tier is signed into each job,
which is what Masumi's Dynamic means.

An agent registered by a Masumi node has no `pricing_mode`. Its mode is inferred from
`agentPricing`: Fixed → Fixed with every fixedPricing entry as an amount (several entries are paid
together: the model then has `paid_together=True`, the only way a Fixed price has more than one
amount), Free → Free, Dynamic → Dynamic, or Fixed+prices when `pricing` lists ≥ 2 tiers.

`decode` never raises. It reports every violation it finds and returns the model whenever the
agent's identity, endpoint and price are certain. Fatal (no model): the metadata is not an object;
a required key (name, api_base_url, author, author.name, tags with at least one tag, image,
metadata_version) is missing or of the wrong type; metadata_version is not "1"; api_base_url is
not an http(s) URL with a host; anything that leaves the price uncertain (agentPricing missing or
unknown, a bad fixedPricing or pricing entry that decides the amounts, an unknown pricing_mode, or
pricing_mode / pricing disagreeing with agentPricing). Not fatal (the model comes back): lengths
and counts over the limits, a string or chunk over 64 bytes, optional fields of the wrong type
(dropped), tags written as chunk lists, an amount written as a number instead of a string, and keys
V1 metadata must not carry (`supported_payment_sources`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from registry.cip25 import METADATA_CHUNK_BYTES, chunk_strings

# Masumi's default registry NFT image: every Masumi node writes it (masumi-protocol.md §2.2,
# masumi-payment-service DEFAULTS.DEFAULT_IMAGE), and Masumi's reader requires an `image`. Using
# the same one makes our agents look like any other in explorers and registry UIs.
DEFAULT_IMAGE: Final = "ipfs://QmXXW7tmBgpQpXoJMAMEXXFe9dyQcrLFKGuzxnHDnbKC7f"

METADATA_VERSION: Final = "1"
LOVELACE: Final = "lovelace"
# How fixedPricing writes ADA. Masumi's unit for lovelace is "" (masumi-protocol.md §2.3); its
# writer chunks every string, so "" goes on chain as an empty chunk list, and its reader wants a
# non-empty string or a list of strings: [] is the one spelling both sides read.
ONCHAIN_LOVELACE_UNIT: Final[list[str]] = []

MAX_TEXT: Final = 250  # name, description, api_base_url, urls, author and legal fields (§9.3)
MAX_SHORT: Final = 60  # example output name and mime type; capability version (Masumi's reader)
MAX_TAGS: Final = 15
MAX_TAG_CHARS: Final = 63  # Masumi's POST /registry; tags are plain strings (≤ 64 bytes) on chain
MAX_EXAMPLE_OUTPUTS: Final = 25
MAX_AMOUNTS: Final = 25  # Masumi's reader accepts at most 25 fixedPricing entries
MAX_QUANTITY: Final = 2**63 - 1  # the ledger's largest token quantity

LENIENT: Final = "lenient"  # validation context key: skip the length and count limits

_POLICY_HEX = 56
_MAX_ASSET_NAME_HEX = 64
_HEX = re.compile(r"[0-9a-f]*")
_DIGITS = re.compile(r"[0-9]+")


class PricingMode(StrEnum):
    FREE = "Free"
    FIXED = "Fixed"
    FIXED_PRICES = "Fixed+prices"
    DYNAMIC = "Dynamic"


# agentPricing.pricingType as Masumi nodes must read each mode
MASUMI_PRICING_TYPE: Final[Mapping[PricingMode, str]] = {
    PricingMode.FREE: "Free",
    PricingMode.FIXED: "Fixed",
    PricingMode.FIXED_PRICES: "Dynamic",
    PricingMode.DYNAMIC: "Dynamic",
}


def normalise_unit(unit: str) -> str:
    """ "lovelace" for ADA ("" or "lovelace"), else policy id (56 hex) + asset name (0-64 hex),
    lower-cased. ValueError says what is wrong."""
    if unit in ("", LOVELACE):
        return LOVELACE
    value = unit.lower()
    if not _HEX.fullmatch(value):
        raise ValueError(f'unit must be "lovelace" or policy id + asset name in hex: {unit!r}')
    if not _POLICY_HEX <= len(value) <= _POLICY_HEX + _MAX_ASSET_NAME_HEX or len(value) % 2:
        raise ValueError(
            "unit must be a 56-hex policy id followed by an asset name of 0-32 bytes "
            f"(56-120 hex digits, even), not {len(value)} digits"
        )
    return value


def _lenient(info: ValidationInfo) -> bool:
    return isinstance(info.context, Mapping) and bool(info.context.get(LENIENT))


def _limit(value: str | None, limit: int, info: ValidationInfo) -> str | None:
    if value is not None and len(value) > limit and not _lenient(info):
        raise ValueError(f"at most {limit} characters, not {len(value)}")
    return value


def _required(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


class Amount(BaseModel):
    """An amount in the smallest unit of an asset: `quantity` is an int, never a float."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: int
    unit: str

    @field_validator("quantity", mode="before")
    @classmethod
    def _whole_positive(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"quantity must be an integer in the asset's smallest unit, "
                f"not {type(value).__name__}"
            )
        if value <= 0:
            raise ValueError(f"quantity must be greater than 0, not {value}")
        if value > MAX_QUANTITY:
            raise ValueError(f"quantity must be at most {MAX_QUANTITY}")
        return value

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"unit must be a string, not {type(value).__name__}")
        return normalise_unit(value)


class Capability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_TEXT, info)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_SHORT, info)


class Author(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    contact_email: str | None = None
    contact_other: str | None = None
    organization: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(_required(value), MAX_TEXT, info)

    @field_validator("contact_email", "contact_other", "organization")
    @classmethod
    def _optional(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_TEXT, info)


class Legal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    privacy_policy: str | None = None
    terms: str | None = None
    other: str | None = None

    @field_validator("privacy_policy", "terms", "other")
    @classmethod
    def _optional(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_TEXT, info)


class ExampleOutput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    mime_type: str
    url: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_SHORT, info)

    @field_validator("mime_type")
    @classmethod
    def _mime_type(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(_required(value), MAX_SHORT, info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_TEXT, info)


def check_http_url(value: str) -> str:
    """`value` if it is an http(s) URL with a host; ValueError otherwise."""
    if any(char.isspace() for char in value):
        raise ValueError("must be a URL without spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"must be an http(s) URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must be an http or https URL, not {value!r}")
    if not host:
        raise ValueError(f"must name a host: {value!r}")
    return value


def _tag(value: str, info: ValidationInfo) -> str:
    _required(value)
    if not _lenient(info) and (
        len(value) > MAX_TAG_CHARS or len(value.encode()) > METADATA_CHUNK_BYTES
    ):
        raise ValueError(
            f"at most {MAX_TAG_CHARS} characters and {METADATA_CHUNK_BYTES} bytes "
            "(a tag is one plain metadata string)"
        )
    return value


Tag = Annotated[str, AfterValidator(_tag)]


class AgentMetadata(BaseModel):
    """An agent's MIP-002 metadata. Field names are the on-chain keys, plus the pricing.

    Validated with `context={"lenient": True}`, the length and count limits are not checked (the
    reader uses this to hand back agents whose only faults are over-long texts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str | None = None
    api_base_url: str
    example_output: list[ExampleOutput] = []
    capability: Capability | None = None
    author: Author
    legal: Legal | None = None
    tags: list[Tag]
    image: str = DEFAULT_IMAGE
    metadata_version: Literal["1"] = METADATA_VERSION
    pricing_mode: PricingMode
    # True only for a Fixed price made of several amounts the buyer pays together, as a Masumi
    # node registers with a multi-entry fixedPricing. Seed 002's Fixed is one amount.
    paid_together: bool = False
    amounts: list[Amount] = []

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(_required(value), MAX_TEXT, info)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _limit(value, MAX_TEXT, info)

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url(cls, value: str, info: ValidationInfo) -> str | None:
        return _limit(check_http_url(value), MAX_TEXT, info)

    @field_validator("example_output")
    @classmethod
    def _example_output(
        cls, value: list[ExampleOutput], info: ValidationInfo
    ) -> list[ExampleOutput]:
        if len(value) > MAX_EXAMPLE_OUTPUTS and not _lenient(info):
            raise ValueError(f"at most {MAX_EXAMPLE_OUTPUTS} example outputs, not {len(value)}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value:
            raise ValueError("at least one tag is required")
        if len(value) > MAX_TAGS and not _lenient(info):
            raise ValueError(f"at most {MAX_TAGS} tags, not {len(value)}")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return _required(value)

    @field_validator("paid_together")
    @classmethod
    def _paid_together(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("pricing_mode") not in (None, PricingMode.FIXED):
            raise ValueError("only a Fixed price can be several amounts paid together")
        return value

    @field_validator("amounts", mode="after")
    @classmethod
    def _amounts(cls, value: list[Amount], info: ValidationInfo) -> list[Amount]:
        mode = info.data.get("pricing_mode")
        if mode is None:  # pricing_mode itself failed; its error says so
            return value
        count = len(value)
        if count > MAX_AMOUNTS and not _lenient(info):
            raise ValueError(f"at most {MAX_AMOUNTS} amounts, not {count}")
        if mode in (PricingMode.FREE, PricingMode.DYNAMIC) and count:
            raise ValueError(f"a {mode} agent has no amounts")
        if mode is PricingMode.FIXED:
            if info.data.get("paid_together"):
                if count < 2:
                    raise ValueError("several amounts paid together means at least 2")
            elif count != 1:
                raise ValueError(f"a Fixed agent has exactly one amount, not {count}")
        if mode is PricingMode.FIXED_PRICES and count < 2:
            raise ValueError(f"Fixed+prices needs at least 2 amounts (tiers), not {count}")
        return value


# writing ------------------------------------------------------------------------------------


def _without_none(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


def _agent_pricing(metadata: AgentMetadata) -> dict[str, Any]:
    pricing_type = MASUMI_PRICING_TYPE[metadata.pricing_mode]
    if pricing_type != "Fixed":
        return {"pricingType": pricing_type}
    return {
        "pricingType": "Fixed",
        "fixedPricing": [
            {
                "unit": list(ONCHAIN_LOVELACE_UNIT) if amount.unit == LOVELACE else amount.unit,
                "amount": str(amount.quantity),
            }
            for amount in metadata.amounts
        ],
    }


def to_onchain(metadata: AgentMetadata) -> dict[str, Any]:
    """The V1 metadata object, strings not chunked (the chain builder chunks them)."""
    out: dict[str, Any] = {"name": metadata.name}
    if metadata.description is not None:
        out["description"] = metadata.description
    out["api_base_url"] = metadata.api_base_url
    out["example_output"] = [
        {"name": item.name, "mime_type": item.mime_type, "url": item.url}
        for item in metadata.example_output
    ]
    if metadata.capability is not None:
        out["capability"] = {
            "name": metadata.capability.name,
            "version": metadata.capability.version,
        }
    author = metadata.author
    out["author"] = _without_none(
        {
            "name": author.name,
            "contact_email": author.contact_email,
            "contact_other": author.contact_other,
            "organization": author.organization,
        }
    )
    if metadata.legal is not None:
        legal = metadata.legal
        out["legal"] = _without_none(
            {"privacy_policy": legal.privacy_policy, "terms": legal.terms, "other": legal.other}
        )
    out["tags"] = list(metadata.tags)
    out["agentPricing"] = _agent_pricing(metadata)
    out["image"] = metadata.image
    out["metadata_version"] = metadata.metadata_version
    out["pricing_mode"] = metadata.pricing_mode.value
    if metadata.amounts:
        out["pricing"] = [
            {"quantity": amount.quantity, "unit": amount.unit} for amount in metadata.amounts
        ]
    return out


def to_metadatum(metadata: AgentMetadata) -> dict[str, Any]:
    """`to_onchain` with every string over 64 bytes as a list of chunks, as it goes on chain."""
    chunked: dict[str, Any] = chunk_strings(to_onchain(metadata))
    return chunked


# reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One fault of on-chain metadata. `path` names the on-chain key, e.g.
    "agentPricing.fixedPricing[0].amount" or "name"; "metadata" is the whole object."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class DecodedMetadata:
    metadata: AgentMetadata | None
    violations: list[Violation] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """A model and no violation at all."""
        return self.metadata is not None and not self.violations


_MISSING: Final[Any] = object()
_PRICING_TYPES: Final = ("Fixed", "Free", "Dynamic")
_EXAMPLE_KEYS: Final = ("name", "mime_type", "url")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Walks raw metadata, collecting violations; `fatal` once the model cannot be trusted."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.fatal = False

    def add(self, path: str, message: str, *, fatal: bool = False) -> None:
        violation = Violation(path, message)
        if violation not in self.violations:
            self.violations.append(violation)
        self.fatal = self.fatal or fatal

    def text(
        self, raw: Mapping[str, Any], key: str, path: str, *, required: bool, plain: bool = False
    ) -> str | None:
        """The string at `key` (chunks joined), None when absent or unusable. A missing or
        unusable required value is fatal."""
        value = raw.get(key, _MISSING)
        where = _key(path, key)
        if value is _MISSING:
            if required:
                self.add(where, "required", fatal=True)
            return None
        return self.string(value, where, required=required, plain=plain)

    def string(self, value: Any, where: str, *, required: bool, plain: bool = False) -> str | None:
        if isinstance(value, str):
            self._chunk_size(value, where, "string")
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            for index, chunk in enumerate(value):
                self._chunk_size(chunk, _index(where, index), "chunk")
            if plain:
                self.add(where, "must be a plain string; Masumi readers do not join chunks here")
            return "".join(value)
        expected = "a string" if plain else "a string or a list of string chunks"
        self.add(where, f"must be {expected}, not {_kind(value)}", fatal=required)
        return None

    def _chunk_size(self, text: str, where: str, what: str) -> None:
        size = len(text.encode())
        if size > METADATA_CHUNK_BYTES:
            self.add(
                where, f"{what} is {size} bytes; a metadata string holds {METADATA_CHUNK_BYTES}"
            )

    def mapping(
        self, raw: Mapping[str, Any], key: str, path: str, *, required: bool
    ) -> Mapping[str, Any] | None:
        value = raw.get(key, _MISSING)
        where = _key(path, key)
        if value is _MISSING:
            if required:
                self.add(where, "required", fatal=True)
            return None
        if not isinstance(value, Mapping):
            self.add(where, f"must be an object, not {_kind(value)}", fatal=required)
            return None
        return value

    def sequence(
        self, raw: Mapping[str, Any], key: str, path: str, *, required: bool
    ) -> list[Any] | None:
        value = raw.get(key, _MISSING)
        where = _key(path, key)
        if value is _MISSING:
            if required:
                self.add(where, "required", fatal=True)
            return None
        if not isinstance(value, list | tuple):
            self.add(where, f"must be a list, not {_kind(value)}", fatal=required)
            return None
        return list(value)

    def unit(self, value: Any, where: str) -> str | None:
        text = self.string(value, where, required=True)
        if text is None:
            return None
        try:
            return normalise_unit(text)
        except ValueError as exc:
            self.add(where, str(exc), fatal=True)
            return None


def _version(reader: _Reader, raw: Mapping[str, Any]) -> None:
    value = raw.get("metadata_version", _MISSING)
    if value is _MISSING:
        reader.add("metadata_version", "required", fatal=True)
        return
    if isinstance(value, int) and not isinstance(value, bool):
        text: str | None = str(value)  # Masumi's reader coerces numbers too
    else:
        text = reader.string(value, "metadata_version", required=True)
    if text is None or text == METADATA_VERSION:
        return
    if text == "2":
        reader.add(
            "metadata_version",
            '"2" (MIP-002 V2, pricing per supported payment source) is not supported by this '
            'reader; V1 metadata has "1"',
            fatal=True,
        )
    else:
        reader.add("metadata_version", f'must be "1", not {text!r}', fatal=True)


def _example_outputs(
    reader: _Reader, raw: Mapping[str, Any]
) -> tuple[list[dict[str, str]], list[int]]:
    items = reader.sequence(raw, "example_output", "", required=False)
    found: list[dict[str, str]] = []
    origins: list[int] = []
    for index, item in enumerate(items or []):
        where = _index("example_output", index)
        if not isinstance(item, Mapping):
            reader.add(where, f"must be an object, not {_kind(item)}")
            continue
        fields = {key: reader.text(item, key, where, required=False) for key in _EXAMPLE_KEYS}
        missing = [key for key in _EXAMPLE_KEYS if key not in item]
        for key in missing:
            reader.add(_key(where, key), "required")
        if all(value is not None for value in fields.values()):
            found.append({key: value for key, value in fields.items() if value is not None})
            origins.append(index)
    return found, origins


def _optional_object(
    reader: _Reader, raw: Mapping[str, Any], key: str, fields: tuple[str, ...]
) -> dict[str, str] | None:
    found = reader.mapping(raw, key, "", required=False)
    if found is None:
        return None
    values = {name: reader.text(found, name, key, required=False) for name in fields}
    return {name: value for name, value in values.items() if value is not None}


def _capability(reader: _Reader, raw: Mapping[str, Any]) -> dict[str, str] | None:
    found = reader.mapping(raw, "capability", "", required=False)
    if found is None:
        return None
    values = {}
    for key in ("name", "version"):
        value = reader.text(found, key, "capability", required=False)
        if key not in found:
            reader.add(_key("capability", key), "required")
        values[key] = value
    if any(value is None for value in values.values()):
        return None  # dropped: a capability needs both
    return {key: value for key, value in values.items() if value is not None}


def _author(reader: _Reader, raw: Mapping[str, Any]) -> dict[str, str] | None:
    found = reader.mapping(raw, "author", "", required=True)
    if found is None:
        return None
    name = reader.text(found, "name", "author", required=True)
    values = {
        key: reader.text(found, key, "author", required=False)
        for key in ("contact_email", "contact_other", "organization")
    }
    if name is None:
        return None
    return {"name": name} | {key: value for key, value in values.items() if value is not None}


def _tags(reader: _Reader, raw: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    items = reader.sequence(raw, "tags", "", required=True)
    if items is None:
        return [], []
    tags: list[str] = []
    origins: list[int] = []
    for index, item in enumerate(items):
        tag = reader.string(item, _index("tags", index), required=False, plain=True)
        if tag is not None:
            tags.append(tag)
            origins.append(index)
    if not tags:
        reader.add("tags", "at least one tag is required", fatal=True)
    return tags, origins


def _fixed_pricing(reader: _Reader, agent_pricing: Mapping[str, Any]) -> list[Amount] | None:
    path = "agentPricing.fixedPricing"
    entries = reader.sequence(agent_pricing, "fixedPricing", "agentPricing", required=True)
    if entries is None:
        return None
    if not entries:
        reader.add(path, "a Fixed price needs at least one entry", fatal=True)
        return None
    amounts: list[Amount] = []
    broken = False
    for index, entry in enumerate(entries):
        where = _index(path, index)
        if not isinstance(entry, Mapping):
            reader.add(where, f"must be an object, not {_kind(entry)}", fatal=True)
            broken = True
            continue
        quantity = _fixed_amount(reader, entry.get("amount", _MISSING), _key(where, "amount"))
        unit: str | None = None
        if "unit" in entry:
            unit = reader.unit(entry["unit"], _key(where, "unit"))
        else:
            reader.add(_key(where, "unit"), "required", fatal=True)
        if quantity is None or unit is None:
            broken = True
            continue
        amounts.append(Amount(quantity=quantity, unit=unit))
    return None if broken else amounts


def _fixed_amount(reader: _Reader, value: Any, where: str) -> int | None:
    """A fixedPricing amount: a string of digits > 0 (a bare integer is read, and reported)."""
    if value is _MISSING:
        reader.add(where, "required", fatal=True)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        reader.add(where, "must be a string of digits; Masumi nodes write amounts as strings")
        quantity = value
    else:
        text = reader.string(value, where, required=True)
        if text is None:
            return None
        if not _DIGITS.fullmatch(text):
            reader.add(where, f"must be a positive integer string, not {text!r}", fatal=True)
            return None
        quantity = int(text)
    problem = _quantity_problem(quantity)
    if problem is not None:
        reader.add(where, problem, fatal=True)
        return None
    return quantity


def _quantity_problem(quantity: int) -> str | None:
    if quantity <= 0:
        return f"must be greater than 0, not {quantity}"
    if quantity > MAX_QUANTITY:
        return f"must be at most {MAX_QUANTITY}"
    return None


@dataclass
class _Entries:
    """seed 002's `pricing` as read: the good entries, and whether any entry was bad."""

    amounts: list[Amount]
    broken: bool

    @property
    def empty(self) -> bool:
        return not self.amounts and not self.broken


def _pricing_entries(reader: _Reader, raw: Mapping[str, Any]) -> _Entries | None:
    """seed 002's `pricing`, None when absent. Bad entries are reported here as not fatal: the
    caller makes them fatal when they decide the amounts."""
    entries = reader.sequence(raw, "pricing", "", required=False)
    if entries is None:
        broken = "pricing" in raw
        return _Entries([], broken=True) if broken else None
    found = _Entries([], broken=False)
    for index, entry in enumerate(entries):
        where = _index("pricing", index)
        if not isinstance(entry, Mapping):
            reader.add(where, f"must be an object, not {_kind(entry)}")
            found.broken = True
            continue
        quantity = _pricing_quantity(reader, entry.get("quantity", _MISSING), where)
        unit = _pricing_unit(reader, entry.get("unit", _MISSING), where)
        if quantity is None or unit is None:
            found.broken = True
            continue
        found.amounts.append(Amount(quantity=quantity, unit=unit))
    return found


def _pricing_quantity(reader: _Reader, value: Any, where: str) -> int | None:
    where = _key(where, "quantity")
    if value is _MISSING:
        reader.add(where, "required")
    elif isinstance(value, bool) or not isinstance(value, int):
        reader.add(where, f"must be an integer, not {_kind(value)}")
    elif (problem := _quantity_problem(value)) is not None:
        reader.add(where, problem)
    else:
        return value
    return None


def _pricing_unit(reader: _Reader, value: Any, where: str) -> str | None:
    where = _key(where, "unit")
    if value is _MISSING:
        reader.add(where, "required")
        return None
    text = reader.string(value, where, required=False)
    if text is None:
        return None
    try:
        return normalise_unit(text)
    except ValueError as exc:
        reader.add(where, str(exc))
        return None


def _same_amounts(first: list[Amount], second: list[Amount]) -> bool:
    def key(amounts: list[Amount]) -> list[tuple[str, int]]:
        return sorted((amount.unit, amount.quantity) for amount in amounts)

    return key(first) == key(second)


@dataclass
class _Pricing:
    mode: PricingMode | None = None
    amounts: list[Amount] = field(default_factory=list)
    paid_together: bool = False
    amounts_path: str = "pricing"


_FIXED_PATH: Final = "agentPricing.fixedPricing"


def _pricing(reader: _Reader, raw: Mapping[str, Any]) -> _Pricing:
    pricing_type: str | None = None
    fixed: list[Amount] | None = None
    agent_pricing = reader.mapping(raw, "agentPricing", "", required=True)
    if agent_pricing is not None:
        pricing_type = reader.text(agent_pricing, "pricingType", "agentPricing", required=True)
        if pricing_type is not None and pricing_type not in _PRICING_TYPES:
            reader.add(
                "agentPricing.pricingType",
                f"unknown pricing type {pricing_type!r}; expected Fixed, Free or Dynamic",
                fatal=True,
            )
            pricing_type = None
        if pricing_type == "Fixed":
            fixed = _fixed_pricing(reader, agent_pricing)
        elif pricing_type is not None and "fixedPricing" in agent_pricing:
            reader.add(_FIXED_PATH, f"only a Fixed price has fixedPricing, not {pricing_type}")
    entries = _pricing_entries(reader, raw)
    declared: PricingMode | None = None
    if "pricing_mode" in raw:
        text = reader.string(raw["pricing_mode"], "pricing_mode", required=True)
        if text is None:
            return _Pricing()  # an unreadable mode: fatal, reported
        try:
            declared = PricingMode(text)
        except ValueError:
            reader.add(
                "pricing_mode",
                f"unknown pricing mode {text!r}; expected Free, Fixed, Fixed+prices or Dynamic",
                fatal=True,
            )
            return _Pricing()
    if pricing_type is None:
        return _Pricing()
    if declared is not None:
        return _declared_pricing(reader, declared, pricing_type, fixed, entries)
    return _inferred_pricing(reader, pricing_type, fixed, entries)


def _declared_pricing(
    reader: _Reader,
    mode: PricingMode,
    pricing_type: str,
    fixed: list[Amount] | None,
    entries: _Entries | None,
) -> _Pricing:
    """pricing_mode given (we registered it): `pricing` holds the amounts, and agentPricing must
    say the same to Masumi nodes."""
    expected = MASUMI_PRICING_TYPE[mode]
    if pricing_type != expected:
        reader.add(
            "agentPricing.pricingType",
            f"is {pricing_type}, but pricing_mode {mode} is written as {expected}",
            fatal=True,
        )
    if mode in (PricingMode.FREE, PricingMode.DYNAMIC):
        if entries is not None and not entries.empty:
            reader.add(
                "pricing", f"a {mode} agent has no amounts; pricing must be empty or omitted"
            )
        return _Pricing(mode)
    if entries is None or entries.empty:
        if mode is PricingMode.FIXED and fixed is not None:
            reader.add("pricing", "required with pricing_mode Fixed; read agentPricing instead")
            return _Pricing(mode, fixed, len(fixed) > 1, _FIXED_PATH)
        reader.add("pricing", f"required with pricing_mode {mode}", fatal=True)
        return _Pricing()
    if entries.broken:
        reader.fatal = True  # the entries decide the amounts; each fault is reported already
        return _Pricing()
    if (
        mode is PricingMode.FIXED
        and fixed is not None
        and not _same_amounts(fixed, entries.amounts)
    ):
        reader.add(
            "pricing",
            "differs from agentPricing.fixedPricing, which Masumi nodes charge",
            fatal=True,
        )
    together = mode is PricingMode.FIXED and len(entries.amounts) > 1
    return _Pricing(mode, entries.amounts, together, "pricing")


def _inferred_pricing(
    reader: _Reader, pricing_type: str, fixed: list[Amount] | None, entries: _Entries | None
) -> _Pricing:
    """No pricing_mode (a Masumi node registered it): the mode follows agentPricing."""
    if pricing_type == "Fixed":
        if fixed is None:
            return _Pricing()
        if entries is not None and entries.amounts and not _same_amounts(fixed, entries.amounts):
            reader.add("pricing", "differs from agentPricing.fixedPricing", fatal=True)
        return _Pricing(PricingMode.FIXED, fixed, len(fixed) > 1, _FIXED_PATH)
    if pricing_type == "Free":
        if entries is not None and not entries.empty:
            reader.add("pricing", "a Free agent has no amounts; pricing is ignored")
        return _Pricing(PricingMode.FREE)
    if entries is None or entries.empty:
        return _Pricing(PricingMode.DYNAMIC)
    if entries.broken:
        reader.fatal = True  # Dynamic or Fixed+prices cannot be told apart
        return _Pricing()
    if len(entries.amounts) >= 2:
        return _Pricing(PricingMode.FIXED_PRICES, entries.amounts, False, "pricing")
    reader.add(
        "pricing",
        "one entry and no pricing_mode: read as Dynamic (Fixed+prices has at least 2 tiers)",
    )
    return _Pricing(PricingMode.DYNAMIC)


def _error_path(
    loc: tuple[int | str, ...], origins: Mapping[str, list[int]], amounts_path: str
) -> str:
    if not loc:
        return "metadata"
    head, rest = str(loc[0]), list(loc[1:])
    path = amounts_path if head == "amounts" else head
    if rest and isinstance(rest[0], int) and head in origins:
        known = origins[head]
        rest[0] = known[rest[0]] if rest[0] < len(known) else rest[0]
    for part in rest:
        if isinstance(part, int):
            path = _index(path, part)
        elif head == "amounts" and amounts_path == _FIXED_PATH and part == "quantity":
            path = _key(path, "amount")
        else:
            path = _key(path, part)
    return path


def _error_message(message: str) -> str:
    prefix = "Value error, "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _build(
    reader: _Reader, data: dict[str, Any], origins: Mapping[str, list[int]], amounts_path: str
) -> AgentMetadata | None:
    """The model, if only limits fail: every other fault is reported and leaves None."""
    try:
        return AgentMetadata.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            if error["type"] == "missing":  # the reader has reported it, by its on-chain key
                continue
            reader.add(
                _error_path(error["loc"], origins, amounts_path), _error_message(error["msg"])
            )
    try:
        return AgentMetadata.model_validate(data, context={LENIENT: True})
    except ValidationError:
        reader.fatal = True
        return None


def decode(raw: Any) -> DecodedMetadata:
    """Read on-chain MIP-002 metadata (as Masumi nodes and we write it, or as Blockfrost's
    `onchain_metadata` returns it). Never raises; see the module docstring for what is fatal."""
    reader = _Reader()
    if not isinstance(raw, Mapping):
        reader.add("metadata", f"must be an object, not {_kind(raw)}", fatal=True)
        return DecodedMetadata(None, reader.violations)
    _version(reader, raw)
    data: dict[str, Any] = {"metadata_version": METADATA_VERSION}
    origins: dict[str, list[int]] = {}
    for key, required in (
        ("name", True),
        ("description", False),
        ("api_base_url", True),
    ):
        value = reader.text(raw, key, "", required=required)
        if value is not None:
            data[key] = value
    data["example_output"], origins["example_output"] = _example_outputs(reader, raw)
    capability = _capability(reader, raw)
    if capability is not None:
        data["capability"] = capability
    author = _author(reader, raw)
    if author is not None:
        data["author"] = author
    legal = _optional_object(reader, raw, "legal", ("privacy_policy", "terms", "other"))
    if legal is not None:
        data["legal"] = legal
    tags, origins["tags"] = _tags(reader, raw)
    if tags:
        data["tags"] = tags
    image = reader.text(raw, "image", "", required=True)
    if image is not None:
        data["image"] = image
    if "supported_payment_sources" in raw:
        reader.add(
            "supported_payment_sources",
            "V1 metadata must not carry it (V2 keeps pricing per payment source)",
        )
    pricing = _pricing(reader, raw)
    if pricing.mode is not None:
        data["pricing_mode"] = pricing.mode
        data["paid_together"] = pricing.paid_together
        data["amounts"] = pricing.amounts
    model = _build(reader, data, origins, pricing.amounts_path)
    return DecodedMetadata(None if reader.fatal else model, reader.violations)
