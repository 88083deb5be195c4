"""The keyed audit chain: where the keyed (HMAC) entries begin

Revision ID: audit_1
Revises: records_1

Entries already written keep their plain SHA-256 hashes and stay verifiable; every entry from
the next one on is an HMAC under a key derived from the pepper (whistle/audit.py). An empty log
(a new installation) is keyed from its first entry.
"""

import sqlalchemy as sa
from alembic import op

revision = "audit_1"
down_revision = "records_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("keyed_from", sa.Integer(), nullable=True))
    op.execute("UPDATE audit_head SET keyed_from = count + 1")
    with op.batch_alter_table("audit_head") as batch:
        batch.alter_column("keyed_from", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("keyed_from")
