"""Connection transitions on plain objects: status, reason, token erasure and the event, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auth_broker import transitions
from auth_broker.models import Connection, Shop, Status
from tts_common.events import ConnectionRevoked, parse_data
from tts_common.logging import correlation

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _conn(status: Status = Status.ACTIVE) -> Connection:
    conn = Connection(
        id="8c0f6c8e-8d5e-4a43-9a3e-5d1b0b7f0a01",
        name="shop",
        market="UK",
        status=status,
        granted_scopes=[],
        token_generation=3,
        access_token_enc="enc-access",
        refresh_token_enc="enc-refresh",
        access_expires_at=NOW + timedelta(hours=4),
        refresh_expires_at=NOW + timedelta(days=300),
    )
    conn.shops = [Shop(shop_id="7495540735365777507", name="UK shop", region="GB")]
    return conn


def _tokens_erased(conn: Connection) -> bool:
    return (
        conn.access_token_enc is None
        and conn.refresh_token_enc is None
        and conn.access_expires_at is None
        and conn.refresh_expires_at is None
    )


def test_revoke_erases_tokens_moves_the_generation_and_announces_once() -> None:
    conn = _conn()
    with correlation("cid-1"):
        event = transitions.revoke(conn, transitions.OPERATOR_DELETED)
    assert event is not None
    assert conn.status == Status.REVOKED and conn.status_reason == transitions.OPERATOR_DELETED
    assert _tokens_erased(conn) and conn.token_generation == 4
    assert event.type == "connection.revoked" and event.subject == conn.id
    assert event.correlationid == "cid-1"
    data = parse_data(event)
    assert isinstance(data, ConnectionRevoked)
    assert data.shop_ids == ["7495540735365777507"] and data.reason == transitions.OPERATOR_DELETED
    # A second DELETE (or a retried SELLER_DEAUTHORIZATION) changes nothing and says nothing.
    assert transitions.revoke(conn, transitions.SELLER_DEAUTHORIZED) is None
    assert conn.status_reason == transitions.OPERATOR_DELETED and conn.token_generation == 4


def test_expire_erases_tokens_and_keeps_the_reason() -> None:
    conn = _conn(Status.EXPIRING)
    event = transitions.expire(conn, "TikTok refused the token refresh: [36004004] expired")
    assert conn.status == Status.EXPIRED and _tokens_erased(conn)
    assert event.type == "connection.expired"
    assert event.data["reason"] == "TikTok refused the token refresh: [36004004] expired"


@pytest.mark.parametrize("status", [Status.PENDING, Status.EXPIRED, Status.REVOKED])
def test_only_a_working_connection_can_become_expiring(status: Status) -> None:
    conn = _conn(status)
    assert transitions.flag_expiring(conn, "ends soon", NOW + timedelta(days=20)) is None
    assert conn.status == status


def test_expiring_announces_each_new_end_date_once() -> None:
    conn = _conn()
    ends = NOW + timedelta(days=20)
    first = transitions.flag_expiring(conn, "ends in 20 days", ends)
    assert first is not None and first.type == "connection.expiring"
    assert first.data["expires_at"].startswith("2026-12-21")
    assert conn.status == Status.EXPIRING and conn.authorization_expires_at == ends
    assert conn.access_token_enc == "enc-access"  # still leasable: tokens kept
    assert transitions.flag_expiring(conn, "ends in 20 days", ends) is None  # daily repeat
    later = transitions.flag_expiring(conn, "ends in 25 days", ends + timedelta(days=5))
    assert later is not None and conn.authorization_expires_at == ends + timedelta(days=5)


def test_authorize_makes_active_and_clears_the_previous_problem() -> None:
    conn = _conn(Status.EXPIRING)
    conn.status_reason = "the seller's authorization ends soon"
    conn.authorization_expires_at = NOW + timedelta(days=3)
    event = transitions.authorize(
        conn,
        now=NOW,
        seller_name="Seller",
        seller_base_region="GB",
        open_id="",
        granted_scopes=["seller.authorization.info"],
    )
    assert conn.status == Status.ACTIVE and conn.status_reason is None
    assert conn.authorization_expires_at is None and conn.authorized_at == NOW
    assert conn.open_id is None  # TikTok's empty string is stored as unknown
    assert event.type == "connection.authorized"
    assert "access_token_expires_at" in event.data


def test_a_failed_authorization_keeps_the_status() -> None:
    conn = _conn(Status.PENDING)
    transitions.authorization_failed(conn, "the seller who approved has no UK shop")
    assert conn.status == Status.PENDING
    assert conn.status_reason == "the seller who approved has no UK shop"
