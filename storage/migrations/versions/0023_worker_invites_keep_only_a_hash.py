"""worker invites keep only a hash of their code

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28

An unused invite code makes whoever sends it staff, who see residents' names, phones and addresses: a
code read from the database or a backup must not be usable. `code` becomes `code_hash`, the SHA-256 that
family codes keep too, and each stored code is hashed here, so an invite printed before the upgrade still
binds after it.
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

# The same function redeeming hashes with: a code printed before the upgrade must match after it.
from storage.codes import hash_code


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('worker_invites', schema=None) as batch_op:
        batch_op.alter_column(
            'code', new_column_name='code_hash',
            existing_type=sa.String(length=16), type_=sa.String(length=64), existing_nullable=False,
        )
    connection = op.get_bind()
    for row_id, code in connection.execute(sa.text("SELECT id, code_hash FROM worker_invites")).all():
        connection.execute(
            sa.text("UPDATE worker_invites SET code_hash = :hash WHERE id = :id"),
            {"hash": hash_code(code), "id": row_id},
        )


def downgrade() -> None:
    # A hash cannot be turned back into its code: an unused invite could never be redeemed again, so it is
    # expired now, and every row gets a placeholder no "绑定 <code>" can match (codes are 8 letters/digits).
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    connection = op.get_bind()
    connection.execute(
        sa.text("UPDATE worker_invites SET expires_at = :now WHERE used_at IS NULL AND expires_at > :now"),
        {"now": now},
    )
    connection.execute(sa.text("UPDATE worker_invites SET code_hash = 'gone-' || CAST(id AS VARCHAR(11))"))
    with op.batch_alter_table('worker_invites', schema=None) as batch_op:
        batch_op.alter_column(
            'code_hash', new_column_name='code',
            existing_type=sa.String(length=64), type_=sa.String(length=16), existing_nullable=False,
        )
