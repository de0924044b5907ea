"""A network profile with what it leaves out filled in.

Preprod and mainnet profiles name everything. The devnet profile leaves out what only a running
devnet knows, its slot config and its test stablecoin (GET /devnet/info), and any profile using
our contracts may leave out their address and the registry policy id, which follow from applying
our scripts with the profile's parameters. On the devnet the escrow's reference script is deployed
here too, by the devnet's public reference holder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pycardano import Address, Network, UTxO, plutus_script_hash

from contracts.params import escrow_script, registry_policy
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import Actor
from node.chain.context import PortChainContext
from node.chain.contracts import (
    REFERENCE_SCRIPT_LOVELACE,
    ContractError,
    deploy_reference_script,
    escrow_contract,
    find_reference_output,
    our_escrow_params,
)
from node.config import NetworkProfile, SlotConfig

DEVNET_INFO_TIMEOUT_S = 10.0
T = TypeVar("T")


class NetworkResolutionError(Exception):
    """The profile cannot be completed (the devnet does not answer, parameters are missing)."""


def devnet_base_url(blockfrost_url: str) -> str:
    """The devnet's own root, from the Blockfrost base URL it serves (`…/api`)."""
    base = blockfrost_url.rstrip("/")
    return base.removesuffix("/v0").removesuffix("/api")


def fetch_devnet_info(blockfrost_url: str) -> dict[str, Any]:
    url = devnet_base_url(blockfrost_url) + "/devnet/info"
    try:
        response = httpx.get(url, timeout=DEVNET_INFO_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise NetworkResolutionError(f"the devnet does not answer at {url}: {error}") from error
    info: dict[str, Any] = response.json()
    return info


def resolve_profile(
    profile: NetworkProfile, blockfrost_url: str, devnet_info: dict[str, Any] | None = None
) -> NetworkProfile:
    """`profile` complete: slot config, stablecoin unit, escrow address and hash, registry policy.
    On the devnet, `devnet_info` (GET /devnet/info) is fetched when not given."""
    updates: dict[str, Any] = {}
    if profile.name == "devnet" and (profile.slot_config is None or not profile.stablecoin.unit):
        info = devnet_info if devnet_info is not None else fetch_devnet_info(blockfrost_url)
        if profile.slot_config is None:
            updates["slot_config"] = SlotConfig.model_validate(info["slot_config"])
        if not profile.stablecoin.unit:
            unit = info["usdm"]["unit"]
            updates["stablecoin"] = profile.stablecoin.model_copy(update={"unit": unit})
    escrow = profile.escrow
    if escrow.source == "contracts" and escrow.address is None:
        network = Network.MAINNET if profile.network_id == 1 else Network.TESTNET
        script = escrow_script(our_escrow_params(escrow))
        escrow = escrow.model_copy(
            update={"address": str(script.address(network)), "script_hash": script.hash.hex()}
        )
        updates["escrow"] = escrow
    if profile.registry.policy_id is None:
        if escrow.source != "contracts" or escrow.address is None:
            raise ContractError("registry.policy_id is not set")
        policy_id = registry_policy(escrow.address).hash.hex()
        updates["registry"] = profile.registry.model_copy(update={"policy_id": policy_id})
    return profile.model_copy(update=updates) if updates else profile


def deploy_devnet_reference_script(
    profile: NetworkProfile,
    chain: BlockfrostChain,
    blockfrost_url: str,
    wait_s: float = 30.0,
    make_block: Callable[[], object] | None = None,
) -> UTxO:
    """On the devnet: the output carrying our escrow script at the profile's reference address,
    deployed once by the devnet's public reference holder (devnet/admins.py), funded from the
    devnet's faucet. An existing one is returned as it is. A devnet that makes blocks only when
    asked (tests) gets them from `make_block`, after the faucet and after the deploy; a realtime
    one is waited for."""
    from devnet.admins import reference_holder_signing_key  # the devnet's keys, devnet only

    holder = profile.escrow.reference_address
    if profile.name != "devnet" or holder is None:
        raise ContractError("only the devnet deploys its own reference script")
    script = escrow_contract(profile, chain).script
    script_hash = plutus_script_hash(script).payload.hex()
    found = find_reference_output(chain, holder, script_hash)
    if found is not None:
        return found
    key = reference_holder_signing_key()
    payer = Actor(key, Address.from_primitive(holder))
    faucet = devnet_base_url(blockfrost_url) + "/devnet/faucet"
    funding = {"address": holder, "lovelace": REFERENCE_SCRIPT_LOVELACE + 5_000_000}
    httpx.post(faucet, json=funding, timeout=60).raise_for_status()
    if make_block is not None:
        make_block()
    _wait(lambda: chain.utxos_at(holder), wait_s)
    built = deploy_reference_script(
        PortChainContext(chain, profile.network_id), payer, script, payer.address
    )
    chain.submit(built.cbor)
    if make_block is not None:
        make_block()
    return _wait(lambda: find_reference_output(chain, holder, script_hash), wait_s)


def _wait(find: Callable[[], T | None], wait_s: float) -> T:
    """`find()` once it answers (a realtime devnet makes a block every few seconds)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise ContractError(f"the devnet did not show it within {wait_s:.0f} s")
        time.sleep(0.25)
