"""family members who follow an elder on WeChat, and the one-time codes that bind them

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
# Issue 16: numbered 0017 as given; it follows the head on main when it was merged in (0018).
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('family_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('issued_by', sa.String(length=80), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['elder_id'], ['residents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('family_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_codes_elder_id'), ['elder_id'], unique=False)
    op.create_table('family_followers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('follower_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('relation', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['family_codes.id'], ),
    sa.ForeignKeyConstraint(['elder_id'], ['residents.id'], ),
    sa.ForeignKeyConstraint(['follower_id'], ['residents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('elder_id', 'follower_id', name='uq_family_followers_pair')
    )
    with op.batch_alter_table('family_followers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_followers_elder_id'), ['elder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_followers_follower_id'), ['follower_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('family_followers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_followers_follower_id'))
        batch_op.drop_index(batch_op.f('ix_family_followers_elder_id'))
    op.drop_table('family_followers')
    with op.batch_alter_table('family_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_codes_elder_id'))
    op.drop_table('family_codes')
