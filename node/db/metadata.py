"""Every table of the node, imported so that SQLModel.metadata knows them all (for Alembic)."""

from sqlmodel import SQLModel

import node.agents.models
import node.auth.models
import node.billing.models
import node.idempotency.models
import node.payments.models
import node.pricing.models
import node.purchases.models
import node.sync.models
import node.wallets.models
import node.webhooks.models  # noqa: F401

target_metadata = SQLModel.metadata
