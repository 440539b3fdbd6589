"""Connections, encrypted tokens, authorized shops, OAuth states, webhook receipts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("market", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("seller_name", sa.Text),
        sa.Column("seller_base_region", sa.Text),
        sa.Column("open_id", sa.Text),
        sa.Column("granted_scopes", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("access_token_enc", sa.Text),
        sa.Column("refresh_token_enc", sa.Text),
        sa.Column("access_expires_at", TS),
        sa.Column("refresh_expires_at", TS),
        sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_refreshed_at", TS),
        sa.Column("authorization_expires_at", TS),
        sa.Column("authorized_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("market IN ('US', 'UK')", name="connections_market_check"),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'expiring', 'expired', 'revoked')",
            name="connections_status_check",
        ),
    )
    # The refresher scans leasable connections by access-token expiry.
    op.create_index(
        "ix_connections_refresh_due",
        "connections",
        ["access_expires_at"],
        postgresql_where=sa.text("status IN ('active', 'expiring')"),
    )
    op.create_table(
        "connection_shops",
        sa.Column(
            "connection_id",
            UUID(as_uuid=False),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("shop_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("seller_type", sa.Text),
        sa.Column("cipher", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
    )
    # Webhooks name a shop; find its connection(s).
    op.create_index("ix_connection_shops_shop_id", "connection_shops", ["shop_id"])
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.Text, primary_key=True),
        sa.Column(
            "connection_id",
            UUID(as_uuid=False),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_oauth_states_connection_id", "oauth_states", ["connection_id"])
    op.create_table(
        "webhook_receipts",
        sa.Column("notification_id", sa.Text, primary_key=True),
        sa.Column("event_type", sa.Integer, nullable=False),
        sa.Column("shop_id", sa.Text),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("webhook_receipts")
    op.drop_table("oauth_states")
    op.drop_table("connection_shops")
    op.drop_table("connections")
