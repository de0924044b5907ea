"""Every table of the node, imported so that SQLModel.metadata knows them all (for Alembic)."""

from sqlmodel import SQLModel

import node.auth.models
import node.pricing.models
import node.wallets.models  # noqa: F401

target_metadata = SQLModel.metadata
