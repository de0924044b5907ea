"""Agents registered through the API, minted by the worker on a devnet, read back from the chain;
deregistered and burned; the list with its filters and cursor."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from pytest_mock import MockerFixture

from node.agents.models import RegistryState
from node.chain.port import ChainNotFound, SubmitOutcomeUnknown
from node.wallets.models import TxStatus
from registry import metadata as mip002
from registry import onchain
from tests.node.agents.bodies import LONG_DESCRIPTION, LONG_URL, agent_body, registry_body
from tests.node.agents.conftest import World

SELLER_AGENT_FIELDS = ("name", "description", "apiBaseUrl", "Capability", "Author", "Legal")


def amounts_for(world: World, mode: str) -> list[dict[str, Any]] | None:
    if mode == "Fixed":
        return [{"quantity": 1_000_000, "unit": world.usdm}]
    if mode == "Fixed+prices":
        return [
            {"quantity": "500000", "unit": world.usdm},
            {"quantity": 2_000_000, "unit": world.usdm},
            {"quantity": 7_000_000, "unit": "lovelace"},
        ]
    return None


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def on_chain(world: World, pay: httpx.Client, identifier: str) -> dict[str, Any]:
    answer = pay.get(
        "/api/v1/registry/agent-identifier",
        params={"agentIdentifier": identifier, "network": "Devnet"},
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def confirmed(world: World, pay: httpx.Client, entry_id: str) -> dict[str, Any]:
    """Run the worker until the registration is confirmed; the entry as the API lists it."""
    assert world.process() == 1
    row = world.row(entry_id)
    assert row.state == RegistryState.REGISTRATION_INITIATED and row.tx_hash
    assert row.agent_identifier is None
    assert [tx.tx_hash for tx in world.journal() if tx.tx_hash == row.tx_hash]
    world.blocks()
    assert world.confirm() == 1
    listed = pay.get("/api/v1/registry", params={"network": "Devnet"}).json()["data"]["Assets"]
    entry: dict[str, Any] = next(item for item in listed if item["id"] == entry_id)
    assert entry["state"] == "RegistrationConfirmed"
    assert entry["CurrentTransaction"] == {"txHash": row.tx_hash, "status": "Confirmed"}
    policy_id = world.runtime.network.registry.policy_id
    assert entry["agentIdentifier"] == f"{policy_id}{row.asset_name}"
    return entry


@pytest.mark.parametrize("mode", ["Free", "Fixed", "Fixed+prices", "Dynamic"])
def test_each_pricing_mode_registers_and_reads_back_from_the_chain(
    world: World, pay: httpx.Client, seller: str, mode: str
) -> None:
    amounts = amounts_for(world, mode)
    entry = created(pay.post("/api/agents", json=agent_body(seller, mode, amounts)))
    assert entry["state"] == "RegistrationRequested" and entry["agentIdentifier"] is None
    assert entry["pricingMode"] == mode
    assert entry["SmartContractWallet"]["walletVkey"] == seller
    assert entry["sendFundingLovelace"] == "5000000"
    expected = [
        {"quantity": str(a["quantity"]), "unit": a["unit"]} for a in amounts or []
    ]  # units as the node normalises them: "lovelace" for ADA
    assert entry["amounts"] == expected
    entry = confirmed(world, pay, entry["id"])

    chain_view = on_chain(world, pay, entry["agentIdentifier"])
    assert chain_view["violations"] == []
    metadata = chain_view["Metadata"]
    for field in (*SELLER_AGENT_FIELDS, "Tags", "ExampleOutputs", "pricingMode", "amounts"):
        assert metadata[field] == entry[field], field
    masumi_type = {"Fixed+prices": "Dynamic"}.get(mode, mode)
    assert metadata["AgentPricing"]["pricingType"] == masumi_type
    if mode == "Fixed":
        assert metadata["AgentPricing"]["Pricing"] == [{"unit": world.usdm, "amount": "1000000"}]

    assert world.runtime.chain is not None
    agent = onchain.read_agent(world.runtime.chain, entry["agentIdentifier"])
    stored = mip002.decode(world.row(entry["id"]).onchain_metadata).metadata
    assert agent.metadata == stored and agent.violations == []
    assert agent.metadata is not None and agent.metadata.pricing_mode == mode
    assert [(a.quantity, a.unit) for a in agent.metadata.amounts] == [
        (int(a["quantity"]), a["unit"]) for a in expected
    ]
    assert agent.holder == entry["SmartContractWallet"]["walletAddress"]
    assert world.rows()[0].requested_by is not None


def test_masumi_registry_body_with_a_price_of_two_assets(
    world: World, pay: httpx.Client, seller: str
) -> None:
    pricing = {
        "pricingType": "Fixed",
        "Pricing": [{"unit": "", "amount": "3000000"}, {"unit": world.usdm, "amount": "250000"}],
    }
    body = registry_body(seller, pricing)
    body["sendFundingLovelace"] = "8000000"
    entry = created(pay.post("/api/v1/registry", json=body))
    assert entry["AgentPricing"] == pricing and entry["pricingMode"] == "Fixed"
    assert entry["sendFundingLovelace"] == "8000000"
    entry = confirmed(world, pay, entry["id"])
    chain_view = on_chain(world, pay, entry["agentIdentifier"])
    assert chain_view["Metadata"]["AgentPricing"] == pricing
    assert chain_view["violations"] == []
    assert world.runtime.chain is not None
    address = entry["SmartContractWallet"]["walletAddress"]
    nft = world.runtime.chain.utxos_at(address, asset=entry["agentIdentifier"])
    assert [utxo.output.amount.coin for utxo in nft] == [8_000_000]


@pytest.mark.parametrize(
    "pricing", [{"pricingType": "Free"}, {"pricingType": "Dynamic"}], ids=["Free", "Dynamic"]
)
def test_masumi_free_and_dynamic(
    world: World, pay: httpx.Client, seller: str, pricing: dict[str, Any]
) -> None:
    entry = created(pay.post("/api/v1/registry", json=registry_body(seller, pricing)))
    assert entry["AgentPricing"] == pricing and entry["amounts"] == []
    entry = confirmed(world, pay, entry["id"])
    assert on_chain(world, pay, entry["agentIdentifier"])["Metadata"]["AgentPricing"] == pricing


def test_long_strings_round_trip_through_chunks(
    world: World, pay: httpx.Client, seller: str
) -> None:
    body = agent_body(seller, "Dynamic")
    body["description"] = LONG_DESCRIPTION
    body["apiBaseUrl"] = LONG_URL[:250]
    body["Author"]["contactOther"] = "x" * 200
    assert len(LONG_DESCRIPTION.encode()) > 64
    entry = confirmed(world, pay, created(pay.post("/api/agents", json=body))["id"])
    assert world.runtime.chain is not None
    raw = world.runtime.chain.asset(entry["agentIdentifier"]).onchain_metadata
    assert raw is not None
    assert isinstance(raw["description"], list) and len(raw["description"]) > 1
    assert isinstance(raw["api_base_url"], list)
    metadata = on_chain(world, pay, entry["agentIdentifier"])["Metadata"]
    assert metadata["description"] == LONG_DESCRIPTION
    assert metadata["apiBaseUrl"] == LONG_URL[:250]
    assert metadata["Author"]["contactOther"] == "x" * 200


def test_deregistration_burns_the_nft(world: World, pay: httpx.Client, seller: str) -> None:
    entry = created(pay.post("/api/agents", json=agent_body(seller, "Free")))
    entry = confirmed(world, pay, entry["id"])
    identifier = entry["agentIdentifier"]
    wallet_view = pay.get(
        "/api/v1/registry/wallet", params={"walletVkey": seller, "network": "Devnet"}
    )
    assert [a["agentIdentifier"] for a in wallet_view.json()["data"]["Assets"]] == [identifier]
    assert wallet_view.json()["data"]["Assets"][0]["Metadata"]["name"] == "Free summariser"

    body = {"network": "Devnet", "agentIdentifier": identifier}
    answer = created(pay.post("/api/v1/registry/deregister", json=body))
    assert answer["state"] == "DeregistrationRequested"
    assert world.process() == 1
    row = world.row(entry["id"])
    assert (
        row.state == RegistryState.DEREGISTRATION_INITIATED
        and row.tx_hash != entry["CurrentTransaction"]["txHash"]
    )
    world.blocks()
    assert world.confirm() == 1
    row = world.row(entry["id"])
    assert row.state == RegistryState.DEREGISTRATION_CONFIRMED
    assert row.agent_identifier == identifier

    assert world.runtime.chain is not None
    try:
        quantity = world.runtime.chain.asset(identifier).quantity
    except ChainNotFound:
        quantity = 0
    assert quantity == 0
    wallet_view = pay.get(
        "/api/v1/registry/wallet", params={"walletVkey": seller, "network": "Devnet"}
    )
    assert wallet_view.json()["data"]["Assets"] == []
    again = pay.post("/api/v1/registry/deregister", json=body)
    assert (
        again.status_code == 409 and "DeregistrationConfirmed" in again.json()["error"]["message"]
    )
    listed = pay.get(
        "/api/v1/registry", params={"network": "Devnet", "filterStatus": "Deregistered"}
    ).json()["data"]["Assets"]
    assert [item["id"] for item in listed] == [entry["id"]]


def test_only_a_confirmed_agent_can_be_deregistered(
    world: World, pay: httpx.Client, seller: str
) -> None:
    unknown = {"network": "Devnet", "agentIdentifier": "ab" * 60}
    assert pay.post("/api/v1/registry/deregister", json=unknown).status_code == 404
    entry = created(pay.post("/api/agents", json=agent_body(seller, "Free")))
    world.process()
    world.blocks()
    row = world.row(entry["id"])
    policy_id = world.runtime.network.registry.policy_id
    pending = {"network": "Devnet", "agentIdentifier": f"{policy_id}{row.asset_name}"}
    assert pay.post("/api/v1/registry/deregister", json=pending).status_code == 404  # not yet
    world.confirm()
    other_network = {**pending, "network": "Preprod"}
    answer = pay.post("/api/v1/registry/deregister", json=other_network)
    assert answer.status_code == 422 and answer.json()["error"]["fields"] == ["network"]


def test_a_wallet_without_funds_fails_the_registration(
    world: World, pay: httpx.Client, admin_client: httpx.Client
) -> None:
    empty = world.add_wallet(admin_client, ada=0)
    entry = created(pay.post("/api/agents", json=agent_body(empty, "Free")))
    assert world.process() == 1
    row = world.row(entry["id"])
    assert row.state == RegistryState.REGISTRATION_FAILED and row.tx_hash is None
    assert row.error and "UTxO" in row.error
    assert world.journal() == []
    listed = pay.get("/api/v1/registry", params={"network": "Devnet", "filterStatus": "Failed"})
    assert [item["error"] for item in listed.json()["data"]["Assets"]] == [row.error]


def test_a_lost_submit_that_never_lands_expires_and_fails(
    world: World, pay: httpx.Client, seller: str, mocker: MockerFixture
) -> None:
    entry = created(pay.post("/api/agents", json=agent_body(seller, "Free")))
    chain = world.runtime.chain
    assert chain is not None
    mocker.patch.object(chain, "submit", side_effect=SubmitOutcomeUnknown("answer lost"))
    assert world.process() == 1
    mocker.stopall()
    row = world.row(entry["id"])
    assert row.state == RegistryState.REGISTRATION_INITIATED and row.tx_hash
    assert [tx.status for tx in world.journal()] == [TxStatus.OUTCOME_UNKNOWN]
    world.http.post("/devnet/time", json={"advance_seconds": 700})  # past the tx's TTL
    world.blocks()
    assert world.confirm() == 1
    row = world.row(entry["id"])
    assert row.state == RegistryState.REGISTRATION_FAILED
    assert row.error and row.error.startswith("Expired")
    assert [tx.status for tx in world.journal()] == [TxStatus.EXPIRED]


def test_two_workers_at_once_mint_each_agent_once(
    world: World, pay: httpx.Client, seller: str
) -> None:
    ids = [
        created(pay.post("/api/agents", json=agent_body(seller, "Free")))["id"] for _ in range(3)
    ]
    moved: list[int] = []
    workers = [threading.Thread(target=lambda: moved.append(world.process())) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rows = [world.row(row_id) for row_id in ids]
    assert {row.state for row in rows} == {RegistryState.REGISTRATION_INITIATED}
    journal = world.journal()
    assert sorted(tx.tx_hash for tx in journal) == sorted(row.tx_hash or "" for row in rows)
    assert len({row.asset_name for row in rows}) == 3
    world.blocks()
    assert world.confirm() == 3


def test_list_filters_search_and_cursor(world: World, pay: httpx.Client, seller: str) -> None:
    ids = []
    for mode in ("Free", "Dynamic", "Free"):
        body = agent_body(seller, mode)
        body["name"] = f"{mode} agent {len(ids)}"
        ids.append(created(pay.post("/api/agents", json=body))["id"])
    first = pay.get("/api/v1/registry", params={"network": "Devnet", "limit": 2}).json()["data"]
    assert [item["id"] for item in first["Assets"]] == ids[::-1][:2]
    assert first["nextCursorId"] == ids[1]
    rest = pay.get(
        "/api/v1/registry", params={"network": "Devnet", "limit": 2, "cursorId": ids[1]}
    ).json()["data"]
    assert [item["id"] for item in rest["Assets"]] == [ids[0]] and rest["nextCursorId"] is None
    search = pay.get("/api/v1/registry", params={"network": "Devnet", "searchQuery": "dynamic"})
    assert [item["id"] for item in search.json()["data"]["Assets"]] == [ids[1]]
    pending = pay.get("/api/v1/registry", params={"network": "Devnet", "filterStatus": "Pending"})
    assert len(pending.json()["data"]["Assets"]) == 3
    registered = pay.get(
        "/api/v1/registry", params={"network": "Devnet", "filterStatus": "Registered"}
    )
    assert registered.json()["data"]["Assets"] == []
    assert world.process() == 3  # one wallet, three mints: pending inputs are kept apart
    world.blocks()
    assert world.confirm() == 3
    identifier = world.row(ids[1]).agent_identifier
    assert identifier is not None
    by_id = pay.get(
        "/api/v1/registry", params={"network": "Devnet", "filterAgentIdentifier": identifier}
    )
    assert [item["id"] for item in by_id.json()["data"]["Assets"]] == [ids[1]]
    registered = pay.get(
        "/api/v1/registry", params={"network": "Devnet", "filterStatus": "Registered"}
    )
    assert len(registered.json()["data"]["Assets"]) == 3
    wrong = pay.get("/api/v1/registry", params={"network": "Mainnet"})
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"] == ["network"]


def test_reading_an_unknown_agent_from_the_chain(world: World, pay: httpx.Client) -> None:
    params = {"walletVkey": "ab" * 28, "network": "Devnet"}
    assert pay.get("/api/v1/registry/wallet", params=params).status_code == 404
    params = {"agentIdentifier": "cd" * 60, "network": "Devnet"}
    assert pay.get("/api/v1/registry/agent-identifier", params=params).status_code == 404
    params["agentIdentifier"] = "zz" * 60
    answer = pay.get("/api/v1/registry/agent-identifier", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["fields"] == ["agentIdentifier"]
