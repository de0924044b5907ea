"""pricing

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:19:22.604568
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pricing_plan',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('shape', sa.String(length=16), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'agent_identifier')
    )
    op.create_table('pricing_quote',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('buyer', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('option', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reserve', sa.BigInteger(), nullable=False),
    sa.Column('usage', sa.Text(), nullable=False),
    sa.Column('breakdown', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pricing_quote', schema=None) as batch_op:
        batch_op.create_index('ix_pricing_quote_buyer', ['network', 'agent_identifier', 'buyer'], unique=False)

    op.create_table('pricing_rate_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('buyer', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'agent_identifier', 'buyer', 'scope', 'window_start')
    )
    op.create_table('pricing_settlement',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('buyer', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('reserved', sa.BigInteger(), nullable=False),
    sa.Column('charged', sa.BigInteger(), nullable=False),
    sa.Column('fallback', sa.Boolean(), nullable=False),
    sa.Column('usage', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    with op.batch_alter_table('pricing_settlement', schema=None) as batch_op:
        batch_op.create_index('ix_pricing_settlement_buyer', ['network', 'agent_identifier', 'buyer'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pricing_settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_pricing_settlement_buyer')

    op.drop_table('pricing_settlement')
    op.drop_table('pricing_rate_window')
    with op.batch_alter_table('pricing_quote', schema=None) as batch_op:
        batch_op.drop_index('ix_pricing_quote_buyer')

    op.drop_table('pricing_quote')
    op.drop_table('pricing_plan')
