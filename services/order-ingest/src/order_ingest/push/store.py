"""The deliveries table: queue, claim, settle, list and replay (flush only; callers commit).

Claiming follows docs/architecture.md (the outbox relay's pattern): due rows are taken with
`FOR UPDATE SKIP LOCKED`, and the claim itself is committed before the OMS is called — no
lock is held while the OMS answers. The claim counts the attempt and moves `next_attempt_at`
to the end of a lease; a worker killed mid-request leaves the row to come due again when the
lease ends, and the next worker sends it under the same `Idempotency-Key`.

Per (import, order) the deliveries go out in version order: a row is only due when no older
pending row of the same order and import exists (a retried `order.received` is not
overtaken by its `order.updated`). A dead row no longer holds the order back.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

STATUSES = ("pending", "delivered", "dead")

_QUEUE = text(
    "INSERT INTO deliveries (id, import_id, connection_id, order_id, update_time, event_type,"
    " event_id, body, order_created_at)"
    " VALUES (:id, :import_id, :connection_id, :order_id, :update_time, :event_type,"
    " :event_id, CAST(:body AS jsonb), :order_created_at)"
    " ON CONFLICT DO NOTHING"
)

_CLAIM = text(
    "WITH due AS ("
    " SELECT d.id FROM deliveries d"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
    " AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.status = 'pending'"
    "  AND e.import_id = d.import_id AND e.order_id = d.order_id"
    "  AND (e.update_time, e.seq) < (d.update_time, d.seq))"
    " ORDER BY d.next_attempt_at, d.seq LIMIT :n FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(),"
    " next_attempt_at = now() + make_interval(secs => :lease), updated_at = now()"
    " FROM due WHERE d.id = due.id"
    " RETURNING d.id, d.import_id, d.order_id, d.event_type, d.attempts,"
    " d.window_started_at, d.body::text AS body, now() AS claimed_at"
)

_DESTINATIONS = text(
    "SELECT id, push_url, push_secret, active FROM order_imports WHERE id = ANY(:ids)"
)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds for one attempt (until its lease ends)."""

    id: str
    import_id: str
    order_id: str
    event_type: str
    attempts: int  # including this one
    window_started_at: datetime
    claimed_at: datetime
    body: bytes  # the raw bytes to send and sign


@dataclass(frozen=True)
class Destination:
    url: str | None
    secret: str | None
    active: bool


async def queue(
    session: AsyncSession,
    *,
    key: str,
    import_id: str,
    connection_id: str,
    order_id: str,
    update_time: datetime,
    event_type: str,
    event_id: str,
    body: bytes,
    order_created_at: datetime | None,
) -> None:
    """Queue a delivery; a delivery with the same key already queued is left as it is."""
    await session.execute(
        _QUEUE,
        {
            "id": key,
            "import_id": import_id,
            "connection_id": connection_id,
            "order_id": order_id,
            "update_time": update_time,
            "event_type": event_type,
            "event_id": event_id,
            "body": body.decode(),
            "order_created_at": order_created_at,
        },
    )


_PUSHING = text(
    "SELECT id, statuses, created_within_days FROM order_imports WHERE connection_id = :c"
    " AND active AND push_url IS NOT NULL AND push_url <> '' ORDER BY id"
)
_SENT_BEFORE = text(
    "SELECT DISTINCT import_id FROM deliveries WHERE order_id = :o AND import_id = ANY(:ids)"
)
_CACHE = "order_ingest.push.imports"


@dataclass(frozen=True)
class PushImport:
    id: str
    statuses: tuple[str, ...]
    created_within_days: int | None

    def selects(self, status: str, created: datetime | None, at: datetime) -> bool:
        """The import's filters (status set, earliest creation counted back from ``at``)."""
        if self.statuses and status not in self.statuses:
            return False
        days = self.created_within_days
        return days is None or created is None or created >= at - timedelta(days=days)


