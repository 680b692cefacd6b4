"""one-time codes kept as a slow hash: scrypt over the SHA-256 that family codes and invites stored

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28

An 8-character code's SHA-256 can be searched through on a GPU within the code's 24 hours by whoever
read a copy of the database. scrypt over each stored SHA-256 (storage/codes.py) needs no code, so every
code issued before the upgrade still binds after it.
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

# The function redeeming hashes with: a code printed before the upgrade must match after it.
from storage.codes import slow_hash


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

TABLES = ('family_codes', 'worker_invites')


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        rows = connection.execute(sa.text(f"SELECT id, code_hash FROM {table}")).all()
        for row_id, digest in rows:
            connection.execute(
                sa.text(f"UPDATE {table} SET code_hash = :hash WHERE id = :id"),
                {"hash": slow_hash(digest), "id": row_id},
            )


def downgrade() -> None:
    # scrypt cannot be undone: codes not used yet could never be redeemed again, so they expire now,
    # and every row gets a placeholder no code can match.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    connection = op.get_bind()
    for table in TABLES:
        connection.execute(
            sa.text(f"UPDATE {table} SET expires_at = :now WHERE used_at IS NULL AND expires_at > :now"),
            {"now": now},
        )
        connection.execute(sa.text(f"UPDATE {table} SET code_hash = 'gone-' || CAST(id AS VARCHAR(11))"))
