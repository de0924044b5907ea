"""MIP-002 metadata: the model's rules, its on-chain form for the four pricing modes, and the
reader (what Masumi nodes write, what we write, and every fault it must report)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from registry.cip25 import METADATA_CHUNK_BYTES
from registry.metadata import (
    DEFAULT_IMAGE,
    MAX_AMOUNTS,
    AgentMetadata,
    Amount,
    Author,
    Capability,
    DecodedMetadata,
    ExampleOutput,
    Legal,
    PricingMode,
    Violation,
    decode,
    to_metadatum,
    to_onchain,
)

USDM = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"
USDM_CHUNKS = [USDM[:64], USDM[64:]]


def metadata(**changes: Any) -> AgentMetadata:
    values: dict[str, Any] = {
        "name": "Summariser",
        "api_base_url": "https://agents.example.com/summariser",
        "author": {"name": "Ada"},
        "tags": ["summaries"],
        "pricing_mode": "Fixed",
        "amounts": [{"quantity": 1_000_000, "unit": USDM}],
    }
    values.update(changes)
    return AgentMetadata.model_validate(values)


def error_locs(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[int | str, ...]]:
    return [error["loc"] for error in exc.value.errors()]


# the model ---------------------------------------------------------------------------------


def test_amounts_are_ints_in_the_smallest_unit() -> None:
    assert Amount(quantity=5, unit="") == Amount(quantity=5, unit="lovelace")
    assert Amount(quantity=5, unit=USDM.upper()).unit == USDM
    assert Amount(quantity=5, unit="ab" * 28).unit == "ab" * 28  # a nameless asset
    for bad in (1.0, True, "5", None):
        with pytest.raises(ValidationError, match="must be an integer") as exc:
            Amount(quantity=bad, unit="lovelace")
        assert error_locs(exc) == [("quantity",)]
    for bad_quantity, message in (
        (0, "greater than 0"),
        (-3, "greater than 0"),
        (2**63, "at most"),
    ):
        with pytest.raises(ValidationError, match=message):
            Amount(quantity=bad_quantity, unit="lovelace")


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("usd", "policy id \\+ asset name in hex"),
        ("ab" * 27, "56-120 hex digits"),
        ("ab" * 28 + "a", "56-120 hex digits"),
        ("ab" * 61, "56-120 hex digits"),
        (5, "must be a string"),
    ],
)
def test_bad_units_are_refused(unit: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as exc:
        Amount(quantity=1, unit=unit)
    assert error_locs(exc) == [("unit",)]


def test_pricing_rules_per_mode() -> None:
    lovelace = {"quantity": 1, "unit": "lovelace"}
    usdm = {"quantity": 2, "unit": USDM}
    assert metadata(pricing_mode="Free", amounts=[]).amounts == []
    assert metadata(pricing_mode="Dynamic", amounts=[]).pricing_mode is PricingMode.DYNAMIC
    assert len(metadata(pricing_mode="Fixed+prices", amounts=[lovelace, usdm]).amounts) == 2
    assert metadata(pricing_mode="Fixed", paid_together=True, amounts=[lovelace, usdm])
    refused = [
        ({"pricing_mode": "Free", "amounts": [lovelace]}, "a Free agent has no amounts"),
        ({"pricing_mode": "Dynamic", "amounts": [lovelace]}, "a Dynamic agent has no amounts"),
        ({"pricing_mode": "Fixed", "amounts": []}, "exactly one amount, not 0"),
        ({"pricing_mode": "Fixed", "amounts": [lovelace, usdm]}, "exactly one amount, not 2"),
        ({"pricing_mode": "Fixed+prices", "amounts": [usdm]}, "at least 2 amounts"),
        ({"pricing_mode": "Fixed+prices", "amounts": [usdm] * 26}, "at most 25 amounts"),
        ({"paid_together": True, "amounts": [usdm]}, "at least 2"),
    ]
    for changes, message in refused:
        with pytest.raises(ValidationError, match=message) as exc:
            metadata(**changes)
        assert error_locs(exc) == [("amounts",)]
    with pytest.raises(ValidationError, match="only a Fixed price") as exc:
        metadata(pricing_mode="Fixed+prices", paid_together=True, amounts=[lovelace, usdm])
    assert error_locs(exc) == [("paid_together",)]
    with pytest.raises(ValidationError) as exc:
        metadata(pricing_mode="Fixed + prices")
    assert error_locs(exc) == [("pricing_mode",)]


def test_limits_name_the_field() -> None:
    long = "x" * 251
    cases: list[tuple[dict[str, Any], tuple[int | str, ...]]] = [
        ({"name": long}, ("name",)),
        ({"name": ""}, ("name",)),
        ({"description": long}, ("description",)),
        ({"api_base_url": "https://a.example/" + "p" * 240}, ("api_base_url",)),
        ({"api_base_url": "ftp://a.example"}, ("api_base_url",)),
        ({"api_base_url": "https://"}, ("api_base_url",)),
        ({"api_base_url": "agents.example.com"}, ("api_base_url",)),
        ({"api_base_url": "https://a.example/x y"}, ("api_base_url",)),
        ({"tags": []}, ("tags",)),
        ({"tags": ["t"] * 16}, ("tags",)),
        ({"tags": ["ok", "t" * 64]}, ("tags", 1)),
        ({"tags": ["ok", "é" * 33]}, ("tags", 1)),  # 33 characters, 66 bytes
        ({"tags": [""]}, ("tags", 0)),
        ({"author": {"name": ""}}, ("author", "name")),
        ({"author": {"name": "A", "organization": long}}, ("author", "organization")),
        ({"legal": {"terms": long}}, ("legal", "terms")),
        ({"capability": {"name": "c", "version": "v" * 61}}, ("capability", "version")),
        (
            {"example_output": [{"name": "n" * 61, "mime_type": "a/b", "url": "u"}]},
            ("example_output", 0, "name"),
        ),
        (
            {"example_output": [{"name": "n", "mime_type": "", "url": "u"}]},
            ("example_output", 0, "mime_type"),
        ),
        (
            {"example_output": [{"name": "n", "mime_type": "a/b", "url": long}]},
            ("example_output", 0, "url"),
        ),
        (
            {"example_output": [{"name": "n", "mime_type": "a/b", "url": "u"}] * 26},
            ("example_output",),
        ),
        ({"image": ""}, ("image",)),
        ({"metadata_version": "2"}, ("metadata_version",)),
        ({"surprise": 1}, ("surprise",)),
    ]
    for changes, loc in cases:
        with pytest.raises(ValidationError) as exc:
            metadata(**changes)
        assert error_locs(exc) == [loc], changes


def test_the_lenient_context_skips_only_the_limits() -> None:
    values = metadata().model_dump() | {"name": "x" * 300, "tags": ["t" * 80] * 20}
    relaxed = AgentMetadata.model_validate(values, context={"lenient": True})
    assert relaxed.name == "x" * 300
    with pytest.raises(ValidationError):
        AgentMetadata.model_validate(
            values | {"api_base_url": "ftp://x"}, context={"lenient": True}
        )


def test_defaults() -> None:
    model = metadata()
    assert model.image == DEFAULT_IMAGE == "ipfs://QmXXW7tmBgpQpXoJMAMEXXFe9dyQcrLFKGuzxnHDnbKC7f"
    assert model.metadata_version == "1"
    assert (model.description, model.capability, model.legal, model.example_output) == (
        None,
        None,
        None,
        [],
    )
    assert model.paid_together is False


# writing -----------------------------------------------------------------------------------


def full(mode: PricingMode, amounts: list[Amount]) -> AgentMetadata:
    return AgentMetadata(
        name="Summariser",
        description="Summarises documents.",
        api_base_url="https://agents.example.com/summariser",
        example_output=[ExampleOutput(name="abstract", mime_type="text/plain", url="https://e/1")],
        capability=Capability(name="summarise", version="1.0.0"),
        author=Author(name="Ada", contact_email="ada@example.com"),
        legal=Legal(privacy_policy="https://e/privacy"),
        tags=["summaries", "documents"],
        pricing_mode=mode,
        amounts=amounts,
    )


COMMON: dict[str, Any] = {
    "name": "Summariser",
    "description": "Summarises documents.",
    "api_base_url": "https://agents.example.com/summariser",
    "example_output": [{"name": "abstract", "mime_type": "text/plain", "url": "https://e/1"}],
    "capability": {"name": "summarise", "version": "1.0.0"},
    "author": {"name": "Ada", "contact_email": "ada@example.com"},
    "legal": {"privacy_policy": "https://e/privacy"},
    "tags": ["summaries", "documents"],
    "image": DEFAULT_IMAGE,
    "metadata_version": "1",
}


def test_free_on_chain() -> None:
    assert to_onchain(full(PricingMode.FREE, [])) == COMMON | {
        "agentPricing": {"pricingType": "Free"},
        "pricing_mode": "Free",
    }


def test_fixed_on_chain_writes_lovelace_as_an_empty_chunk_list_as_masumi_does() -> None:
    ada = Amount(quantity=5_000_000, unit="lovelace")
    assert to_onchain(full(PricingMode.FIXED, [ada])) == COMMON | {
        "agentPricing": {
            "pricingType": "Fixed",
            "fixedPricing": [{"unit": [], "amount": "5000000"}],
        },
        "pricing_mode": "Fixed",
        "pricing": [{"quantity": 5_000_000, "unit": "lovelace"}],
    }


def test_fixed_prices_is_dynamic_to_masumi_nodes() -> None:
    tiers = [Amount(quantity=500_000, unit=USDM), Amount(quantity=2_000_000, unit=USDM)]
    onchain = to_onchain(full(PricingMode.FIXED_PRICES, tiers))
    assert onchain == COMMON | {
        "agentPricing": {"pricingType": "Dynamic"},
        "pricing_mode": "Fixed+prices",
        "pricing": [{"quantity": 500_000, "unit": USDM}, {"quantity": 2_000_000, "unit": USDM}],
    }


def test_dynamic_on_chain_and_optional_keys_omitted() -> None:
    model = metadata(pricing_mode="Dynamic", amounts=[])
    assert to_onchain(model) == {
        "name": "Summariser",
        "api_base_url": "https://agents.example.com/summariser",
        "example_output": [],
        "author": {"name": "Ada"},
        "tags": ["summaries"],
        "agentPricing": {"pricingType": "Dynamic"},
        "image": DEFAULT_IMAGE,
        "metadata_version": "1",
        "pricing_mode": "Dynamic",
    }


def test_to_metadatum_chunks_long_strings_only() -> None:
    model = metadata(description="d" * 100)
    written = to_metadatum(model)
    assert written["name"] == "Summariser"
    assert written["description"] == ["d" * 64, "d" * 36]
    assert written["pricing"] == [{"quantity": 1_000_000, "unit": USDM_CHUNKS}]
    assert written["agentPricing"]["fixedPricing"] == [{"unit": USDM_CHUNKS, "amount": "1000000"}]


# reading -----------------------------------------------------------------------------------


def masumi(agent_pricing: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Metadata as a Masumi node writes it: every string a list of chunks, lovelace as []."""

    def chunks(text: str) -> list[str]:
        return [text[i : i + 60] for i in range(0, len(text), 60)]

    return {
        "name": chunks("Translator"),
        "description": chunks("Translates. " * 10),
        "api_base_url": chunks("https://translator.example.org/api"),
        "example_output": [],
        "author": {"name": chunks("Grace")},
        "legal": {},
        "tags": ["translation"],
        "agentPricing": agent_pricing,
        "image": chunks(DEFAULT_IMAGE),
        "metadata_version": "1",
    } | extra


