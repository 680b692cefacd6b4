"""binding claims: proof before a WeChat user takes over a register entry

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'binding_claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('claimant_id', sa.Integer(), nullable=True),
        sa.Column('code', sa.String(length=12), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('wrong_codes', sa.Integer(), nullable=False),
        sa.Column('worker_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.Column('settled_by', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['claimant_id'], ['residents.id']),
        sa.ForeignKeyConstraint(['entry_id'], ['residents.id']),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('binding_claims', schema=None) as batch_op:
        batch_op.create_index('ix_binding_claims_entry_status', ['entry_id', 'status'], unique=False)
        batch_op.create_index('ix_binding_claims_claimant_id', ['claimant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('binding_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_binding_claims_claimant_id')
        batch_op.drop_index('ix_binding_claims_entry_status')
    op.drop_table('binding_claims')
