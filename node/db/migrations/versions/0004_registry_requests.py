"""registry requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:12:22.849219
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('registry_request',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('selling_wallet_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('recipient_address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('send_funding_lovelace', sa.BigInteger(), nullable=False),
    sa.Column('onchain_metadata', sa.JSON(), nullable=False),
    sa.Column('pricing_mode', sa.String(length=16), nullable=False),
    sa.Column('amounts', sa.JSON(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('api_base_url', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('asset_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['requested_by'], ['api_key.id'], ),
    sa.ForeignKeyConstraint(['selling_wallet_id'], ['hot_wallet.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_identifier')
    )
    with op.batch_alter_table('registry_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_request_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_request_selling_wallet_id'), ['selling_wallet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_request_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_request_tx_hash'), ['tx_hash'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registry_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_request_tx_hash'))
        batch_op.drop_index(batch_op.f('ix_registry_request_state'))
        batch_op.drop_index(batch_op.f('ix_registry_request_selling_wallet_id'))
        batch_op.drop_index(batch_op.f('ix_registry_request_name'))

    op.drop_table('registry_request')