def fixed_entry(amount: str, unit: Any) -> dict[str, Any]:
    return {"amount": amount, "unit": unit}


def test_masumi_fixed_single_and_paid_together() -> None:
    one = decode(masumi({"pricingType": "Fixed", "fixedPricing": [fixed_entry("7", [])]}))
    assert one.valid and one.metadata is not None
    assert one.metadata.description == "Translates. " * 10
    assert one.metadata.legal == Legal()
    assert (one.metadata.pricing_mode, one.metadata.paid_together) == (PricingMode.FIXED, False)
    assert one.metadata.amounts == [Amount(quantity=7, unit="lovelace")]

    two = decode(
        masumi(
            {
                "pricingType": "Fixed",
                "fixedPricing": [fixed_entry("7", ""), fixed_entry("9", USDM_CHUNKS)],
            }
        )
    )
    assert two.valid and two.metadata is not None
    assert (two.metadata.pricing_mode, two.metadata.paid_together) == (PricingMode.FIXED, True)
    assert two.metadata.amounts == [
        Amount(quantity=7, unit="lovelace"),
        Amount(quantity=9, unit=USDM),
    ]


def test_masumi_free_and_dynamic() -> None:
    free = decode(masumi({"pricingType": "Free"}))
    assert free.valid and free.metadata is not None
    assert free.metadata.pricing_mode is PricingMode.FREE
    dynamic = decode(masumi({"pricingType": "Dynamic"}))
    assert dynamic.valid and dynamic.metadata is not None
    assert dynamic.metadata.pricing_mode is PricingMode.DYNAMIC


