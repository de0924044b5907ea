"""buyer-side quotes and purchases (issue #8; filled in by the purchases package)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('purchase_quote',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('pricing_mode', sa.String(length=16), nullable=False),
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('blockchain_identifier', sa.Text(), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('pay_by_time', sa.BigInteger(), nullable=False),
    sa.Column('submit_result_time', sa.BigInteger(), nullable=False),
    sa.Column('unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('external_dispute_unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('amounts', sa.JSON(), nullable=False),
    sa.Column('seller_vkey', sqlmodel.sql.sqltypes.AutoString(length=56), nullable=False),
    sa.Column('seller_address', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('input_hash', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('identifier_from_purchaser', sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
    sa.Column('seller_quote', sa.JSON(), nullable=True),
    sa.Column('seller_quote_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['api_key.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('purchase_quote', schema=None) as batch_op:
        batch_op.create_index('ix_purchase_quote_agent', ['network', 'agent_identifier'], unique=False)

    op.create_table('purchase',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('blockchain_identifier', sa.Text(), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('agent_identifier', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('pricing_mode', sa.String(length=16), nullable=False),
    sa.Column('purchasing_wallet_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('seller_vkey', sqlmodel.sql.sqltypes.AutoString(length=56), nullable=False),
    sa.Column('seller_address', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('identifier_from_purchaser', sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
    sa.Column('paid_funds', sa.JSON(), nullable=False),
    sa.Column('pay_by_time', sa.BigInteger(), nullable=False),
    sa.Column('submit_result_time', sa.BigInteger(), nullable=False),
    sa.Column('unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('external_dispute_unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('input_hash', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('quote_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('metadata_text', sa.Text(), nullable=True),
    sa.Column('next_action', sa.String(length=40), nullable=False),
    sa.Column('previous_action', sa.String(length=40), nullable=True),
    sa.Column('error_type', sa.String(length=24), nullable=True),
    sa.Column('error_note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('intended_tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lock_tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('seen_tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('seen_state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('action_history', sa.JSON(), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['purchasing_wallet_id'], ['hot_wallet.id'], ),
    sa.ForeignKeyConstraint(['quote_id'], ['purchase_quote.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['api_key.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'blockchain_identifier')
    )
    with op.batch_alter_table('purchase', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_intended_tx_hash'), ['intended_tx_hash'], unique=False)
        batch_op.create_index('ix_purchase_next_action', ['network', 'next_action', 'purchasing_wallet_id'], unique=False)
        batch_op.create_index('ix_purchase_request', ['network', 'request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('purchase', schema=None) as batch_op:
        batch_op.drop_index('ix_purchase_request')
        batch_op.drop_index('ix_purchase_next_action')
        batch_op.drop_index(batch_op.f('ix_purchase_intended_tx_hash'))

    op.drop_table('purchase')
    with op.batch_alter_table('purchase_quote', schema=None) as batch_op:
        batch_op.drop_index('ix_purchase_quote_agent')

    op.drop_table('purchase_quote')
