"""One devnet per test module for the mirror's tests (manual blocks: a block per submit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.node.chain.escrow_world import BUYER, SELLER, Escrow
from tests.node.sync.world import Mirror, sync_world


@pytest.fixture(scope="module")
def escrow(request: pytest.FixtureRequest, backend: str) -> Iterator[Escrow]:
    """A devnet per module and backend: the tests' purchases repeat their labels (and so their
    request ids), which must not meet twice on one chain however pytest orders the tests."""
    with sync_world(f"sync-{request.module.__name__}-{backend}") as world:
        yield world


@pytest.fixture
def mirror(engine: Engine, escrow: Escrow) -> Mirror:
    """Our node: both escrow parties are our wallets."""
    return Mirror(engine, escrow, [str(BUYER.address), str(SELLER.address)])
