"""media paths of inbound photos and voice

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_path', sa.String(length=500), nullable=True))
        batch_op.create_index('ix_inbound_messages_media_pending', ['media_path', 'media_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_messages_media_pending')
        batch_op.drop_column('media_path')

