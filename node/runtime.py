"""What a running node holds: its settings, network profile, database engine and secret box."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from node.chain.blockfrost import BlockfrostChain
from node.config import NetworkProfile, Settings
from node.crypto import SecretBox


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    profile: NetworkProfile
    engine: Engine
    secrets: SecretBox
    chain: BlockfrostChain | None = None


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
