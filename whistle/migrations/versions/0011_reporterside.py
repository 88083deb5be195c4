"""Reporter side: the routine's adoption date and decision reference, apart from its save date

Revision ID: reporterside_1
Revises: exports_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "reporterside_1"
down_revision = "exports_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_texts") as batch:
        batch.add_column(sa.Column("adopted_on", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column(
                "decision_ref",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("organisation_texts") as batch:
        batch.alter_column("decision_ref", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("organisation_texts") as batch:
        batch.drop_column("decision_ref")
        batch.drop_column("adopted_on")
