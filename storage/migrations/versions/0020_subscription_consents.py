"""subscription consents: who accepted the check-in's long-term subscription message (订阅通知)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
# Issue 16: numbered 0021 as given; the lead re-chains it after 0019 and 0020 when merging.
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscription_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('openid', 'template_id', name='uq_subscription_consents_pair')
    )


def downgrade() -> None:
    op.drop_table('subscription_consents')
