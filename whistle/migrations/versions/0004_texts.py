"""Statistics and texts: anonymous statistics rows kept after retention, organisation texts

Revision ID: texts_1
Revises: workflow_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "texts_1"
down_revision = "workflow_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_statistics",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("received_month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("identity_given", sa.Boolean(), nullable=False),
        sa.Column("ack_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("feedback_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ack_days", sa.Integer(), nullable=True),
        sa.Column("feedback_days", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_statistics")),
    )
    op.create_table(
        "organisation_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body_sv", sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=False),
        sa.Column("body_en", sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("author_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_organisation_texts_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_texts")),
        sa.UniqueConstraint("name", "version", name="uq_organisation_texts_name_version"),
    )


def downgrade() -> None:
    op.drop_table("organisation_texts")
    op.drop_table("case_statistics")
