"""sync outputs: what synced transactions put at a watched address, so a later spend of it is
classified from the spending transaction's CBOR alone (one Blockfrost request per transaction); the tip under which a checkpoint read all history

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sync_output',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('output_index', sa.Integer(), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.JSON(), nullable=False),
        sa.Column('inline_datum', sa.Text(), nullable=True),
        sa.Column('data_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('reference_script', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('network', 'tx_hash', 'output_index'),
    )
    op.add_column(
        'sync_checkpoint',
        sa.Column(
            'caught_up_tip_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
    )
    op.add_column(
        'sync_checkpoint',
        sa.Column('caught_up_drained', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Checkpoints from before this table rescan once from the start to fill it.
    op.add_column(
        'sync_checkpoint',
        sa.Column('outputs_tracked', sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column('sync_checkpoint', 'outputs_tracked')
    op.drop_column('sync_checkpoint', 'caught_up_tip_hash')
    op.drop_column('sync_checkpoint', 'caught_up_drained')
    op.drop_table('sync_output')