def test_dynamic_with_tiers_and_no_mode_is_fixed_prices() -> None:
    tiers = [{"quantity": 1, "unit": USDM_CHUNKS}, {"quantity": 2, "unit": USDM_CHUNKS}]
    decoded = decode(masumi({"pricingType": "Dynamic"}, pricing=tiers))
    assert decoded.valid and decoded.metadata is not None
    assert decoded.metadata.pricing_mode is PricingMode.FIXED_PRICES
    assert [amount.quantity for amount in decoded.metadata.amounts] == [1, 2]

    single = decode(masumi({"pricingType": "Dynamic"}, pricing=tiers[:1]))
    assert single.metadata is not None
    assert single.metadata.pricing_mode is PricingMode.DYNAMIC
    assert single.violations == [
        Violation(
            "pricing",
            "one entry and no pricing_mode: read as Dynamic (Fixed+prices has at least 2 tiers)",
        )
    ]


def ours(mode: PricingMode, amounts: list[Amount]) -> dict[str, Any]:
    written: dict[str, Any] = to_metadatum(full(mode, amounts))
    return written


ONE_USDM = [Amount(quantity=1_000_000, unit=USDM)]
TIERS = [Amount(quantity=1, unit=USDM), Amount(quantity=2, unit="lovelace")]


