"""The investigator's workbench: case lead and task due date on cases, the inbox's filter
indexes, the function's labels, labels on cases, tasks

Revision ID: workbench_1
Revises: reporterside_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "workbench_1"
down_revision = "reporterside_1"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_cases_received_on_id": ["received_on", "id"],
    "ix_cases_lead_id_next_due": ["lead_id", "next_due", "received_on", "id"],
    "ix_cases_status_next_due": ["status", "next_due", "received_on", "id"],
    "ix_cases_category_id_next_due": ["category_id", "next_due", "received_on", "id"],
    "ix_cases_unit_id_next_due": ["unit_id", "next_due", "received_on", "id"],
    "ix_cases_task_due": ["task_due"],
    "ix_cases_lead_id_received_on": ["lead_id", "received_on", "id"],
    "ix_cases_status_received_on": ["status", "received_on", "id"],
    "ix_cases_category_id_received_on": ["category_id", "received_on", "id"],
    "ix_cases_unit_id_received_on": ["unit_id", "received_on", "id"],
    "ix_cases_open_counts": [
        "status",
        "category_id",
        "unit_id",
        "lead_id",
        "next_due",
        "task_due",
        "id",
    ],
}


def upgrade() -> None:
    # Plain ADD COLUMN (no foreign key): SQLite adds them without rebuilding the cases table.
    op.add_column(
        "cases", sa.Column("lead_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
    )
    op.add_column("cases", sa.Column("task_due", sa.Date(), nullable=True))
    for name, columns in INDEXES.items():
        op.create_index(name, "cases", columns)
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_labels_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("name", name=op.f("uq_labels_name")),
    )
    op.create_table(
        "case_labels",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_labels_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name=op.f("fk_case_labels_label_id_labels")
        ),
        sa.PrimaryKeyConstraint("case_id", "label_id", name=op.f("pk_case_labels")),
    )
    op.create_index("ix_case_labels_label_id_case_id", "case_labels", ["label_id", "case_id"])
    op.create_table(
        "case_tasks",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_tasks_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["case_items.id"], name=op.f("fk_case_tasks_item_id_case_items")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_case_tasks_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tasks")),
    )
    op.create_index(op.f("ix_case_tasks_case_id"), "case_tasks", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_tasks_case_id"), table_name="case_tasks")
    op.drop_table("case_tasks")
    op.drop_index("ix_case_labels_label_id_case_id", table_name="case_labels")
    op.drop_table("case_labels")
    op.drop_table("labels")
    for name in INDEXES:
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("task_due")
        batch.drop_column("lead_id")
