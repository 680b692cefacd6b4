"""capabilities of each template: a template id WeChat does not know is kept like a refused API

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28

A capability's name was "customer_service", "template" or "subscription"; a template id WeChat answered
40037 (invalid template_id) to is kept as "template:<id>", and WeChat's ids are 43 characters.
"""

from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account_capabilities', schema=None) as batch_op:
        batch_op.alter_column(
            'name', existing_type=sa.String(length=40), type_=sa.String(length=100), existing_nullable=False
        )


def downgrade() -> None:
    # The rows for single templates do not fit the narrower column; they are learnt again at the next 40037.
    op.execute("DELETE FROM account_capabilities WHERE name LIKE 'template:%'")
    with op.batch_alter_table('account_capabilities', schema=None) as batch_op:
        batch_op.alter_column(
            'name', existing_type=sa.String(length=100), type_=sa.String(length=40), existing_nullable=False
        )
