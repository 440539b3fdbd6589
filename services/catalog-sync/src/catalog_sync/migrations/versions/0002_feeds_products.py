"""Sources and their products (the import stage), feeds, mapping lists, uploads, taxonomy cache.

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
CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    options     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per variant as received. `hash` is a hash of the canonical row (intake.row_hash): an
-- unchanged row of a new upload is recognised without rewriting it. `seq` is the row's line
-- in the upload that last wrote it: within a parent the first row is the main product.
CREATE TABLE source_products (
    source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    product_id  TEXT NOT NULL,
    parent_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL DEFAULT 0,
    data        JSONB NOT NULL,
    hash        BYTEA NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, product_id)
);
CREATE INDEX source_products_parent ON source_products (source_id, parent_id);

-- Parents whose rows changed since the last export run looked at them (the delta's input).
CREATE TABLE dirty_parents (
    source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    parent_id   TEXT NOT NULL,
    marked_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, parent_id)
);

CREATE TABLE feeds (
    id                      UUID PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    market                  TEXT NOT NULL CHECK (market IN ('US', 'UK')),
    connection_id           UUID,
    source_id               TEXT NOT NULL REFERENCES sources (id),
    active                  BOOLEAN NOT NULL DEFAULT false,
    log_api_calls           BOOLEAN NOT NULL DEFAULT false,
    log_api_headers         BOOLEAN NOT NULL DEFAULT false,
    feedback_enabled        BOOLEAN NOT NULL DEFAULT true,
    schedule                TEXT,
    max_delete_share        DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    optimization            JSONB NOT NULL DEFAULT '{}'::jsonb,
    dataflow                JSONB NOT NULL DEFAULT '{}'::jsonb,
    version                 INTEGER NOT NULL DEFAULT 1,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX feeds_source ON feeds (source_id);

CREATE TABLE mapping_lists (
    id                  BIGSERIAL PRIMARY KEY,
    feed_id             UUID NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    taxonomy            TEXT NOT NULL,
    attribute           TEXT NOT NULL,
    accept_above_score  DOUBLE PRECISION,
    UNIQUE (feed_id, name)
);

-- Every distinct source value of the list's attribute (replacement NULL: unmapped).
CREATE TABLE mapping_list_rows (
    list_id         BIGINT NOT NULL REFERENCES mapping_lists (id) ON DELETE CASCADE,
    source_value    TEXT NOT NULL,
    replacement     TEXT,
    added_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    mapped_at       TIMESTAMPTZ,
    PRIMARY KEY (list_id, source_value)
);

CREATE TABLE uploads (
    id              UUID PRIMARY KEY,
    source_id       TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    feed_id         UUID,
    kind            TEXT NOT NULL,
    format          TEXT NOT NULL,
    status          TEXT NOT NULL,
    rows_read       INTEGER NOT NULL DEFAULT 0,
    new             INTEGER NOT NULL DEFAULT 0,
    changed         INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    refused         INTEGER NOT NULL DEFAULT 0,
    problems        JSONB NOT NULL DEFAULT '[]'::jsonb,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX uploads_source ON uploads (source_id, started_at DESC);

-- TikTok taxonomies (categories, brands, category attributes) per market, refreshable.
CREATE TABLE taxonomy_cache (
    market      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    payload     JSONB NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (market, kind, key)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS taxonomy_cache;
DROP TABLE IF EXISTS uploads;
DROP TABLE IF EXISTS mapping_list_rows;
DROP TABLE IF EXISTS mapping_lists;
DROP TABLE IF EXISTS feeds;
DROP TABLE IF EXISTS dirty_parents;
DROP TABLE IF EXISTS source_products;
DROP TABLE IF EXISTS sources;
"""


def upgrade() -> None:
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
