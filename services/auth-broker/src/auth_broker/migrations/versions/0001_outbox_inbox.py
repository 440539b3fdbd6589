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


def _statements(ddl: str) -> list[str]:
    # asyncpg prepares each statement: one command per execute.
    return [part.strip() for part in ddl.split(";") if part.strip()]


def upgrade() -> None:
    for statement in _statements(OUTBOX_INBOX_DDL):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(OUTBOX_INBOX_DROP_DDL):
        op.execute(statement)
