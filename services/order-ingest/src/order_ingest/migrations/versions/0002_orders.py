"""Order imports, their runs, received webhooks, orders and line items (docs/orders.md).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from tts_common.migrate import split_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- One import per shop (auth-broker connection) and filter set. `push_secret` is stored as
-- given and never returned by the API (it answers `push_secret_set`). `watermark` is the
-- highest order update_time a finished incremental pass has seen; the next pass starts a
-- little before it (the overlap). `shop_id` is learned from the connection's lease.
CREATE TABLE order_imports (
    id                      UUID PRIMARY KEY,
    name                    TEXT UNIQUE,
    connection_id           TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    statuses                TEXT[] NOT NULL DEFAULT '{}',
    created_within_days     INTEGER CHECK (created_within_days >= 0),
    updated_within_days     INTEGER CHECK (updated_within_days >= 0),
    poll_interval_seconds   DOUBLE PRECISION NOT NULL DEFAULT 300,
    active                  BOOLEAN NOT NULL DEFAULT true,
    push_url                TEXT,
    push_secret             TEXT,
    shop_id                 TEXT,
    watermark               BIGINT,
    next_poll_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    version                 INTEGER NOT NULL DEFAULT 1,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX order_imports_shop ON order_imports (shop_id);

-- A pass over TikTok's order list. Each page is stored with its orders in one transaction
-- (page_token = where the next page starts), so a process killed mid-run leaves a run whose
-- heartbeat goes stale and which another process takes over from the committed page.
CREATE TABLE order_import_runs (
    id                  UUID PRIMARY KEY,
    import_id           UUID NOT NULL REFERENCES order_imports (id) ON DELETE CASCADE,
    mode                TEXT NOT NULL CHECK (mode IN ('incremental', 'backfill')),
    trigger             TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status              TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    update_time_ge      BIGINT,
    create_time_ge      BIGINT,
    page_token          TEXT,
    max_update_time     BIGINT,
    pages               INTEGER NOT NULL DEFAULT 0,
    orders_seen         INTEGER NOT NULL DEFAULT 0,
    orders_changed      INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    owner               TEXT,
    heartbeat_at        TIMESTAMPTZ,
    error               TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ
);
CREATE INDEX order_import_runs_open ON order_import_runs (status, created_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX order_import_runs_import ON order_import_runs (import_id, created_at DESC);

-- Webhooks as received (after the signature check): the primary key deduplicates TikTok's
-- retries; a worker fetches the order detail and marks the row processed.
CREATE TABLE tiktok_webhooks (
    notification_id     TEXT PRIMARY KEY,
    shop_id             TEXT NOT NULL,
    type                INTEGER NOT NULL,
    data                JSONB NOT NULL,
    received_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at        TIMESTAMPTZ,
    error               TEXT
);
CREATE INDEX tiktok_webhooks_pending ON tiktok_webhooks (next_attempt_at)
    WHERE processed_at IS NULL;

-- Every insert or version change of an order takes the next value, under one transaction
-- lock held to the commit (order_ingest.store), so `seq` order is commit order: the pull
-- API's cursor (GET /v1/orders) neither skips nor repeats a row.
CREATE SEQUENCE orders_seq;

-- Orders by TikTok id. `update_time` is the version: an older one never overwrites a newer.
-- `doc` is TikTok's order object WITHOUT the buyer's personal data, which lives in
-- `personal` (recipient_address, buyer_email, buyer_message) so the retention purge can
-- erase it alone (personal = NULL, personal_purged_at = now()) without touching `seq`.
CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    import_id           UUID REFERENCES order_imports (id) ON DELETE SET NULL,
    connection_id       TEXT NOT NULL,
    shop_id             TEXT NOT NULL,
    status              TEXT NOT NULL,
    create_time         BIGINT NOT NULL,
    update_time         BIGINT NOT NULL,
    fulfillment_type    TEXT,
    shipping_type       TEXT,
    delivery_option_id  TEXT,
    cancellable_until   BIGINT,
    ready_to_ship       BOOLEAN NOT NULL DEFAULT false,
    doc                 JSONB NOT NULL,
    personal            JSONB,
    personal_purged_at  TIMESTAMPTZ,
    seq                 BIGINT NOT NULL DEFAULT nextval('orders_seq'),
    received_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orders_seq_idx ON orders (seq);
CREATE INDEX orders_status ON orders (status, seq);
CREATE INDEX orders_import ON orders (import_id);
CREATE INDEX orders_create_time ON orders (create_time);
-- The hold worker's queue: orders still inside the one-hour hold.
CREATE INDEX orders_on_hold ON orders (cancellable_until)
    WHERE NOT ready_to_ship AND status NOT IN ('CANCELLED', 'COMPLETED');

CREATE TABLE order_line_items (
    order_id        TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    sku_id          TEXT,
    product_id      TEXT,
    seller_sku      TEXT,
    package_id      TEXT,
    package_status  TEXT,
    display_status  TEXT,
    sale_price      TEXT,
    currency        TEXT,
    PRIMARY KEY (order_id, id)
);
"""

DOWNGRADE = """
DROP TABLE order_line_items;
DROP TABLE orders;
DROP SEQUENCE orders_seq;
DROP TABLE tiktok_webhooks;
DROP TABLE order_import_runs;
DROP TABLE order_imports;
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
