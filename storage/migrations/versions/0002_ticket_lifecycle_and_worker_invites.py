"""ticket lifecycle and worker invites

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('grid_codes', sa.String(length=200), nullable=False),
    sa.Column('backup_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['backup_id'], ['workers.id'], ),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('repeat_pages', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_paged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ack_warned_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolve_warned_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('overdue_paged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rating_requested_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_index('ix_tickets_status_ack_due', ['status', 'ack_due_at'], unique=False)
        batch_op.create_index('ix_tickets_status_resolve_due', ['status', 'resolve_due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_resolve_due')
        batch_op.drop_index('ix_tickets_status_ack_due')
        batch_op.drop_column('version')
        batch_op.drop_column('rating_requested_at')
        batch_op.drop_column('rating')
        batch_op.drop_column('overdue_paged_at')
        batch_op.drop_column('resolve_warned_at')
        batch_op.drop_column('ack_warned_at')
        batch_op.drop_column('last_paged_at')
        batch_op.drop_column('repeat_pages')
        batch_op.drop_column('escalation_level')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('acknowledged_at')

    op.drop_table('worker_invites')
