"""The reporter's own code after an oral report, a meeting's target date: cases.code_handed_over,
cases.meeting_due

Revision ID: voice_1
Revises: webauthn_1
"""

import sqlalchemy as sa
from alembic import op

revision = "voice_1"
down_revision = "webauthn_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("code_handed_over", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("meeting_due", sa.Date(), nullable=True))
    # Every oral report so far was opened with a code the investigator generated and saw: its
    # reporter takes their own at the next login.
    op.execute(
        sa.text("UPDATE cases SET code_handed_over = :yes WHERE channel = 'oral'").bindparams(
            yes=True
        )
    )
    # The default only fills existing rows; the model has none (compare_metadata agrees).
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("code_handed_over", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("meeting_due")
        batch.drop_column("code_handed_over")