@pytest.mark.parametrize(
    ("mode", "amounts", "change", "violations"),
    [
        (
            PricingMode.FIXED,
            ONE_USDM,
            {"pricing": [{"quantity": 2_000_000, "unit": USDM_CHUNKS}]},
            [
                Violation(
                    "pricing", "differs from agentPricing.fixedPricing, which Masumi nodes charge"
                )
            ],
        ),
        (
            PricingMode.FIXED,
            ONE_USDM,
            {"agentPricing": {"pricingType": "Dynamic"}},
            [
                Violation(
                    "agentPricing.pricingType",
                    "is Dynamic, but pricing_mode Fixed is written as Fixed",
                )
            ],
        ),
        (
            PricingMode.FIXED_PRICES,
            TIERS,
            {"agentPricing": {"pricingType": "Fixed", "fixedPricing": [fixed_entry("1", "")]}},
            [
                Violation(
                    "agentPricing.pricingType",
                    "is Fixed, but pricing_mode Fixed+prices is written as Dynamic",
                )
            ],
        ),
        (
            PricingMode.FIXED_PRICES,
            TIERS,
            {"pricing": None},
            [Violation("pricing", "required with pricing_mode Fixed+prices")],
        ),
        (
            PricingMode.FIXED_PRICES,
            TIERS,
            {"pricing": [{"quantity": 1, "unit": "lovelace"}]},
            [Violation("pricing", "Fixed+prices needs at least 2 amounts (tiers), not 1")],
        ),
        (
            PricingMode.FREE,
            [],
            {"pricing_mode": "Gratis"},
            [
                Violation(
                    "pricing_mode",
                    "unknown pricing mode 'Gratis'; expected Free, Fixed, Fixed+prices or Dynamic",
                )
            ],
        ),
        (
            PricingMode.FREE,
            [],
            {"agentPricing": {"pricingType": "Subscription"}},
            [
                Violation(
                    "agentPricing.pricingType",
                    "unknown pricing type 'Subscription'; expected Fixed, Free or Dynamic",
                )
            ],
        ),
        (
            PricingMode.FREE,
            [],
            {"agentPricing": None},
            [Violation("agentPricing", "required")],
        ),
        (
            PricingMode.DYNAMIC,
            [],
            {"pricing": [{"quantity": 1.5, "unit": "lovelace"}], "pricing_mode": None},
            [Violation("pricing[0].quantity", "must be an integer, not a number")],
        ),
    ],
)
def test_price_faults_are_fatal(
    mode: PricingMode, amounts: list[Amount], change: dict[str, Any], violations: list[Violation]
) -> None:
    raw = ours(mode, amounts)
    for key, value in change.items():
        if value is None:
            del raw[key]
        else:
            raw[key] = value
    decoded = decode(raw)
    assert decoded.violations == violations
    assert decoded.metadata is None and not decoded.valid


