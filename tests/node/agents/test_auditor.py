"""Auditors read the registry from the chain, not the database: GET /api/v1/registry/onchain,
`paynode registry list` (table, JSON, CSV) and `paynode registry audit`, which names every
difference between the chain and the node's rows (an NFT burned behind the node's back, an
agent minted by hand into the node's wallet with broken metadata)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from pycardano import Address
from sqlmodel import Session, select

from node.agents.models import RegistryRequest
from node.chain.builders import Actor
from node.chain.context import PortChainContext
from node.chain.contracts import registry_contract
from node.chain.registry_builders import RegistryBuilders
from node.wallets.models import HotWallet
from node.wallets.service import wallet_keys
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.devnet.http_helpers import faucet
from tests.node.agents.bodies import agent_body
from tests.node.agents.conftest import ADA, World
from tests.node.agents.test_registration import amounts_for, confirmed, created
from tests.node.chain.escrow_world import actor

PAYNODE = str(Path(sys.executable).parent / "paynode")
STRANGER = actor("stranger", "registry-auditor")
BROKEN = {
    "name": "Broken agent",
    "api_base_url": "ftp://nowhere",
    "tags": [],
    "metadata_version": "1",
}


def paynode(
    world: World, database_url: str, data_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYNODE_")}
    env.update(
        PAYNODE_DATABASE_URL=database_url,
        PAYNODE_DATA_DIR=str(data_dir),
        PAYNODE_ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
        PAYNODE_BLOCKFROST_URL=world.devnet.url + "/api",
    )
    return subprocess.run(
        [PAYNODE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def builders_for(world: World) -> RegistryBuilders:
    chain = world.runtime.chain
    assert chain is not None
    contract = registry_contract(world.runtime.network, chain)
    return RegistryBuilders(
        PortChainContext(chain, 0),
        contract.script,
        contract.policy_id,
        clock=world.devnet_clock,
        slot_config=world.runtime.network.slot_config,
    )


def seller_actor(world: World, vkey: str) -> Actor:
    with Session(world.runtime.engine) as session:
        wallet = session.exec(select(HotWallet).where(HotWallet.payment_key_hash == vkey)).one()
    keys = wallet_keys(world.runtime.secrets, wallet, 0)
    return Actor(keys.payment_signing_key, Address.from_primitive(keys.address))


def submit(world: World, built: Any) -> None:
    assert world.runtime.chain is not None
    world.runtime.chain.submit(built.cbor)


def registered(world: World, pay: httpx.Client, seller: str, mode: str) -> dict[str, Any]:
    body = agent_body(seller, mode, amounts_for(world, mode))
    return confirmed(world, pay, created(pay.post("/api/agents", json=body))["id"])


def test_the_chain_registry_the_cli_and_the_audit(
    world: World, pay: httpx.Client, seller: str, database_url: str, tmp_path: Path
) -> None:
    kept = registered(world, pay, seller, "Fixed")
    lost = registered(world, pay, seller, "Dynamic")
    builders = builders_for(world)
    owner = seller_actor(world, seller)
    with Session(world.runtime.engine) as session:
        lost_row = session.get(RegistryRequest, lost["id"])
        assert lost_row is not None and lost_row.asset_name is not None
    lost_name = bytes.fromhex(lost_row.asset_name)
    nft = next(
        utxo
        for utxo in builders.context.utxos(owner.address)
        if any(
            name.payload == lost_name
            for assets in utxo.output.amount.multi_asset.values()
            for name in assets
        )
    )
    submit(world, builders.burn(owner, nft, lost_name))  # behind the node's back
    faucet(world.http, str(STRANGER.address), 50 * ADA)
    built, broken_name = builders.mint(STRANGER, BROKEN, recipient=owner.address)
    submit(world, built)
    policy_id = world.runtime.network.registry.policy_id
    broken = f"{policy_id}{broken_name}"

    page = pay.get("/api/v1/registry/onchain", params={"network": "Devnet"}).json()["data"]
    by_id = {agent["agentIdentifier"]: agent for agent in page["Assets"]}
    assert page["policyId"] == policy_id and page["nextPage"] is None
    assert kept["agentIdentifier"] in by_id and broken in by_id
    assert lost["agentIdentifier"] not in by_id
    assert by_id[kept["agentIdentifier"]]["violations"] == []
    assert by_id[kept["agentIdentifier"]]["holder"] == str(owner.address)
    assert by_id[broken]["Metadata"] is None and by_id[broken]["rawName"] == "Broken agent"
    broken_paths = {v["path"] for v in by_id[broken]["violations"]}
    assert {"api_base_url", "author", "image", "tags", "agentPricing"} <= broken_paths
    burned = pay.get(
        "/api/v1/registry/onchain",
        params={"network": "Devnet", "includeBurned": "true", "limit": 1},
    ).json()["data"]
    assert len(burned["Assets"]) == 1 and burned["nextPage"] == 2

    listed = paynode(world, database_url, tmp_path, "registry", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["agentIdentifier"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(by_id)
    assert rows[kept["agentIdentifier"]]["pricingMode"] == "Fixed"
    assert rows[kept["agentIdentifier"]]["amounts"] == [{"quantity": "1000000", "unit": world.usdm}]
    assert {v["path"] for v in rows[broken]["violations"]} == broken_paths
    as_csv = paynode(world, database_url, tmp_path, "registry", "list", "--csv")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {row["agentIdentifier"] for row in table} == set(by_id)
    both = paynode(world, database_url, tmp_path, "registry", "list", "--json", "--csv")
    assert both.returncode == 2 and "choose one" in both.stderr

    audit = paynode(world, database_url, tmp_path, "registry", "audit", "--json")
    assert audit.returncode == 1, audit.stderr
    found = {(d["agentIdentifier"], d["kind"]) for d in json.loads(audit.stdout)}
    assert (lost["agentIdentifier"], "missing-on-chain") in found
    assert (broken, "not-in-database") in found
    assert not [kind for identifier, kind in found if identifier == kept["agentIdentifier"]]
