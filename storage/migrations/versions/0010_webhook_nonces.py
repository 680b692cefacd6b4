"""webhook nonces: each signed (timestamp, nonce) /wechat accepted, kept for the timestamp window

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_nonces',
    sa.Column('timestamp', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('timestamp', 'nonce')
    )


def downgrade() -> None:
    op.drop_table('webhook_nonces')
