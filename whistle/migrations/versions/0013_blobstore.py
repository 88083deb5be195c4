"""Blobs in the database: the chunk table of WHISTLE_BLOB_STORE=database

Revision ID: blobstore_1
Revises: workbench_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "blobstore_1"
down_revision = "workbench_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_chunks",
        sa.Column("blob_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", "seq", name=op.f("pk_blob_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Ciphertext does not compress: store it out of line without trying (TOAST, no pglz).
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("blob_chunks")
