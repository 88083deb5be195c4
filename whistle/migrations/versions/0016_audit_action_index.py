"""An index on the audit log's action and time: the inbox's notice of changes to who reads
counts the last two weeks' entries of a few actions (approvals.notice) without reading the log

Revision ID: 0016
Revises: voice_1
"""

from alembic import op

revision = "0016"
down_revision = "voice_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_entries_action_at", "audit_entries", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_action_at", table_name="audit_entries")
