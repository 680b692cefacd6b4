"""the register of communities: today's community becomes the first tenant

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28

One deployment may serve many communities, each on a database of its own (docs/tenancy.md). This
database is the deployment's: it keeps the register, and the first community's rows stay where they are.
A database that already holds a community (it has grids or staff) is registered as that first community,
`main`; nothing else changes, so nothing can be lost. A new, empty database gets its row when the
deployment starts (bot/street.py), and a community added later has a database of its own whose register
stays empty.
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    communities = op.create_table('communities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=True),
    sa.Column('database_url', sa.String(length=500), nullable=True),
    sa.Column('config_file', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    connection = op.get_bind()
    holds_a_community = connection.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM grids) OR EXISTS (SELECT 1 FROM workers)")
    ).scalar()
    if holds_a_community:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        op.bulk_insert(communities, [{'slug': 'main', 'created_at': now}])


def downgrade() -> None:
    op.drop_table('communities')
