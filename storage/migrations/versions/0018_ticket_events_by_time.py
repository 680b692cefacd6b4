"""ticket events by time: Open311's service request updates are read by a window of time

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28
"""

from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_ticket_events_created_at', 'ticket_events', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_events_created_at', table_name='ticket_events')
