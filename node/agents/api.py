"""Agent registration routes: seed 002's `POST /api/agents` (root level) and Masumi's
`/api/v1/registry` family. Registrations are read from the database; `/registry/wallet` and
`/registry/agent-identifier` and `/registry/onchain` read the chain."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from node.agents import onchain, service
from node.agents.schemas import (
    AgentCreate,
    OnchainAgentList,
    OnchainAgentOut,
    OnchainRegistryPage,
    RegistryCreate,
    RegistryDeregister,
    RegistryEntry,
    RegistryList,
)
from node.auth.api import PayKey, ReadKey
from node.auth.schemas import NetworkDisplayName
from node.runtime import RuntimeDep, SessionDep
from node.wallets.models import HotWalletType
from node.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Success, field_error, not_found, success

router = APIRouter(tags=["registry"])  # under /api/v1
seed_router = APIRouter(tags=["registry"])  # at the root: the seed's path

FilterStatus = Literal["Registered", "Deregistered", "Pending", "Failed"]


def _check_network(network: str, serves: str) -> None:
    if network != serves:
        raise field_error("network", f"this node serves {serves}")


@seed_router.post(
    "/api/agents",
    summary="Register an agent with Free, Fixed, Fixed+prices or Dynamic pricing (seed 002)",
)
def create_agent(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: AgentCreate
) -> Success[RegistryEntry]:
    row, wallet = service.register(session, runtime.network, request, caller.key.id)
    return success(service.to_entry(row, wallet))


@router.post("/registry", summary="Register an agent: mint its registry NFT (Masumi)")
def create_registry(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: RegistryCreate
) -> Success[RegistryEntry]:
    row, wallet = service.register(session, runtime.network, request, caller.key.id)
    return success(service.to_entry(row, wallet))


@router.get("/registry", summary="This node's registrations, newest first")
def list_registry(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    network: NetworkDisplayName,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
    filter_status: Annotated[FilterStatus | None, Query(alias="filterStatus")] = None,
    search_query: Annotated[str | None, Query(alias="searchQuery", max_length=250)] = None,
    filter_agent_identifier: Annotated[
        str | None, Query(alias="filterAgentIdentifier", min_length=57, max_length=250)
    ] = None,
) -> Success[RegistryList]:
    _check_network(network, runtime.profile.display_name)
    rows = service.list_registrations(
        session,
        runtime.profile,
        limit=limit,
        cursor_id=cursor_id,
        status=filter_status,
        search=search_query,
        agent_identifier=filter_agent_identifier,
    )
    wallets = service.wallets_of(session, rows)
    entries = [service.to_entry(row, wallets[row.selling_wallet_id]) for row in rows]
    next_cursor = rows[-1].id if len(rows) == limit else None
    return success(RegistryList(assets=entries, next_cursor_id=next_cursor))


@router.post("/registry/deregister", summary="Deregister an agent: burn its registry NFT")
def deregister(
    _caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: RegistryDeregister
) -> Success[RegistryEntry]:
    row = service.deregister(session, runtime.profile, request)
    wallets = service.wallets_of(session, [row])
    return success(service.to_entry(row, wallets[row.selling_wallet_id]))


@router.get("/registry/wallet", summary="The agents a selling wallet holds on chain (MIP-002)")
def agents_of_wallet(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    wallet_vkey: Annotated[str, Query(alias="walletVkey", pattern=r"^[0-9a-fA-F]{56}$")],
    network: NetworkDisplayName,
) -> Success[OnchainAgentList]:
    _check_network(network, runtime.profile.display_name)
    wallet = service.find_wallet(session, runtime.profile, wallet_vkey)
    if wallet is None or wallet.type != HotWalletType.SELLING:
        raise not_found("selling wallet")
    return success(OnchainAgentList(assets=onchain.agents_at(runtime, wallet.address)))


@router.get(
    "/registry/agent-identifier",
    summary="One agent read from the chain: metadata, holder and the MIP-002 violations found",
)
def agent_by_identifier(
    _caller: ReadKey,
    runtime: RuntimeDep,
    agent_identifier: Annotated[str, Query(alias="agentIdentifier", min_length=57, max_length=250)],
    network: NetworkDisplayName,
) -> Success[OnchainAgentOut]:
    _check_network(network, runtime.profile.display_name)
    return success(onchain.agent(runtime, agent_identifier))


@router.get(
    "/registry/onchain",
    summary="Every agent under the registry policy, read from the chain, not the database",
)
def onchain_registry(
    _caller: ReadKey,
    runtime: RuntimeDep,
    network: NetworkDisplayName,
    policy_id: Annotated[str | None, Query(alias="policyId", pattern=r"^[0-9a-fA-F]{56}$")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    include_burned: Annotated[bool, Query(alias="includeBurned")] = False,
) -> Success[OnchainRegistryPage]:
    _check_network(network, runtime.profile.display_name)
    return success(onchain.registry_page(runtime, policy_id, page, limit, include_burned))