async def pushing_imports(session: AsyncSession, connection_id: str) -> list[PushImport]:
    """The connection's active imports with a push URL, read once per transaction.

    The consumer runner handles a whole poll round in one session (docs/architecture.md,
    "The consumer seam"), so the order events of a round ask the database once per
    connection, not once per event — most connections push nowhere. Rows are read after the
    round's records were fetched, so an import whose first pass produced those records is
    already visible.
    """
    cache: dict[str, list[PushImport]] = session.info.setdefault(_CACHE, {})
    found = cache.get(connection_id)
    if found is None:
        rows = await session.execute(_PUSHING, {"c": connection_id})
        found = cache[connection_id] = [
            PushImport(str(r.id), tuple(r.statuses or ()), r.created_within_days) for r in rows
        ]
    return found


async def push_imports(
    session: AsyncSession,
    connection_id: str,
    *,
    order_id: str,
    status: str,
    created: datetime | None,
    at: datetime,
) -> list[str]:
    """Ids of the connection's active pushing imports that want this order change.

    Wanted: the order passes the import's status set and earliest creation (counted back
    from ``at``, the event's time, so a redelivered event is judged the same), or the import
    was sent this order before (its later changes follow it).
    """
    imports = await pushing_imports(session, connection_id)
    if not imports:
        return []
    wanted = {i.id for i in imports if i.selects(status, created, at)}
    others = [uuid.UUID(i.id) for i in imports if i.id not in wanted]
    if others:
        result = await session.execute(_SENT_BEFORE, {"o": order_id, "ids": others})
        wanted |= {str(row[0]) for row in result}
    return sorted(wanted)


async def claim(session: AsyncSession, limit: int, lease_s: float) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for one attempt each (commit before sending)."""
    if limit <= 0:
        return []
    result = await session.execute(_CLAIM, {"n": limit, "lease": float(lease_s)})
    return [
        Claimed(
            id=str(r.id),
            import_id=str(r.import_id),
            order_id=r.order_id,
            event_type=r.event_type,
            attempts=r.attempts,
            window_started_at=r.window_started_at,
            claimed_at=r.claimed_at,
            # The stored document re-encoded the one way payload.encode does.
            body=orjson.dumps(orjson.loads(r.body), option=orjson.OPT_SORT_KEYS),
        )
        for r in result
    ]


async def destinations(session: AsyncSession, import_ids: list[str]) -> dict[str, Destination]:
    """The push URL and secret of each import (a deleted import is missing)."""
    if not import_ids:
        return {}
    result = await session.execute(_DESTINATIONS, {"ids": [uuid.UUID(i) for i in import_ids]})
    return {
        str(r.id): Destination(url=r.push_url or None, secret=r.push_secret, active=bool(r.active))
        for r in result
    }


async def delivered(session: AsyncSession, delivery_id: str, status_code: int) -> None:
    """The OMS accepted it (even when the lease had ended: it has it now)."""
    await session.execute(
        text(
            "UPDATE deliveries SET status = 'delivered', delivered_at = now(), updated_at = now(),"
            " last_status_code = :code, last_error = NULL WHERE id = :id AND status = 'pending'"
        ),
        {"id": delivery_id, "code": status_code},
    )


async def failed(
    session: AsyncSession,
    claimed: Claimed,
    *,
    error: str,
    status_code: int | None,
    retry_in_s: float | None,
) -> None:
    """The attempt failed: due again in ``retry_in_s``, or dead when that is None.

    Only the attempt that still holds the row settles it: after a lease ran out and another
    worker claimed the row again, this late answer changes nothing.
    """
    await session.execute(
        text(
            "UPDATE deliveries SET last_error = :error, last_status_code = :code,"
            " updated_at = now(),"
            " status = CASE WHEN CAST(:retry AS double precision) IS NULL"
            "  THEN 'dead' ELSE 'pending' END,"
            " next_attempt_at = CASE WHEN CAST(:retry AS double precision) IS NULL"
            "  THEN next_attempt_at"
            "  ELSE now() + make_interval(secs => CAST(:retry AS double precision)) END"
            " WHERE id = :id AND status = 'pending' AND attempts = :attempts"
        ),
        {
            "id": claimed.id,
            "attempts": claimed.attempts,
            "error": error[:500],
            "code": status_code,
            "retry": retry_in_s,
        },
    )


# --- reads and replays (the API) -----------------------------------------------------------

_COLUMNS = (
    "id, seq, import_id, connection_id, order_id, update_time, event_type, event_id, status,"
    " attempts, CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at,"
    " last_attempt_at, last_status_code, last_error, created_at, delivered_at, updated_at,"
    " pii_purged_at"
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"d:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The seq a cursor continues after; None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = raw.partition(":")
    if prefix != "d" or not number.isdigit():
        return None
    return int(number)


def _filters(
    status: str | None,
    order_id: str | None,
    import_id: str | None,
    event_type: str | None = None,
) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if order_id is not None:
        where.append("order_id = :order_id")
        params["order_id"] = order_id
    if import_id is not None:
        where.append("import_id = :import_id")
        params["import_id"] = uuid.UUID(import_id)
    if event_type is not None:
        where.append("event_type = :event_type")
        params["event_type"] = event_type
    return where, params


async def list_deliveries(
    session: AsyncSession,
    *,
    status: str | None = None,
    order_id: str | None = None,
    import_id: str | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of deliveries in queue order and the seq the next page starts after."""
    where, params = _filters(status, order_id, import_id)
    if after_seq is not None:
        where.append("seq > :after")
        params["after"] = after_seq
    params["n"] = limit + 1
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    result = await session.execute(
        text(f"SELECT {_COLUMNS} FROM deliveries{clause} ORDER BY seq LIMIT :n"), params
    )
    rows = [dict(r._mapping) for r in result]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["seq"] if more and rows else None)


