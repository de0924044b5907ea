"""seller-side payment requests (issue #8; filled in by the payments package)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table('payment_request',
    sa.Column('id', _text(32), nullable=False),
    sa.Column('network', _text(16), nullable=False),
    sa.Column('blockchain_identifier', sa.Text(), nullable=False),
    sa.Column('request_id', _text(64), nullable=False),
    sa.Column('agent_identifier', _text(250), nullable=False),
    sa.Column('agent_name', _text(250), nullable=True),
    sa.Column('pricing_mode', _text(16), nullable=False),
    sa.Column('selling_wallet_id', _text(32), nullable=False),
    sa.Column('seller_address', _text(200), nullable=False),
    sa.Column('seller_vkey', _text(56), nullable=False),
    sa.Column('identifier_from_purchaser', _text(26), nullable=False),
    sa.Column('input_hash', _text(250), nullable=False),
    sa.Column('pay_by_time', sa.BigInteger(), nullable=False),
    sa.Column('submit_result_time', sa.BigInteger(), nullable=False),
    sa.Column('unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('external_dispute_unlock_time', sa.BigInteger(), nullable=False),
    sa.Column('requested_funds', sa.JSON(), nullable=False),
    sa.Column('funds_signed', sa.Boolean(), nullable=False),
    sa.Column('quote_id', _text(32), nullable=True),
    sa.Column('metadata_text', sa.Text(), nullable=True),
    sa.Column('next_action', sa.String(length=32), nullable=False),
    sa.Column('error_type', sa.String(length=16), nullable=True),
    sa.Column('error_note', sa.Text(), nullable=True),
    sa.Column('next_action_changed_at', sa.BigInteger(), nullable=False),
    sa.Column('seen_state', _text(24), nullable=True),
    sa.Column('result_hash', _text(64), nullable=False),
    sa.Column('usage', sa.JSON(), nullable=True),
    sa.Column('charge', sa.BigInteger(), nullable=True),
    sa.Column('charge_unit', _text(150), nullable=True),
    sa.Column('intended_tx_hash', _text(64), nullable=True),
    sa.Column('dispute_tx_hash', _text(64), nullable=True),
    sa.Column('requested_by_id', _text(32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'blockchain_identifier')
    )
    op.create_index('ix_payment_request_request_id', 'payment_request', ['network', 'request_id'], unique=False)
    op.create_index('ix_payment_request_next_action', 'payment_request', ['network', 'next_action'], unique=False)
    op.create_index(op.f('ix_payment_request_selling_wallet_id'), 'payment_request', ['selling_wallet_id'], unique=False)
    op.create_table('payment_action',
    sa.Column('id', _text(32), nullable=False),
    sa.Column('payment_id', _text(32), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('error_type', sa.String(length=16), nullable=True),
    sa.Column('error_note', sa.Text(), nullable=True),
    sa.Column('tx_hash', _text(64), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment_request.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_payment_action_payment_id'), 'payment_action', ['payment_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_payment_action_payment_id'), table_name='payment_action')
    op.drop_table('payment_action')
    op.drop_index(op.f('ix_payment_request_selling_wallet_id'), table_name='payment_request')
    op.drop_index('ix_payment_request_next_action', table_name='payment_request')
    op.drop_index('ix_payment_request_request_id', table_name='payment_request')
    op.drop_table('payment_request')