@pytest.mark.parametrize(
    ("fixed_pricing", "violations"),
    [
        ([], [Violation("agentPricing.fixedPricing", "a Fixed price needs at least one entry")]),
        (
            [fixed_entry("1.5", ""), fixed_entry("-2", ""), {"unit": ""}, "x"],
            [
                Violation(
                    "agentPricing.fixedPricing[0].amount",
                    "must be a positive integer string, not '1.5'",
                ),
                Violation(
                    "agentPricing.fixedPricing[1].amount",
                    "must be a positive integer string, not '-2'",
                ),
                Violation("agentPricing.fixedPricing[2].amount", "required"),
                Violation("agentPricing.fixedPricing[3]", "must be an object, not a string"),
            ],
        ),
        (
            [fixed_entry("1", "usd"), fixed_entry("1", 5)],
            [
                Violation(
                    "agentPricing.fixedPricing[0].unit",
                    "unit must be \"lovelace\" or policy id + asset name in hex: 'usd'",
                ),
                Violation(
                    "agentPricing.fixedPricing[1].unit",
                    "must be a string or a list of string chunks, not an integer",
                ),
            ],
        ),
        ("5", [Violation("agentPricing.fixedPricing", "must be a list, not a string")]),
    ],
)
def test_bad_fixed_pricing_is_fatal(fixed_pricing: Any, violations: list[Violation]) -> None:
    decoded = decode(masumi({"pricingType": "Fixed", "fixedPricing": fixed_pricing}))
    assert decoded.violations == violations
    assert decoded.metadata is None


def test_non_fatal_faults_keep_the_model() -> None:
    raw = masumi(
        {
            "pricingType": "Fixed",
            "fixedPricing": [{"amount": 5, "unit": ""}] * (MAX_AMOUNTS + 1),
        },
        supported_payment_sources=[],
    )
    raw["name"] = ["N" * 70, "x" * 200]  # a chunk over 64 bytes; 270 characters in all
    raw["tags"] = [["multi", "chunk"], "t" * 64, 7]
    raw["description"] = {"oops": "object"}
    raw["capability"] = {"name": "only a name"}
    raw["example_output"] = [
        {"name": "ok", "mime_type": "text/plain", "url": "https://e/1"},
        {"name": "bad", "mime_type": 3, "url": "https://e/2"},
        {"name": "n" * 61, "mime_type": "text/plain", "url": "https://e/3"},
    ]
    raw["legal"] = {"terms": "t" * 251}
    decoded = decode(raw)
    assert decoded.violations == [
        Violation("name[0]", "chunk is 70 bytes; a metadata string holds 64"),
        Violation("name[1]", "chunk is 200 bytes; a metadata string holds 64"),
        Violation("description", "must be a string or a list of string chunks, not an object"),
        Violation(
            "example_output[1].mime_type",
            "must be a string or a list of string chunks, not an integer",
        ),
        Violation("capability.version", "required"),
        Violation("legal.terms", "string is 251 bytes; a metadata string holds 64"),
        Violation("tags[0]", "must be a plain string; Masumi readers do not join chunks here"),
        Violation("tags[2]", "must be a string, not an integer"),
        Violation(
            "supported_payment_sources",
            "V1 metadata must not carry it (V2 keeps pricing per payment source)",
        ),
    ] + [
        Violation(
            f"agentPricing.fixedPricing[{index}].amount",
            "must be a string of digits; Masumi nodes write amounts as strings",
        )
        for index in range(MAX_AMOUNTS + 1)
    ] + [
        Violation("name", "at most 250 characters, not 270"),
        Violation("example_output[2].name", "at most 60 characters, not 61"),
        Violation("legal.terms", "at most 250 characters, not 251"),
        Violation(
            "tags[1]", "at most 63 characters and 64 bytes (a tag is one plain metadata string)"
        ),
        Violation("agentPricing.fixedPricing", "at most 25 amounts, not 26"),
    ]
    model = decoded.metadata
    assert model is not None and not decoded.valid
    assert model.name == "N" * 70 + "x" * 200
    assert model.description is None and model.capability is None
    assert [item.url for item in model.example_output] == ["https://e/1", "https://e/3"]
    assert model.tags == ["multichunk", "t" * 64]
    assert len(model.amounts) == MAX_AMOUNTS + 1 and model.paid_together


