"""The devnet profile completed from a running devnet and our contracts; the registry policy a
profile means, ours or loaded from the chain by its id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pycardano import Network

from contracts.params import escrow_script, registry_policy
from devnet import admins
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.context import PortChainContext
from node.chain.contracts import (
    ContractError,
    deploy_reference_script,
    escrow_contract,
    our_escrow_params,
    registry_contract,
)
from node.chain.network import (
    NetworkResolutionError,
    deploy_devnet_reference_script,
    devnet_base_url,
    resolve_profile,
)
from node.chain.port import ChainNotFound
from node.config import NetworkProfile, load_profile
from tests.devnet.http_helpers import faucet
from tests.node.chain.escrow_world import actor

HOLDER = actor("registry-reference-holder")


def test_the_devnet_profile_names_the_devnets_public_escrow_parties() -> None:
    escrow = load_profile("devnet").escrow
    assert escrow.admin_key_hashes == admins.admin_key_hashes()
    assert escrow.fee_address == admins.fee_address()
    assert escrow.required_admin_signatures == admins.REQUIRED_ADMIN_SIGNATURES


def test_a_devnet_profile_is_completed_from_the_devnet_and_our_contracts(
    chain_devnet: DevnetServer, devnet_http: httpx.Client
) -> None:
    info = devnet_http.get("/devnet/info").json()
    assert info["escrow"] == admins.escrow_parties()
    profile = resolve_profile(load_profile("devnet"), chain_devnet.url + "/api")

    assert profile.slot_config is not None
    assert profile.slot_config.zero_time_ms == info["slot_config"]["zero_time_ms"]
    assert profile.stablecoin.unit == info["usdm"]["unit"]
    script = escrow_script(our_escrow_params(profile.escrow))
    assert profile.escrow.address == str(script.address(Network.TESTNET))
    assert profile.escrow.script_hash == script.hash.hex()
    assert profile.registry.policy_id == registry_policy(profile.escrow.address).hash.hex()
    assert resolve_profile(profile, "http://127.0.0.1:1/api") == profile  # nothing left to ask


def test_a_devnet_that_does_not_answer_is_named() -> None:
    with pytest.raises(NetworkResolutionError, match=r"127\.0\.0\.1:1/devnet/info"):
        resolve_profile(load_profile("devnet"), "http://127.0.0.1:1/api")


@pytest.mark.parametrize(
    ("blockfrost_url", "root"),
    [
        ("http://127.0.0.1:3030/api", "http://127.0.0.1:3030"),
        ("http://127.0.0.1:3030/api/", "http://127.0.0.1:3030"),
        ("http://127.0.0.1:3030/api/v0", "http://127.0.0.1:3030"),
    ],
)
def test_the_devnet_root_comes_from_its_blockfrost_url(blockfrost_url: str, root: str) -> None:
    assert devnet_base_url(blockfrost_url) == root


def test_our_registry_policy_is_applied_to_our_escrow_address(
    chain_devnet: DevnetServer, chain: BlockfrostChain
) -> None:
    profile = resolve_profile(load_profile("devnet"), chain_devnet.url + "/api")
    contract = registry_contract(profile, chain)
    assert contract.policy_id.hex() == profile.registry.policy_id
    assert chain.requests.snapshot().get("GET /scripts/{script_hash}/cbor", 0) == 0


def test_a_deployed_registry_policy_is_loaded_by_its_id(
    chain_devnet: DevnetServer, chain: BlockfrostChain, devnet_http: httpx.Client
) -> None:
    ours = resolve_profile(load_profile("devnet"), chain_devnet.url + "/api")
    assert ours.escrow.address is not None
    policy = registry_policy(ours.escrow.address)
    faucet(devnet_http, str(HOLDER.address), 100 * 1_000_000)
    deploy = deploy_reference_script(
        PortChainContext(chain, 0), HOLDER, policy.plutus_script, HOLDER.address
    )
    chain.submit(deploy.cbor)
    deployed = _with_escrow(ours, source="chain")

    contract = registry_contract(deployed, chain)
    assert contract.script == policy.plutus_script
    assert chain.requests.snapshot()["GET /scripts/{script_hash}/cbor"] == 1

    unknown = deployed.model_copy(
        update={"registry": deployed.registry.model_copy(update={"policy_id": "ab" * 28})}
    )
    with pytest.raises(ChainNotFound):
        registry_contract(unknown, chain)


def test_a_profile_without_a_registry_policy_is_refused(chain: BlockfrostChain) -> None:
    profile = load_profile("devnet")
    with pytest.raises(ContractError, match=r"registry\.policy_id"):
        registry_contract(profile, chain)


def _with_escrow(profile: NetworkProfile, **changes: Any) -> NetworkProfile:
    return profile.model_copy(update={"escrow": profile.escrow.model_copy(update=changes)})


def test_the_devnet_deploys_its_escrow_reference_script_once_and_spends_use_it(
    chain_devnet: DevnetServer, chain: BlockfrostChain, devnet_http: httpx.Client
) -> None:
    api = chain_devnet.url + "/api"
    profile = resolve_profile(load_profile("devnet"), api)
    holder = profile.escrow.reference_address
    assert holder == admins.reference_holder_address()
    assert devnet_http.get("/devnet/info").json()["escrow"]["reference_address"] == holder

    deployed = deploy_devnet_reference_script(profile, chain, api)
    again = deploy_devnet_reference_script(profile, chain, api)
    assert again.input == deployed.input  # found, not deployed twice
    assert deployed.output.script == escrow_contract(profile, chain).script

    contract = escrow_contract(profile, chain, reference_holder=holder)
    assert contract.reference is not None and contract.reference.input == deployed.input
    with pytest.raises(ContractError, match="only the devnet"):
        deploy_devnet_reference_script(profile.model_copy(update={"name": "preprod"}), chain, api)
