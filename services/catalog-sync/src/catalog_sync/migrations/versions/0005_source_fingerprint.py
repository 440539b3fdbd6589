"""Products in sync are skipped unread: the fingerprint of the import rows they were sent from.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "<configuration fingerprint>:<import rows fingerprint>" of the rows and feed
    # configuration TikTok's copy was last made from (catalog_sync.pipeline.in_sync); NULL
    # whenever the product's state changes until a run finds it in sync again.
    op.execute("ALTER TABLE tiktok_products ADD COLUMN source_fingerprint TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE tiktok_products DROP COLUMN IF EXISTS source_fingerprint")