def test_missing_required_keys_are_each_reported() -> None:
    decoded = decode({"description": "nothing else"})
    assert decoded.violations == [
        Violation("metadata_version", "required"),
        Violation("name", "required"),
        Violation("api_base_url", "required"),
        Violation("author", "required"),
        Violation("tags", "required"),
        Violation("image", "required"),
        Violation("agentPricing", "required"),
    ]
    assert decoded.metadata is None


@pytest.mark.parametrize(
    ("version", "violation"),
    [
        (1, None),
        (["1"], None),
        (
            "2",
            Violation(
                "metadata_version",
                '"2" (MIP-002 V2, pricing per supported payment source) is not supported by '
                'this reader; V1 metadata has "1"',
            ),
        ),
        ("1.0", Violation("metadata_version", "must be \"1\", not '1.0'")),
        (
            True,
            Violation(
                "metadata_version", "must be a string or a list of string chunks, not a boolean"
            ),
        ),
    ],
)
def test_metadata_version(version: Any, violation: Violation | None) -> None:
    decoded = decode(masumi({"pricingType": "Free"}, metadata_version=version))
    if violation is None:
        assert decoded.valid
    else:
        assert decoded.violations == [violation] and decoded.metadata is None


def test_a_non_http_url_is_fatal_and_not_an_object_is_reported() -> None:
    decoded = decode(masumi({"pricingType": "Free"}, api_base_url="ipfs://agent"))
    assert decoded.violations == [
        Violation("api_base_url", "must be an http or https URL, not 'ipfs://agent'")
    ]
    assert decoded.metadata is None
    assert decode(["not", "an", "object"]) == DecodedMetadata(
        None, [Violation("metadata", "must be an object, not a list")]
    )


def test_pricing_noise_on_free_and_dynamic_is_not_fatal() -> None:
    raw = ours(PricingMode.FREE, [])
    raw["pricing"] = [{"quantity": 1, "unit": "lovelace"}]
    decoded = decode(raw)
    assert decoded.violations == [
        Violation("pricing", "a Free agent has no amounts; pricing must be empty or omitted")
    ]
    assert decoded.metadata == full(PricingMode.FREE, [])
    raw = ours(PricingMode.DYNAMIC, [])
    raw["pricing"] = []
    assert decode(raw).valid


def test_fixed_without_pricing_falls_back_to_agent_pricing() -> None:
    raw = ours(PricingMode.FIXED, ONE_USDM)
    del raw["pricing"]
    decoded = decode(raw)
    assert decoded.violations == [
        Violation("pricing", "required with pricing_mode Fixed; read agentPricing instead")
    ]
    assert decoded.metadata == full(PricingMode.FIXED, ONE_USDM)


