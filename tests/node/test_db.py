"""Migrations: up from empty on both databases, down again, and in step with the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from node.db import migrate
from node.db.engine import make_engine
from node.db.metadata import target_metadata
from tests.conftest import scratch_database

TABLES = {"api_key", "api_key_credit", "hot_wallet"}


def test_migrations_run_up_from_empty_and_back_down(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path) as url:
        engine = make_engine(url)
        assert not set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate.downgrade(engine, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        engine.dispose()


def test_models_and_migrations_agree(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), target_metadata)
    assert differences == [], "a model changed without a migration: add an Alembic revision"
