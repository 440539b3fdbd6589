"""Outbox and inbox tables (transactional outbox, idempotent consumer).

Revision ID: 0001
Revises:
"""

from tts_common.migrate import downgrade_outbox_inbox, upgrade_outbox_inbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade = upgrade_outbox_inbox
downgrade = downgrade_outbox_inbox
