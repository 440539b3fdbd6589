"""An event-driven feed re-evaluates every product when its configuration or taxonomy changes.

Revision ID: 0007
Revises: 0006

`feeds.events_config` is the configuration stamp (catalog_sync.workers, `_CONFIG_STAMP`: the
feed's version, its mapping lists' mappings, its market's taxonomy cache) the event-driven
mode last evaluated every product with; NULL: never, so the first pass of an event-driven feed
is a full run (docs/feeds.md, "Event-driven mode").
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE feeds ADD COLUMN events_config TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE feeds DROP COLUMN IF EXISTS events_config")