async def get(session: AsyncSession, delivery_id: str) -> dict[str, Any] | None:
    result = await session.execute(
        text(f"SELECT {_COLUMNS}, body::text AS body FROM deliveries WHERE id = :id"),
        {"id": uuid.UUID(delivery_id)},
    )
    row = result.first()
    if row is None:
        return None
    found = dict(row._mapping)
    found["body"] = orjson.loads(found["body"])
    return found


_REPLAY_SET = (
    "status = 'pending', attempts = 0, next_attempt_at = now(), window_started_at = now(),"
    " updated_at = now(), last_error = NULL, last_status_code = NULL"
)


async def replay_one(session: AsyncSession, delivery_id: str) -> str | None:
    """Queue a dead delivery again (same key, a fresh retry budget).

    Returns the status it had (``dead`` when replayed) or None when there is no such delivery.
    """
    result = await session.execute(
        text("SELECT status FROM deliveries WHERE id = :id FOR UPDATE"),
        {"id": uuid.UUID(delivery_id)},
    )
    status = result.scalar()
    if status is None:
        return None
    if status == "dead":
        await session.execute(
            text(f"UPDATE deliveries SET {_REPLAY_SET} WHERE id = :id"),
            {"id": uuid.UUID(delivery_id)},
        )
    return str(status)


async def replay_dead(
    session: AsyncSession,
    *,
    order_id: str | None = None,
    import_id: str | None = None,
    event_type: str | None = None,
    dead_since: datetime | None = None,
) -> int:
    """Queue every dead delivery matching the filter again; how many."""
    where, params = _filters("dead", order_id, import_id, event_type)
    if dead_since is not None:
        where.append("updated_at >= :since")
        params["since"] = dead_since
    result = await session.execute(
        text(f"UPDATE deliveries SET {_REPLAY_SET} WHERE {' AND '.join(where)}"), params
    )
    return int(getattr(result, "rowcount", 0) or 0)


def age(claimed: Claimed) -> timedelta:
    """How long the claimed delivery has been trying (since queued or last replayed)."""
    start = claimed.window_started_at
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return claimed.claimed_at - start
