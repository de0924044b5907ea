"""Fixtures every package's tests share: a database on each backend, a live node, API keys.

Every test that touches the database runs on SQLite and on PostgreSQL. The PostgreSQL variant
needs PAYNODE_TEST_DATABASE_URL (CI sets it); without it that variant is skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from node.app import create_app
from node.auth import service as auth_service
from node.auth.schemas import ApiKeyCreate
from node.config import Settings
from node.crypto import SecretBox
from node.db import migrate
from node.db.engine import make_engine, normalise_url
from node.db.metadata import target_metadata
from node.runtime import Runtime

TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789-abcdefghij"
POSTGRES_ENV = "PAYNODE_TEST_DATABASE_URL"


@contextmanager
def scratch_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of its own on `backend`, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'paynode.sqlite'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL variant: {POSTGRES_ENV} is not set (CI sets it)")
    name = f"paynode_test_{secrets.token_hex(6)}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each database test runs once per backend."""
    backend_name: str = request.param
    return backend_name


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database for this test session, migrated once by `migrated_engine`."""
    with scratch_database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """The session's migrated database, emptied before each test."""
    with migrated_engine.begin() as connection:
        for table in reversed(target_metadata.sorted_tables):
            connection.execute(delete(table))
    return migrated_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def secret_box() -> SecretBox:
    return SecretBox(TEST_ENCRYPTION_KEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveNode:
    """A node served by uvicorn on a real port, over the test database."""

    url: str
    runtime: Runtime
    app: FastAPI | None = None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"token": token} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def settings_for(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "network": "devnet",
        "database_url": database_url,
        "data_dir": data_dir,
        "encryption_key": TEST_ENCRYPTION_KEY,
        "lock_gather_ms": 0,  # tests lock what is ready at once; test_lock_gathering gathers
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
def live_node(
    database_url: str,
    migrated_engine: Engine,
    secret_box: SecretBox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveNode]:
    settings = settings_for(database_url, tmp_path_factory.mktemp("data"))
    runtime = Runtime(
        settings=settings, profile=settings.profile(), engine=migrated_engine, secrets=secret_box
    )
    port = free_port()
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test node did not start")
        time.sleep(0.02)
    yield LiveNode(url=f"http://127.0.0.1:{port}", runtime=runtime, app=app)
    server.should_exit = True
    thread.join(timeout=10)


@contextmanager
def serve(runtime: Runtime) -> Iterator[LiveNode]:
    """A node for `runtime` served by uvicorn on a free port (its lifespan runs: with a chain
    and PAYNODE_WORKER_INTERVAL_MS > 0 the background workers run too)."""
    port = free_port()
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test node did not start")
        time.sleep(0.02)
    try:
        yield LiveNode(url=f"http://127.0.0.1:{port}", runtime=runtime, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def node(live_node: LiveNode, engine: Engine) -> LiveNode:
    """The live node, with an empty database (and no failed-auth counts) for this test."""
    if live_node.app is not None:
        live_node.app.state.auth_throttle.reset()
    return live_node


def make_key(session: Session, box: SecretBox, **fields: object) -> str:
    _key, token = auth_service.create_key(session, box, ApiKeyCreate.model_validate(fields))
    return token


@pytest.fixture
def admin_token(session: Session, secret_box: SecretBox) -> str:
    return make_key(session, secret_box, canAdmin=True)


@pytest.fixture
def admin(node: LiveNode, admin_token: str) -> Iterator[httpx.Client]:
    with node.client(admin_token) as client:
        yield client
