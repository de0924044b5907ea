"""wallet transactions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:45:18.942554
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('wallet_transaction',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('wallet_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('request_ids', sa.JSON(), nullable=False),
    sa.Column('spent_inputs', sa.JSON(), nullable=False),
    sa.Column('signed_cbor', sa.LargeBinary(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('invalid_hereafter_slot', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['hot_wallet.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash')
    )
    with op.batch_alter_table('wallet_transaction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_transaction_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_wallet_transaction_wallet_id'), ['wallet_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wallet_transaction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_transaction_wallet_id'))
        batch_op.drop_index(batch_op.f('ix_wallet_transaction_status'))

    op.drop_table('wallet_transaction')
