"""the low-balance watch of hot wallets (WALLET_LOW_BALANCE): when the balance was last read and
since when it is below the threshold

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('hot_wallet') as batch:
        batch.add_column(sa.Column('balance_checked_at', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('low_balance_since', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hot_wallet') as batch:
        batch.drop_column('low_balance_since')
        batch.drop_column('balance_checked_at')
