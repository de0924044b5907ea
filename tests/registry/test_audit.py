"""Chain against database: each kind of difference, and none when they agree."""

from __future__ import annotations

from dataclasses import replace

from registry.audit import (
    HOLDER_CHANGED,
    INVALID_METADATA,
    METADATA_DIFFERS,
    MISSING_ON_CHAIN,
    NOT_IN_DATABASE,
    STILL_ON_CHAIN,
    Difference,
    RegistryRecord,
    audit,
)
from registry.identifiers import AgentIdentifier
from registry.metadata import AgentMetadata, Amount, Author, PricingMode, Violation
from registry.onchain import OnchainAgent

POLICY = "7e" * 28
OURS, THEIRS = "addr_test1ours", "addr_test1theirs"
USDM = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"
PRICE = [Amount(quantity=1_000_000, unit=USDM)]


def unit(n: int) -> str:
    return POLICY + f"{n:064x}"


def model(name: str = "Agent", url: str = "https://a.example") -> AgentMetadata:
    return AgentMetadata(
        name=name,
        api_base_url=url,
        author=Author(name="Ada"),
        tags=["t"],
        pricing_mode=PricingMode.FIXED,
        amounts=PRICE,
    )


def onchain(
    n: int,
    holder: str | None = OURS,
    metadata: AgentMetadata | None = None,
    violations: list[Violation] | None = None,
    quantity: int = 1,
) -> OnchainAgent:
    return OnchainAgent(
        identifier=AgentIdentifier.parse(unit(n)),
        holder=None if quantity == 0 else holder,
        quantity=quantity,
        mint_tx_hash="aa" * 32,
        metadata=model() if metadata is None and not violations else metadata,
        violations=violations or [],
    )


def record(
    n: int | None, state: str = "RegistrationConfirmed", **changes: object
) -> RegistryRecord:
    base = RegistryRecord(
        agent_identifier=None if n is None else unit(n),
        state=state,
        name="Agent",
        api_base_url="https://a.example",
        pricing_mode=PricingMode.FIXED,
        amounts=PRICE,
        holder_address=OURS,
        request_id=f"req-{n}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_agreement_is_silent() -> None:
    assert audit([onchain(1)], [record(1)]) == []
    assert audit([], []) == []


def test_missing_on_chain() -> None:
    assert audit([onchain(1, quantity=0)], [record(1)]) == [
        Difference(
            unit(1), "req-1", MISSING_ON_CHAIN, "RegistrationConfirmed but the NFT is burned"
        )
    ]
    assert audit([], [record(2, "DeregistrationFailed")]) == [
        Difference(
            unit(2),
            "req-2",
            MISSING_ON_CHAIN,
            "DeregistrationFailed but the NFT is absent from the chain",
        )
    ]
    assert audit([], [record(None)]) == [
        Difference(
            None, "req-None", MISSING_ON_CHAIN, "RegistrationConfirmed without an agent identifier"
        )
    ]


def test_in_flight_records_are_not_compared() -> None:
    for state in (
        "RegistrationRequested",
        "RegistrationInitiated",
        "RegistrationFailed",
        "DeregistrationInitiated",
    ):
        assert audit([], [record(1, state)]) == [], state


def test_still_on_chain_after_deregistration() -> None:
    assert audit([onchain(1)], [record(1, "DeregistrationConfirmed")]) == [
        Difference(unit(1), "req-1", STILL_ON_CHAIN, "deregistration confirmed but the NFT lives")
    ]
    assert audit([onchain(1, quantity=0)], [record(1, "DeregistrationConfirmed")]) == []


def test_not_in_database_only_for_our_holders() -> None:
    agents = [onchain(1), onchain(2, holder=THEIRS), onchain(3, quantity=0), onchain(4)]
    assert audit(agents, [record(4)]) == [
        Difference(unit(1), None, NOT_IN_DATABASE, f"live NFT held by {OURS}")
    ]
    assert audit(agents, [record(4)], own_addresses={THEIRS}) == [
        Difference(unit(2), None, NOT_IN_DATABASE, f"live NFT held by {THEIRS}")
    ]
    assert audit(agents, []) == []  # no records: no address known as ours


def test_holder_changed() -> None:
    assert audit([onchain(1, holder=THEIRS)], [record(1)], own_addresses={OURS}) == [
        Difference(unit(1), "req-1", HOLDER_CHANGED, f"held by {THEIRS}, recorded holder {OURS}")
    ]
    assert audit([onchain(1, holder=THEIRS)], [record(1, holder_address=None)]) == []


def test_metadata_differs_names_each_field() -> None:
    agent = onchain(
        1,
        metadata=AgentMetadata(
            name="Renamed",
            api_base_url="https://b.example",
            author=Author(name="Ada"),
            tags=["t"],
            pricing_mode=PricingMode.FIXED_PRICES,
            amounts=[Amount(quantity=1, unit="lovelace"), Amount(quantity=2, unit="lovelace")],
        ),
    )
    [difference] = audit([agent], [record(1)])
    assert (difference.kind, difference.request_id) == (METADATA_DIFFERS, "req-1")
    assert difference.detail == (
        "name 'Renamed' on chain, 'Agent' recorded; "
        "api_base_url 'https://b.example' on chain, 'https://a.example' recorded; "
        "pricing mode Fixed+prices on chain, Fixed recorded; "
        f"amounts [1 lovelace, 2 lovelace] on chain, [1000000 {USDM}] recorded"
    )


def test_invalid_metadata_for_our_agents() -> None:
    broken = [Violation("tags", "required")]
    ours = onchain(1, violations=broken)
    theirs = onchain(2, holder=THEIRS, violations=broken)
    limits = onchain(3, metadata=model(), violations=[Violation("name", "at most 250")])
    found = audit([ours, theirs, limits], [record(1), record(3)])
    assert found == [
        Difference(unit(1), "req-1", INVALID_METADATA, "unreadable: tags: required"),
        Difference(unit(3), "req-3", INVALID_METADATA, "readable: name: at most 250"),
    ]


def test_differences_are_sorted() -> None:
    agents = [onchain(3), onchain(2, holder=THEIRS), onchain(1, quantity=0)]
    records = [record(1), record(2), record(5, "DeregistrationConfirmed")]
    found = audit(agents, records, own_addresses={OURS})
    assert [(d.agent_identifier, d.kind) for d in found] == [
        (unit(1), MISSING_ON_CHAIN),
        (unit(2), HOLDER_CHANGED),
        (unit(3), NOT_IN_DATABASE),
    ]
    assert audit(reversed(agents), reversed(records), own_addresses={OURS}) == found
