"""Bad registrations: 422 naming the field, no row written, nothing minted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pycardano import Address, Network, VerificationKeyHash

from tests.node.agents.bodies import agent_body, registry_body
from tests.node.agents.conftest import World

Body = dict[str, Any]
OTHER_UNIT = "ab" * 28 + "5553444d"
MAINNET_ADDRESS = str(Address(VerificationKeyHash(bytes(28)), network=Network.MAINNET))


def usdm(world: World, quantity: Any = 1_000_000) -> dict[str, Any]:
    return {"quantity": quantity, "unit": world.usdm}


def seed(mode: str, amounts: Callable[[World], list[Any]] | None = None) -> Callable[..., Body]:
    def make(world: World, vkey: str) -> Body:
        return agent_body(vkey, mode, None if amounts is None else amounts(world))

    return make


def changed(make: Callable[..., Body], edit: Callable[[Body], None]) -> Callable[..., Body]:
    def make_changed(world: World, vkey: str) -> Body:
        body = make(world, vkey)
        edit(body)
        return body

    return make_changed


FREE = seed("Free")
FIXED_USDM = seed("Fixed", lambda w: [usdm(w)])


def setter(path: str, value: Any) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return edit


SEED_CASES: list[tuple[str, Callable[..., Body], str]] = [
    ("fixed without amounts", seed("Fixed"), "amounts"),
    ("fixed with an empty list", seed("Fixed", lambda w: []), "amounts"),
    ("fixed+prices without amounts", seed("Fixed+prices"), "amounts"),
    ("free with amounts", seed("Free", lambda w: [usdm(w)]), "amounts"),
    ("dynamic with amounts", seed("Dynamic", lambda w: [usdm(w)]), "amounts"),
    ("fixed with two amounts", seed("Fixed", lambda w: [usdm(w), usdm(w, 2)]), "amounts"),
    ("fixed+prices with one amount", seed("Fixed+prices", lambda w: [usdm(w)]), "amounts"),
    ("a float quantity", seed("Fixed", lambda w: [usdm(w, 1.5)]), "amounts.0.quantity"),
    ("a whole float quantity", seed("Fixed", lambda w: [usdm(w, 1.0)]), "amounts.0.quantity"),
    ("a decimal string", seed("Fixed", lambda w: [usdm(w, "1.5")]), "amounts.0.quantity"),
    ("a zero quantity", seed("Fixed", lambda w: [usdm(w, 0)]), "amounts.0.quantity"),
    ("a negative quantity", seed("Fixed", lambda w: [usdm(w, "-5")]), "amounts.0.quantity"),
    ("a quantity of words", seed("Fixed", lambda w: [usdm(w, "ten")]), "amounts.0.quantity"),
    (
        "a unit unknown to the network",
        seed("Fixed+prices", lambda w: [usdm(w), {"quantity": 5, "unit": OTHER_UNIT}]),
        "amounts.1.unit",
    ),
    ("an unknown pricing mode", seed("Metered"), "pricingMode"),
    (
        "an ftp API URL",
        changed(FREE, setter("apiBaseUrl", "ftp://agents.example.com")),
        "apiBaseUrl",
    ),
    ("an API URL without host", changed(FREE, setter("apiBaseUrl", "https://")), "apiBaseUrl"),
    (
        "a javascript example URL",
        changed(FREE, setter("ExampleOutputs.0.url", "javascript:alert(1)")),
        "ExampleOutputs.0.url",
    ),
    ("a name over 250", changed(FREE, setter("name", "n" * 251)), "name"),
    ("an empty name", changed(FREE, setter("name", "")), "name"),
    ("a description over 250", changed(FREE, setter("description", "d" * 251)), "description"),
    ("an author name over 250", changed(FREE, setter("Author.name", "a" * 251)), "Author.name"),
    (
        "an API URL over 250",
        changed(FREE, setter("apiBaseUrl", "https://x.io/" + "p" * 240)),
        "apiBaseUrl",
    ),
    (
        "an example name over 60",
        changed(FREE, setter("ExampleOutputs.0.name", "e" * 61)),
        "ExampleOutputs.0.name",
    ),
    (
        "a capability version over 60",  # registry.metadata's limit, named as the body says it
        changed(FREE, setter("Capability.version", "v" * 61)),
        "Capability.version",
    ),
    ("a legal text over 250", changed(FREE, setter("Legal.other", "l" * 251)), "Legal.other"),
    ("no tags", changed(FREE, setter("Tags", [])), "Tags"),
    ("sixteen tags", changed(FREE, setter("Tags", [f"t{i}" for i in range(16)])), "Tags"),
    ("a tag over 63", changed(FREE, setter("Tags", ["t" * 64])), "Tags.0"),
    (
        "a vkey that is not hex",
        changed(FREE, setter("sellingWalletVkey", "zz" * 28)),
        "sellingWalletVkey",
    ),
    (
        "an unknown wallet",
        changed(FREE, setter("sellingWalletVkey", "ab" * 28)),
        "sellingWalletVkey",
    ),
    (
        "a recipient on mainnet",
        changed(FREE, setter("recipientWalletAddress", MAINNET_ADDRESS)),
        "recipientWalletAddress",
    ),
    ("another network", changed(FREE, setter("network", "Preprod")), "network"),
    ("an unknown key", changed(FREE, setter("colour", "blue")), "colour"),
]


def registry(pricing: Callable[[World], dict[str, Any]]) -> Callable[..., Body]:
    def make(world: World, vkey: str) -> Body:
        return registry_body(vkey, pricing(world))

    return make


def fixed(*prices: dict[str, Any]) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"pricingType": "Fixed", "Pricing": list(prices)}


MASUMI_CASES: list[tuple[str, Callable[..., Body], str]] = [
    ("fixed without prices", registry(fixed()), "AgentPricing.Fixed.Pricing"),
    (
        "fixed with six prices",
        registry(fixed(*[{"unit": "", "amount": "1"}] * 6)),
        "AgentPricing.Fixed.Pricing",
    ),
    (
        "an amount of words",
        registry(fixed({"unit": "", "amount": "abc"})),
        "AgentPricing.Fixed.Pricing.0.amount",
    ),
    (
        "an unknown unit",
        registry(fixed({"unit": OTHER_UNIT, "amount": "10"})),
        "AgentPricing.Pricing.0.unit",
    ),
    ("an unknown pricing type", registry(lambda w: {"pricingType": "Metered"}), "AgentPricing"),
    (
        "no network",
        changed(registry(lambda w: {"pricingType": "Free"}), lambda b: b.pop("network")),
        "network",
    ),
]


def refused(world: World, answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert field in error["fields"], error
    assert field in error["message"]
    assert world.rows() == []
    assert world.process() == 0 and world.journal() == []


@pytest.mark.parametrize(("case", "make", "field"), SEED_CASES, ids=[c[0] for c in SEED_CASES])
def test_seed_body_refused(
    world: World, pay: httpx.Client, seller: str, case: str, make: Callable[..., Body], field: str
) -> None:
    refused(world, pay.post("/api/agents", json=make(world, seller)), field)


@pytest.mark.parametrize(("case", "make", "field"), MASUMI_CASES, ids=[c[0] for c in MASUMI_CASES])
def test_masumi_body_refused(
    world: World, pay: httpx.Client, seller: str, case: str, make: Callable[..., Body], field: str
) -> None:
    refused(world, pay.post("/api/v1/registry", json=make(world, seller)), field)


def test_a_purchasing_wallet_cannot_register(
    world: World, pay: httpx.Client, admin_client: httpx.Client
) -> None:
    buyer = world.add_wallet(admin_client, kind="Purchasing", ada=0)
    answer = pay.post("/api/agents", json=agent_body(buyer, "Free"))
    refused(world, answer, "sellingWalletVkey")
    assert "Selling" in answer.json()["error"]["message"]


def test_a_read_key_cannot_register(
    world: World, seller: str, pay: httpx.Client, session: Any, secret_box: Any
) -> None:
    from tests.conftest import make_key

    with world.node.client(make_key(session, secret_box, permission="Read")) as reader:
        answer = reader.post("/api/agents", json=agent_body(seller, "Free"))
    assert answer.status_code == 403
    assert world.rows() == []


def test_lovelace_units_and_a_low_funding_are_accepted(
    world: World, pay: httpx.Client, seller: str
) -> None:
    body = agent_body(seller, "Fixed+prices", [
        {"quantity": "1000000", "unit": ""},
        {"quantity": 2_000_000, "unit": "lovelace"},
    ])  # fmt: skip
    body["sendFundingLovelace"] = "1000000"  # below the 5 ADA minimum: the minimum is sent
    answer = pay.post("/api/agents", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["sendFundingLovelace"] == "5000000"
    assert [a["unit"] for a in data["amounts"]] == ["lovelace", "lovelace"]
