"""Export runs, the delta state per TikTok product, feedback, history, images, the call log.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from tts_common.migrate import split_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE feeds ADD COLUMN adopt_existing BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE feeds ADD COLUMN event_driven BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE feeds ADD COLUMN warehouse_id TEXT;
ALTER TABLE feeds ADD COLUMN paused_reason TEXT;
-- Event-driven mode: changes marked (dirty_parents.marked_at) up to here were synced.
ALTER TABLE feeds ADD COLUMN events_synced_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE feeds ADD COLUMN last_scheduled_at TIMESTAMPTZ;
CREATE INDEX dirty_parents_marked ON dirty_parents (source_id, marked_at);

-- What TikTok last accepted for each product of a feed (one row per parent). status:
-- creating / unknown (a write whose outcome is not known: reconcile first), live, failed,
-- deleted. skus: seller_sku -> {price_hash, inventory_hash, sku_id}.
CREATE TABLE tiktok_products (
    feed_id             UUID NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    parent_id           TEXT NOT NULL,
    status              TEXT NOT NULL,
    tiktok_product_id   TEXT,
    content_hash        TEXT,
    skus                JSONB NOT NULL DEFAULT '{}'::jsonb,
    payload             JSONB,
    audit_status        TEXT,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (feed_id, parent_id)
);
CREATE INDEX tiktok_products_product ON tiktok_products (tiktok_product_id);

-- status: queued, running, succeeded, failed, cancelled, paused
CREATE TABLE runs (
    id                  UUID PRIMARY KEY,
    feed_id             UUID NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    trigger             TEXT NOT NULL,
    dry_run             BOOLEAN NOT NULL,
    only_failed         BOOLEAN NOT NULL DEFAULT false,
    parents             JSONB,
    status              TEXT NOT NULL,
    reason              TEXT,
    total               INTEGER NOT NULL DEFAULT 0,
    done                INTEGER NOT NULL DEFAULT 0,
    counts              JSONB NOT NULL DEFAULT '{}'::jsonb,
    cancel_requested    BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at          TIMESTAMPTZ,
    heartbeat_at        TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ
);
CREATE UNIQUE INDEX runs_one_active ON runs (feed_id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_feed ON runs (feed_id, created_at DESC);

-- Each product's planned or performed actions in a run (the dry run's report).
CREATE TABLE run_items (
    run_id      UUID NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    parent_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      JSONB,
    PRIMARY KEY (run_id, parent_id, action)
);

-- The feedback file: per product the last action, outcome, TikTok's answer, local errors.
CREATE TABLE feedback (
    feed_id         UUID NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    parent_id       TEXT NOT NULL,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    code            BIGINT,
    message         TEXT,
    request_id      TEXT,
    errors          JSONB NOT NULL DEFAULT '[]'::jsonb,
    audit_status    TEXT,
    run_id          UUID,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (feed_id, parent_id)
);

-- Every attempt: payload hash, changed fields, TikTok's answer.
CREATE TABLE product_history (
    id              BIGSERIAL PRIMARY KEY,
    feed_id         UUID NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    parent_id       TEXT NOT NULL,
    run_id          UUID,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    payload_hash    TEXT,
    changed_fields  JSONB,
    response        JSONB,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX product_history_parent ON product_history (feed_id, parent_id, at DESC);

-- Images uploaded to TikTok, per connection: same URL, content hash and use case, never again.
CREATE TABLE image_uploads (
    connection_id   UUID NOT NULL,
    url             TEXT NOT NULL,
    use_case        TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    uri             TEXT NOT NULL,
    checked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    uploaded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, url, use_case, content_hash)
);

-- The API-call log of a run (feeds with log_api_calls), headers only with log_api_headers.
CREATE TABLE api_calls (
    id          BIGSERIAL PRIMARY KEY,
    run_id      UUID NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    entry       JSONB NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_calls_run ON api_calls (run_id, id)
"""

DOWNGRADE = """
DROP TABLE IF EXISTS api_calls;
DROP TABLE IF EXISTS image_uploads;
DROP TABLE IF EXISTS product_history;
DROP TABLE IF EXISTS feedback;
DROP TABLE IF EXISTS run_items;
DROP TABLE IF EXISTS runs;
DROP TABLE IF EXISTS tiktok_products;
DROP INDEX IF EXISTS dirty_parents_marked;
ALTER TABLE feeds DROP COLUMN IF EXISTS last_scheduled_at;
ALTER TABLE feeds DROP COLUMN IF EXISTS events_synced_at;
ALTER TABLE feeds DROP COLUMN IF EXISTS paused_reason;
ALTER TABLE feeds DROP COLUMN IF EXISTS warehouse_id;
ALTER TABLE feeds DROP COLUMN IF EXISTS event_driven;
ALTER TABLE feeds DROP COLUMN IF EXISTS adopt_existing
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
