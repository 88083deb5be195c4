"""Attachments: the blob index (blob id, case, item, sealed size)

Revision ID: attachments_1
Revises: texts_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "attachments_1"
down_revision = "texts_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_attachments_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["case_items.id"], name=op.f("fk_attachments_item_id_case_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    with op.batch_alter_table("attachments") as batch:
        batch.create_index(batch.f("ix_attachments_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_index(batch.f("ix_attachments_case_id"))
    op.drop_table("attachments")
