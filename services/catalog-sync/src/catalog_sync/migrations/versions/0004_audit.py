"""TikTok's review of each product: audit and listing status from webhooks and polling.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from tts_common.migrate import split_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
-- tiktok_status: TikTok's product status (ACTIVATE, FAILED, FREEZE, ...); audit_time: the
-- TikTok update_time of the last status applied (an older notification never overwrites a
-- newer one); audit_checked_at: when this service last learned it (webhook, poll or a write).
ALTER TABLE tiktok_products ADD COLUMN tiktok_status TEXT;
ALTER TABLE tiktok_products ADD COLUMN audit_time BIGINT;
ALTER TABLE tiktok_products ADD COLUMN audit_reasons JSONB;
ALTER TABLE tiktok_products ADD COLUMN audit_checked_at TIMESTAMPTZ;
-- The polling safety net reads the products still under review, oldest check first.
CREATE INDEX tiktok_products_under_review ON tiktok_products (audit_checked_at)
    WHERE status = 'live' AND audit_status = 'AUDITING'
"""

DOWNGRADE = """
DROP INDEX IF EXISTS tiktok_products_under_review;
ALTER TABLE tiktok_products DROP COLUMN IF EXISTS audit_checked_at;
ALTER TABLE tiktok_products DROP COLUMN IF EXISTS audit_reasons;
ALTER TABLE tiktok_products DROP COLUMN IF EXISTS audit_time;
ALTER TABLE tiktok_products DROP COLUMN IF EXISTS tiktok_status
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
