"""Security keys (WebAuthn): credentials, one-use challenges, the login's factor per session

Revision ID: webauthn_1
Revises: blobstore_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "webauthn_1"
down_revision = "blobstore_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_keys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("prf_salt", sa.LargeBinary(), nullable=True),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_security_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_keys")),
    )
    op.create_index(
        "uq_security_keys_credential_id", "security_keys", ["credential_id"], unique=True
    )
    op.create_index(op.f("ix_security_keys_user_id"), "security_keys", ["user_id"], unique=False)
    op.create_table(
        "security_key_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_security_key_challenges_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_key_challenges")),
    )
    op.create_index(
        op.f("ix_security_key_challenges_user_id"),
        "security_key_challenges",
        ["user_id"],
        unique=False,
    )
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(
            sa.Column("factor", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("factor")
    op.drop_index(op.f("ix_security_key_challenges_user_id"), table_name="security_key_challenges")
    op.drop_table("security_key_challenges")
    op.drop_index(op.f("ix_security_keys_user_id"), table_name="security_keys")
    op.drop_index("uq_security_keys_credential_id", table_name="security_keys")
    op.drop_table("security_keys")
