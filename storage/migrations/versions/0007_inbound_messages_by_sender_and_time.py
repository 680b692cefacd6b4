"""inbound messages by sender and time; tickets by creation time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_inbound_messages_openid_received', 'inbound_messages', ['openid', 'received_at'], unique=False
    )
    # Reports count the tickets opened in a day, week or month.
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_index('ix_inbound_messages_openid_received', table_name='inbound_messages')
