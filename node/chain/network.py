"""A network profile with what it leaves out filled in.

Preprod and mainnet profiles name everything. The devnet profile leaves out what only a running
devnet knows, its slot config and its test stablecoin (GET /devnet/info), and any profile using
our contracts may leave out their address and the registry policy id, which follow from applying
our scripts with the profile's parameters.
"""

from __future__ import annotations

from typing import Any

import httpx
from pycardano import Network

from contracts.params import escrow_script, registry_policy
from node.chain.contracts import ContractError, our_escrow_params
from node.config import NetworkProfile, SlotConfig

DEVNET_INFO_TIMEOUT_S = 10.0


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
