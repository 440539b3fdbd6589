"""Outbox and inbox tables (transactional outbox, idempotent consumer).

Revision ID: 0001
Revises:
"""

from alembic import op
from tts_common.outbox import OUTBOX_INBOX_DDL, OUTBOX_INBOX_DROP_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_INBOX_DDL)


def downgrade() -> None:
    op.execute(OUTBOX_INBOX_DROP_DDL)
