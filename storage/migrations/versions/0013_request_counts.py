"""request counts: per-client rate limits shared by every web process (Open311 POSTs)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_counts',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('window_started_at', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('request_counts')
