"""Public-sector records: unit type and disposal decision, register entries and counters,
item markings

Revision ID: records_1
Revises: foureyes_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "records_1"
down_revision = "foureyes_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("units") as batch:
        batch.add_column(
            sa.Column("org_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "disposal_reference",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("units") as batch:
        batch.alter_column("disposal_reference", server_default=None)
    op.create_table(
        "register_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_register_counters")),
    )
    op.create_table(
        "register_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("marking", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("disposed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_register_entries_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_register_entries_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_entries")),
        sa.UniqueConstraint("case_id", name="uq_register_entries_case_id"),
        sa.UniqueConstraint("number", name=op.f("uq_register_entries_number")),
        sa.UniqueConstraint("year", "seq", name="uq_register_entries_year_seq"),
    )
    op.create_table(
        "item_markings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ground", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("marked_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("marked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_item_markings_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["case_items.id"], name=op.f("fk_item_markings_item_id_case_items")
        ),
        sa.ForeignKeyConstraint(
            ["marked_by"], ["users.id"], name=op.f("fk_item_markings_marked_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_markings")),
    )
    with op.batch_alter_table("item_markings") as batch:
        batch.create_index(batch.f("ix_item_markings_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_markings") as batch:
        batch.drop_index(batch.f("ix_item_markings_case_id"))
    op.drop_table("item_markings")
    op.drop_table("register_entries")
    op.drop_table("register_counters")
    with op.batch_alter_table("units") as batch:
        batch.drop_column("disposal_reference")
        batch.drop_column("org_type")
