"""Everything a node does before it serves: settings, secrets, database, migrations, first key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlmodel import Session

from node.auth.service import ensure_admin_key
from node.chain.blockfrost import BlockfrostChain
from node.config import ConfigError, Settings
from node.crypto import SecretBox
from node.db import migrate
from node.db.engine import make_engine
from node.runtime import Runtime

DEVNET_KEY_FILE = "encryption.key"


def resolve_encryption_key(settings: Settings) -> str:
    """PAYNODE_ENCRYPTION_KEY, or on the devnet a key kept in the data directory (made once)."""
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value()
    if settings.network != "devnet":
        raise ConfigError(f"PAYNODE_ENCRYPTION_KEY is required on {settings.network}")
    return _devnet_key(settings.data_dir / DEVNET_KEY_FILE)


def _devnet_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key


def open_runtime(settings: Settings, *, run_migrations: bool = True) -> tuple[Runtime, str | None]:
    """The runtime, and a newly generated admin token if one had to be made (print it once)."""
    profile = settings.profile()
    box = SecretBox(resolve_encryption_key(settings))
    engine = make_engine(settings.database_url)
    if run_migrations:
        migrate.upgrade(engine)
    configured = settings.admin_key.get_secret_value() if settings.admin_key else None
    with Session(engine) as session:
        new_admin_token = ensure_admin_key(session, box, configured)
    runtime = Runtime(
        settings=settings, profile=profile, engine=engine, secrets=box, chain=open_chain(settings)
    )
    return runtime, new_admin_token


def open_chain(settings: Settings) -> BlockfrostChain:
    """Blockfrost for the network (or the devnet's URL); no request is made until one is needed."""
    url = settings.blockfrost_url or settings.profile().blockfrost_url  # as Runtime.blockfrost_url
    project_id = settings.blockfrost_project_id
    return BlockfrostChain(url, project_id.get_secret_value() if project_id else "devnet")
