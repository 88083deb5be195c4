"""Staff authentication: password scheme per account, account-wide second-factor lockout

Revision ID: staffauth_1
Revises: audit_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "staffauth_1"
down_revision = "audit_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing account was derived without the pepper (scheme 1); the next login
    # upgrades it. The server defaults only fill existing rows; the models have none.
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("password_scheme", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(
            sa.Column("recovery_scheme", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(
            sa.Column("factor_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("factor_locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("password_scheme", server_default=None)
        batch.alter_column("recovery_scheme", server_default=None)
        batch.alter_column("factor_failures", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("factor_locked_until")
        batch.drop_column("factor_failures")
        batch.drop_column("recovery_scheme")
        batch.drop_column("password_scheme")
