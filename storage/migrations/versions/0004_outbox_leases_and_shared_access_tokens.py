"""outbox leases, WeChat receipts and shared access tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_tokens',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('token', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('refresh_owner', sa.String(length=64), nullable=True),
    sa.Column('refresh_until', sa.DateTime(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(), nullable=True),
    sa.Column('fetches', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('wechat_msgid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('receipt', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_wechat_msgid'), ['wechat_msgid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_wechat_msgid'))
        batch_op.drop_column('receipt')
        batch_op.drop_column('wechat_msgid')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')

    op.drop_table('access_tokens')
