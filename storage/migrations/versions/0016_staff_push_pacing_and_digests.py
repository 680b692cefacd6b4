"""staff push pacing and digests: sends per staff member counted in the database; outbox rows folded

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_sends', schema=None) as batch_op:
        batch_op.create_index('ix_staff_sends_worker_sent', ['worker_id', 'sent_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('folded_into', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_folded_into'), ['folded_into'], unique=False)
        batch_op.create_foreign_key('fk_outbox_folded_into', 'outbox', ['folded_into'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_folded_into', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_folded_into'))
        batch_op.drop_column('folded_into')
    with op.batch_alter_table('staff_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_sends_worker_sent')
    op.drop_table('staff_sends')
