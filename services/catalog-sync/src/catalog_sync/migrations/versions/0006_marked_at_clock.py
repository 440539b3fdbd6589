"""A parent is marked changed at the moment of the write, not at its transaction's start.

Revision ID: 0006
Revises: 0005

`dirty_parents.marked_at` defaulted to `now()`, the start of the marking transaction, which may
be long before the write (a lock wait, a large upload): the event pass then had to wait a
fixed second for transactions that had not written yet. With `clock_timestamp()` a mark is
never older than its transaction's first write, so only transactions that have written are
waited for (catalog_sync.workers, `_SETTLED`).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dirty_parents ALTER COLUMN marked_at SET DEFAULT clock_timestamp()")


def downgrade() -> None:
    op.execute("ALTER TABLE dirty_parents ALTER COLUMN marked_at SET DEFAULT now()")
