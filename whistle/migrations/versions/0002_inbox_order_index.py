"""inbox order index on cases

The inbox reads an investigator's cases in (next_due, received_on, id) order and stops after one
page; without this index every page sorted all the cases the investigator holds, so it slowed
down as cases piled up (docs/performance.md, inbox_100k).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 01:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_cases_next_due_received_on_id",
        "cases",
        ["next_due", "received_on", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_next_due_received_on_id", table_name="cases")
