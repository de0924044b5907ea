"""Alembic environment: the engine comes from the caller (node.db.migrate), not from a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from node.db.metadata import target_metadata

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=engine.dialect.name == "sqlite",  # SQLite alters tables by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
