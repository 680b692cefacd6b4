"""console sessions kept server-side; push links minted at send time (outbox text holds no token)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import hashlib
import re

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# A raw one-time link as pushes stored it before this revision.
_RAW_LINK = re.compile(r"/console/go/([A-Za-z0-9_-]+)")


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['staff_accounts.id'], ),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_worker_id'), ['worker_id'], unique=False)
    with op.batch_alter_table('console_links', schema=None) as batch_op:
        batch_op.alter_column('token_hash', existing_type=sa.String(length=64), nullable=True)
    _placeholders_for_stored_links()


def _placeholders_for_stored_links() -> None:
    """Outbox text written before this revision carries raw tokens: swap each for its link's placeholder."""
    connection = op.get_bind()
    links = dict(connection.execute(sa.text("SELECT token_hash, id FROM console_links")).all())
    rows = connection.execute(sa.text("SELECT id, text FROM outbox WHERE text LIKE '%/console/go/%'")).all()
    for row_id, text in rows:
        def placeholder(match: re.Match[str]) -> str:
            link_id = links.get(hashlib.sha256(match[1].encode()).hexdigest())
            return f"/console/go/{{link:{link_id or 0}}}"

        connection.execute(
            sa.text("UPDATE outbox SET text = :text WHERE id = :id"),
            {"text": _RAW_LINK.sub(placeholder, text), "id": row_id},
        )


def downgrade() -> None:
    op.execute("DELETE FROM console_links WHERE token_hash IS NULL")
    with op.batch_alter_table('console_links', schema=None) as batch_op:
        batch_op.alter_column('token_hash', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_worker_id'))
    op.drop_table('console_sessions')
