"""The law's workflow: e-mail for reminders, withheld acknowledgement, outcome, reminders, leases

Revision ID: workflow_1
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "workflow_1"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("ack_withheld", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    # The default only fills existing rows; the models have none (compare_metadata agrees).
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("ack_withheld", server_default=None)
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_reminders_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("case_id", "kind", "due_on", "recipient", name="uq_reminders_once"),
    )
    with op.batch_alter_table("reminders") as batch:
        batch.create_index(batch.f("ix_reminders_case_id"), ["case_id"], unique=False)
    op.create_table(
        "job_leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_index(batch.f("ix_reminders_case_id"))
    op.drop_table("reminders")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("outcome")
        batch.drop_column("ack_withheld")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
