"""Agents read from the chain, not the database: through registry.onchain, shaped for the API."""

from __future__ import annotations

from node.agents.schemas import OnchainAgentOut, OnchainRegistryPage, ViolationOut
from node.agents.service import describe
from node.chain.blockfrost import BlockfrostChain
from node.chain.port import ChainNotFound
from node.runtime import Runtime
from node.web import ApiError, field_error, not_found
from registry import onchain
from registry.identifiers import AgentIdentifier


def _chain(runtime: Runtime) -> BlockfrostChain:
    if runtime.chain is None:
        raise ApiError(503, "this node has no chain connection", code="no_chain")
    return runtime.chain


def _out(agent: onchain.OnchainAgent) -> OnchainAgentOut:
    identifier = agent.identifier
    return OnchainAgentOut(
        policy_id=identifier.policy_id,
        asset_name=identifier.asset_name,
        agent_identifier=identifier.unit,
        holder=agent.holder,
        quantity=agent.quantity,
        mint_tx_hash=agent.mint_tx_hash,
        metadata=None if agent.metadata is None else describe(agent.metadata),
        violations=[ViolationOut(path=v.path, message=v.message) for v in agent.violations],
        raw_name=agent.raw_name,
    )


def agent(runtime: Runtime, text: str) -> OnchainAgentOut:
    """One agent by its identifier: 404 when the chain has no such asset."""
    try:
        identifier = AgentIdentifier.parse(text)
    except ValueError as error:
        raise field_error("agentIdentifier", str(error)) from error
    try:
        found = onchain.read_agent(_chain(runtime), identifier.unit)
    except ChainNotFound as error:
        raise not_found("agent") from error
    return _out(found)


def agents_at(runtime: Runtime, address: str) -> list[OnchainAgentOut]:
    """The registry NFTs at `address` (under this network's registry policy), each read back."""
    chain = _chain(runtime)
    policy_id = runtime.network.registry.policy_id
    if policy_id is None:
        return []
    units = {
        policy.payload.hex() + name.payload.hex()
        for utxo in chain.utxos_at(address)
        for policy, assets in utxo.output.amount.multi_asset.items()
        for name, quantity in assets.items()
        if quantity > 0
    }
    found = [onchain.read_agent(chain, unit) for unit in onchain.agent_units_in(units, policy_id)]
    return [_out(agent) for agent in found]


def registry_page(
    runtime: Runtime, policy_id: str | None, page: int, limit: int, include_burned: bool
) -> OnchainRegistryPage:
    """Page `page` of the policy's assets (the network's registry policy unless given), each
    read back from the chain with its holder, metadata and violations."""
    chain = _chain(runtime)
    policy = policy_id or runtime.network.registry.policy_id
    if policy is None:
        raise ApiError(503, "this network has no registry policy", code="no_registry")
    try:
        policy = AgentIdentifier.parse(policy).policy_id
    except ValueError as error:
        raise field_error("policyId", str(error)) from error
    rows = chain.policy_assets(policy, page=page, count=limit)
    agents = [
        _out(onchain.read_agent(chain, row.unit))
        for row in rows
        if row.quantity > 0 or include_burned
    ]
    next_page = page + 1 if len(rows) == limit else None
    return OnchainRegistryPage(assets=agents, policy_id=policy, page=page, next_page=next_page)
