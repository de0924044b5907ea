"""registry mirror: the NFTs under the watched registry policy, from chain facts

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'registry_mirror',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('policy_id', sqlmodel.sql.sqltypes.AutoString(length=56), nullable=False),
        sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('mint_tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True),
        sa.Column('api_base_url', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True),
        sa.Column('pricing_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('violations', sa.Integer(), nullable=False),
        sa.Column('onchain_metadata', sa.JSON(), nullable=True),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('network', 'unit'),
    )
    op.create_index(
        op.f('ix_registry_mirror_policy_id'), 'registry_mirror', ['policy_id'], unique=False
    )
    op.create_index(op.f('ix_registry_mirror_holder'), 'registry_mirror', ['holder'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_registry_mirror_holder'), table_name='registry_mirror')
    op.drop_index(op.f('ix_registry_mirror_policy_id'), table_name='registry_mirror')
    op.drop_table('registry_mirror')
