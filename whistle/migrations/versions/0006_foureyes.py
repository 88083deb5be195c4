"""Four eyes on new readers: unique display-name keys, pending route lines

Revision ID: foureyes_1
Revises: attachments_1
"""

import datetime as dt

import sqlalchemy as sa
import sqlmodel
from alembic import op

from whistle.names import name_key

revision = "foureyes_1"
down_revision = "attachments_1"
branch_labels = None
depends_on = None


def _fill_name_keys() -> None:
    """Existing accounts get their key; a second look-alike keeps a key made unique with its
    id (it was created before names had to differ; reporters then see its username too)."""
    conn = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("display_name"), sa.column("name_key"))
    taken: set[str] = set()
    rows = conn.execute(sa.select(users.c.id, users.c.display_name).order_by(users.c.id)).all()
    for user_id, display_name in rows:
        key = name_key(display_name)[:160]
        if key in taken:
            key = f"{key}#{user_id}"
        taken.add(key)
        conn.execute(users.update().where(users.c.id == user_id).values(name_key=key))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
    _fill_name_keys()
    # A unique index, not a constraint: SQLite adds it without rebuilding "users", which other
    # tables' foreign keys point at.
    op.create_index("uq_users_name_key", "users", ["name_key"], unique=True)
    # Lines that exist were in effect before four eyes: they stay in effect ("active"), with
    # no approver recorded, like the set-up exception.
    with op.batch_alter_table("designations") as batch:
        batch.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="active",
            )
        )
        batch.add_column(
            sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch.add_column(
            sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch.add_column(
            sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    designations = sa.table("designations", sa.column("requested_at"))
    op.get_bind().execute(designations.update().values(requested_at=dt.datetime.now(dt.UTC)))
    # The default only filled existing rows; the model has none (compare_metadata agrees).
    with op.batch_alter_table("designations") as batch:
        batch.alter_column("status", server_default=None)
        batch.alter_column(
            "requested_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False
        )


def downgrade() -> None:
    op.drop_index("uq_users_name_key", table_name="users")
    with op.batch_alter_table("designations") as batch:
        for column in ("approved_at", "approved_by", "requested_at", "requested_by", "status"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("name_key")
