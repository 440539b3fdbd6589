"""OMS push deliveries: one row per (import, order event), with its state.

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
-- id is the delivery's Idempotency-Key (order_ingest.push.payload.delivery_key), stable
-- across retries, redeliveries and replays. status: pending, delivered, dead. While a
-- worker holds a pending row, next_attempt_at is the end of its lease (a killed worker's
-- row comes due again then). No foreign key to order_imports: a delivery outlives its import.
CREATE TABLE deliveries (
    id                  UUID PRIMARY KEY,
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
    import_id           UUID NOT NULL,
    connection_id       TEXT NOT NULL,
    order_id            TEXT NOT NULL,
    update_time         TIMESTAMPTZ NOT NULL,
    event_type          TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    body                JSONB NOT NULL,
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at     TIMESTAMPTZ,
    last_status_code    INTEGER,
    last_error          TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- the retry window's start: created_at, or the last replay
    window_started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at        TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    order_created_at    TIMESTAMPTZ,
    pii_purged_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX deliveries_seq ON deliveries (seq);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_order_pending ON deliveries (import_id, order_id, update_time, seq)
    WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (order_id, seq);
CREATE INDEX deliveries_import_order ON deliveries (import_id, order_id);
CREATE INDEX deliveries_status ON deliveries (status, seq);
CREATE INDEX deliveries_retention ON deliveries ((coalesce(order_created_at, created_at)))
    WHERE pii_purged_at IS NULL
"""

DOWNGRADE = """
DROP TABLE IF EXISTS deliveries
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