# properties --------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=250)
SHORT = st.text(st.characters(codec="utf-8"), max_size=60)
URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    st.text(URL_CHARS, max_size=200),
).filter(lambda url: len(url) <= 250)
TAGS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=63).filter(
    lambda tag: len(tag.encode()) <= METADATA_CHUNK_BYTES
)
UNITS = st.one_of(
    st.just("lovelace"),
    st.just(USDM),
    st.builds(
        lambda policy, name: policy.hex() + name.hex(),
        st.binary(min_size=28, max_size=28),
        st.binary(max_size=32),
    ),
)
AMOUNTS = st.builds(Amount, quantity=st.integers(1, 2**63 - 1), unit=UNITS)


@st.composite
def pricing(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(PricingMode))
    if mode in (PricingMode.FREE, PricingMode.DYNAMIC):
        return {"pricing_mode": mode}
    if mode is PricingMode.FIXED_PRICES:
        return {"pricing_mode": mode, "amounts": draw(st.lists(AMOUNTS, min_size=2, max_size=25))}
    if draw(st.booleans()):
        return {"pricing_mode": mode, "amounts": [draw(AMOUNTS)]}
    amounts = draw(st.lists(AMOUNTS, min_size=2, max_size=5))
    return {"pricing_mode": mode, "paid_together": True, "amounts": amounts}


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


MODELS = st.builds(
    lambda fields, price: AgentMetadata(**fields, **price),
    st.fixed_dictionaries(
        {
            "name": TEXT.filter(bool),
            "description": optional(TEXT),
            "api_base_url": URLS,
            "example_output": st.lists(
                st.builds(
                    ExampleOutput,
                    name=SHORT,
                    mime_type=SHORT.filter(bool),
                    url=TEXT,
                ),
                max_size=3,
            ),
            "capability": optional(st.builds(Capability, name=TEXT, version=SHORT)),
            "author": st.builds(
                Author,
                name=TEXT.filter(bool),
                contact_email=optional(TEXT),
                contact_other=optional(TEXT),
                organization=optional(TEXT),
            ),
            "legal": optional(
                st.builds(
                    Legal, privacy_policy=optional(TEXT), terms=optional(TEXT), other=optional(TEXT)
                )
            ),
            "tags": st.lists(TAGS, min_size=1, max_size=15),
            "image": st.just(DEFAULT_IMAGE) | TEXT.filter(bool),
        }
    ),
    pricing(),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(MODELS)
def test_what_we_write_reads_back_equal(model: AgentMetadata) -> None:
    written = to_metadatum(model)
    decoded = decode(written)
    assert decoded.violations == []
    assert decoded.metadata == model
    assert decode(to_onchain(model)).metadata == model  # unchunked, as long as strings fit


@settings(max_examples=100)
@given(st.sampled_from(PricingMode), st.data())
def test_every_mode_round_trips(mode: PricingMode, data: st.DataObject) -> None:
    model = data.draw(MODELS.filter(lambda m: m.pricing_mode is mode))
    assert decode(to_metadatum(model)) == DecodedMetadata(model, [])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "name",
        "description",
        "api_base_url",
        "example_output",
        "capability",
        "author",
        "legal",
        "tags",
        "image",
        "metadata_version",
        "agentPricing",
        "pricing",
        "pricing_mode",
        "supported_payment_sources",
    ]
)


@st.composite
def damaged(draw: st.DrawFn) -> Any:
    """Valid metadata with a few keys (or nested values) replaced by arbitrary JSON."""
    raw = copy.deepcopy(to_metadatum(draw(MODELS)))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(KEYS)
        target = raw
        nested = raw.get(key)
        if isinstance(nested, dict) and nested and draw(st.booleans()):
            target, key = nested, draw(st.sampled_from(sorted(nested)))
        elif isinstance(nested, list) and nested and draw(st.booleans()):
            index = draw(st.integers(0, len(nested) - 1))
            nested[index] = draw(JSON)
            continue
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(JSON)
    return raw


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | damaged() | st.dictionaries(KEYS, JSON))
def test_decode_never_raises(raw: Any) -> None:
    decoded = decode(raw)
    assert isinstance(decoded, DecodedMetadata)
    assert all(isinstance(violation, Violation) for violation in decoded.violations)
    if decoded.metadata is not None:
        to_metadatum(decoded.metadata)  # whatever is read can be written again
    else:
        assert decoded.violations
