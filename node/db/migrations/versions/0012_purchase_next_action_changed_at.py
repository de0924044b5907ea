"""purchases: when the next action last changed (GET /purchase/diff/next-action)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('purchase', sa.Column('next_action_changed_at', sa.BigInteger(), nullable=True))
    op.execute('UPDATE purchase SET next_action_changed_at = updated_at')
    with op.batch_alter_table('purchase') as batch:
        batch.alter_column('next_action_changed_at', nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('purchase') as batch:
        batch.drop_column('next_action_changed_at')
