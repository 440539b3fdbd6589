"""Shipment exports, the orders learned from order events, shipments and their feedback.

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
-- A Productsup "TikTok Shop - Shipment Notifications" export: which connection it sends to,
-- whether it is active, whether feedback is kept, carrier and field mappings (docs/shipments.md).
CREATE TABLE shipment_exports (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    connection_id     TEXT,
    active            BOOLEAN NOT NULL DEFAULT false,
    feedback_enabled  BOOLEAN NOT NULL DEFAULT true,
    carriers          JSONB NOT NULL DEFAULT '[]'::jsonb,
    field_mapping     JSONB NOT NULL DEFAULT '{}'::jsonb,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one active export per connection: a shipment finds its export by its order's shop.
CREATE UNIQUE INDEX shipment_exports_active_connection
    ON shipment_exports (connection_id) WHERE active;

-- Orders as the order events (or a Get Order Detail read) last showed them; the newest
-- update_time wins, a cancellation sticks.
CREATE TABLE orders (
    order_id           TEXT PRIMARY KEY,
    connection_id      TEXT NOT NULL,
    shop_id            TEXT NOT NULL,
    status             TEXT NOT NULL,
    update_time        TIMESTAMPTZ NOT NULL,
    cancellable_until  TIMESTAMPTZ,
    fulfillment_type   TEXT NOT NULL,
    data               JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per (order, tracking number): the same pair arriving again is the same shipment.
-- status: queued | deferred (waits for due_at) | sending (claimed by a sender at claimed_at)
--         | notified | rejected | superseded (a newer tracking number came before it was sent)
-- reconcile: the last write's outcome is unknown (lost answer, 5xx, a sender that died while
-- sending): the package is read before anything is sent again.
CREATE TABLE shipments (
    id                    UUID PRIMARY KEY,
    order_id              TEXT NOT NULL,
    tracking_number       TEXT NOT NULL,
    carrier               TEXT,
    shipping_provider_id  TEXT,
    provider_id           TEXT,
    shipped_at            TIMESTAMPTZ NOT NULL,
    line_item_ids         JSONB,
    external_id           TEXT,
    source                TEXT NOT NULL,
    export_id             UUID REFERENCES shipment_exports (id) ON DELETE SET NULL,
    connection_id         TEXT,
    package_id            TEXT,
    status                TEXT NOT NULL DEFAULT 'queued',
    action                TEXT,
    reason                TEXT,
    code                  TEXT,
    request_id            TEXT,
    due_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    deferred_until        TIMESTAMPTZ,
    claimed_at            TIMESTAMPTZ,
    attempts              INTEGER NOT NULL DEFAULT 0,
    reconcile             BOOLEAN NOT NULL DEFAULT false,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    notified_at           TIMESTAMPTZ,
    UNIQUE (order_id, tracking_number)
);
CREATE INDEX shipments_due ON shipments (due_at) WHERE status IN ('queued', 'deferred');
CREATE INDEX shipments_sending ON shipments (claimed_at) WHERE status = 'sending';
CREATE INDEX shipments_created ON shipments (created_at);
CREATE INDEX shipments_export ON shipments (export_id, created_at);

-- What happened to each shipment, for the export's feedback file (when feedback is on).
CREATE TABLE shipment_feedback (
    id               BIGSERIAL PRIMARY KEY,
    shipment_id      UUID NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    export_id        UUID REFERENCES shipment_exports (id) ON DELETE CASCADE,
    order_id         TEXT NOT NULL,
    tracking_number  TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    action           TEXT,
    code             TEXT,
    message          TEXT,
    request_id       TEXT,
    at               TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shipment_feedback_export ON shipment_feedback (export_id, id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS shipment_feedback;
DROP TABLE IF EXISTS shipments;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS shipment_exports;
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
