"""What a running node holds: settings, network profile, database engine, secret box, chain."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import EscrowContract
from node.chain.clock import Clock, chain_clock
from node.chain.contracts import ContractError, escrow_contract
from node.chain.network import resolve_profile
from node.clock import now_ms
from node.config import NetworkProfile, Settings
from node.crypto import SecretBox

T = TypeVar("T")


class RecentReads:
    """Chain answers kept for a short while per key, so a burst of requests that each need the
    same fact (an agent's holder and pricing) asks Blockfrost once. Failures are not kept."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, max_age_ms: int, read: Callable[[], T]) -> T:
        now = time.monotonic_ns() // 1_000_000
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < max_age_ms:
            found: T = kept[1]
            return found
        value = read()
        with self._lock:
            self._kept[key] = (now, value)
        return value


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    profile: NetworkProfile
    engine: Engine
    secrets: SecretBox
    chain: BlockfrostChain | None = None

    @cached_property
    def network(self) -> NetworkProfile:
        """The profile completed (slot config, stablecoin, contract addresses, registry policy);
        on the devnet this asks the devnet once, so it is resolved on first use, not at start."""
        return resolve_profile(self.profile, self.blockfrost_url)

    @property
    def known_network(self) -> NetworkProfile:
        """`network` when the node has a chain to complete it from, else the profile as
        configured (a node without a chain: some tests, the OpenAPI export)."""
        return self.network if self.chain is not None else self.profile

    def now(self) -> int:
        """The chain's time when the node has a chain, else the wall clock."""
        return self.clock() if self.chain is not None else now_ms()

    @cached_property
    def escrow(self) -> EscrowContract:
        """The network's escrow contract: ours applied, or the deployed one fetched by hash,
        once per runtime; spent by reference when the profile's reference address holds an
        output carrying it (`paynode escrow deploy-reference-script`, node.wallets.reference,
        deploys one on any network; node.chain.network.deploy_devnet_reference_script on the
        devnet)."""
        if self.chain is None:
            raise ContractError("this node has no chain")
        holder = self.network.escrow.reference_address
        return escrow_contract(self.network, self.chain, reference_holder=holder)

    @cached_property
    def clock(self) -> Clock:
        """Now, in POSIX ms, as the chain counts it: the devnet's ledger clock on the devnet
        (which tests and the demo move forward), the wall clock elsewhere."""
        return chain_clock(self.profile.name, self.blockfrost_url)

    @cached_property
    def recent(self) -> RecentReads:
        return RecentReads()

    @property
    def blockfrost_url(self) -> str:
        return self.settings.blockfrost_url or self.profile.blockfrost_url


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
