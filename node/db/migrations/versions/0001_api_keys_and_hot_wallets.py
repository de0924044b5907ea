"""api keys and hot wallets

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 09:01:56.273669
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('token_hint', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('can_read', sa.Boolean(), nullable=False),
    sa.Column('can_pay', sa.Boolean(), nullable=False),
    sa.Column('can_admin', sa.Boolean(), nullable=False),
    sa.Column('usage_limited', sa.Boolean(), nullable=False),
    sa.Column('network_limit', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_token_hash'), ['token_hash'], unique=True)

    op.create_table('hot_wallet',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('payment_key_hash', sqlmodel.sql.sqltypes.AutoString(length=56), nullable=False),
    sa.Column('stake_key_hash', sqlmodel.sql.sqltypes.AutoString(length=56), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('collection_address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True),
    sa.Column('encrypted_mnemonic', sa.LargeBinary(), nullable=False),
    sa.Column('lock_holder', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('locked_at', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'payment_key_hash')
    )
    op.create_table('api_key_credit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_key_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('api_key_id', 'unit')
    )


def downgrade() -> None:
    op.drop_table('api_key_credit')
    op.drop_table('hot_wallet')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_token_hash'))

    op.drop_table('api_key')
