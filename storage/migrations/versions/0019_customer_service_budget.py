"""customer-service budget: each user's window and sends spent; what the Official Account may do

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_service_windows',
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('message_at', sa.DateTime(), nullable=True),
    sa.Column('message_sends', sa.Integer(), server_default='0', nullable=False),
    sa.Column('event_at', sa.DateTime(), nullable=True),
    sa.Column('event_sends', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('openid')
    )
    op.create_table('account_capabilities',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('discovered_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('account_capabilities')
    op.drop_table('customer_service_windows')
