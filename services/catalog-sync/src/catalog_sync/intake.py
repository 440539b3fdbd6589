"""Product intake: a streamed upload → COPY into a staging table → set-based merge.

An upload is read chunk by chunk (no whole-file load), parsed incrementally
(`catalog_sync.sources`), and COPYed in batches into a temporary staging table inside the
request's transaction. Then a handful of set-based statements:

1. count new / changed / unchanged rows against the stored ones (by an MD5 of each row);
2. for a full snapshot, count the rows it would delete and refuse (409) when that exceeds the
   feed's `max_delete_share` (default 50 %) unless `force` — the mass-deletion guard;
3. mark the parents touched as dirty (the delta export's input);
4. upsert only new and changed rows (`ON CONFLICT … DO UPDATE … WHERE hash <> EXCLUDED.hash`:
   an unchanged row is not rewritten), and for a snapshot delete the rows it no longer has.

Everything runs on the caller's session (the transaction rule: the route's `SessionDep`
commits), so a refused or failed upload leaves the stored products exactly as they were.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import AppError

from catalog_sync.sources import Refused, Row, SourceError, open_parser

log = logging.getLogger(__name__)

Kind = Literal["snapshot", "upsert"]
COPY_BATCH = 5000
PROGRESS_EVERY = 100_000
# Refused rows kept with their line and reason (all are counted); beyond this only counted.
MAX_PROBLEMS_STORED = 100_000
PROBLEMS_IN_RESPONSE = 1000

_STAGING_DDL = (
    "CREATE TEMP TABLE upload_staging ("
    " product_id TEXT NOT NULL, parent_id TEXT NOT NULL, seq BIGINT NOT NULL, data JSONB NOT NULL,"
    " hash BYTEA NOT NULL"
    ") ON COMMIT DROP"
)
_STAGING_COLUMNS = ("product_id", "parent_id", "seq", "data", "hash")


@dataclass
class Problem:
    line: int
    reason: str
    product_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason, "product_id": self.product_id}


@dataclass
class UploadReport:
    """What an upload did; returned to the caller and stored in `uploads`."""

    upload_id: str
    source_id: str
    kind: Kind
    format: str
    status: Literal["applied", "refused"] = "applied"
    rows_read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    refused: int = 0
    refused_by_reason: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self, problems_limit: int = PROBLEMS_IN_RESPONSE) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "source_id": self.source_id,
            "kind": self.kind,
            "format": self.format,
            "status": self.status,
            "rows_read": self.rows_read,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "refused": self.refused,
            "refused_by_reason": self.refused_by_reason,
            "problems": [p.as_dict() for p in self.problems[:problems_limit]],
            "problems_truncated": len(self.problems) > problems_limit
            or self.refused > len(self.problems),
            "duration_s": round(self.duration_s, 3),
        }


class MassDeletion(AppError):
    """A snapshot would delete more of the stored products than the feed allows."""

    status_code = 409
    code = "mass_deletion_refused"

    def __init__(self, report: UploadReport, existing: int, share: float, limit: float) -> None:
        super().__init__(
            f"this snapshot would delete {report.deleted} of {existing} stored products "
            f"({share:.0%}), more than the allowed {limit:.0%}; nothing was changed. "
            "Check the file, or repeat with force=true to delete them"
        )
        self.report = report


class UnreadableUpload(AppError):
    status_code = 422
    code = "upload_unreadable"

    def __init__(self, why: str, rows_read: int) -> None:
        super().__init__(
            f"the upload cannot be read ({why}) after {rows_read} rows; nothing was changed"
        )


def row_hash(parent_id: str, data: dict[str, str]) -> bytes:
    """MD5 of the canonical JSON of a row (parent included): equal rows, equal hashes."""
    return hashlib.md5(
        orjson.dumps([parent_id, data], option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).digest()


def _reason_key(reason: str) -> str:
    """Group refusals by the reason's kind (the text before any detail)."""
    return reason.split(":", 1)[0].split(" (", 1)[0][:80]


class _Stager:
    """Collects parsed rows and COPYs them into the staging table in batches."""

    def __init__(self, driver: Any, report: UploadReport) -> None:
        self._driver = driver
        self._report = report
        self._batch: list[tuple[str, str, int, str, bytes]] = []
        self._reasons: Counter[str] = Counter()
        self._next_progress = PROGRESS_EVERY

    async def take(self, items: list[Row | Refused]) -> None:
        report = self._report
        for item in items:
            report.rows_read += 1
            if isinstance(item, Refused):
                self._refuse(item)
                continue
            data = item.data
            product_id = data["product_id"]
            parent_id = data.get("parent_id") or product_id
            payload = orjson.dumps(data)
            if b"\\u0000" in payload:  # PostgreSQL text cannot hold NUL characters
                self._refuse(Refused(item.line, "nul_character: a value holds a NUL", product_id))
                continue
            self._batch.append(
                (product_id, parent_id, item.line, payload.decode(), row_hash(parent_id, data))
            )
        if len(self._batch) >= COPY_BATCH:
            await self.flush()
        if report.rows_read >= self._next_progress:
            self._next_progress += PROGRESS_EVERY
            log.info(
                "intake progress",
                extra={"upload_id": report.upload_id, "rows_read": report.rows_read},
            )

    def _refuse(self, item: Refused) -> None:
        report = self._report
        report.refused += 1
        self._reasons[_reason_key(item.reason)] += 1
        if len(report.problems) < MAX_PROBLEMS_STORED:
            report.problems.append(Problem(item.line, item.reason, item.product_id))

    async def flush(self) -> None:
        if self._batch:
            await self._driver.copy_records_to_table(
                "upload_staging", records=self._batch, columns=_STAGING_COLUMNS
            )
            self._batch = []
        self._report.refused_by_reason = dict(self._reasons)


_COUNT = text(
    "SELECT count(*) FILTER (WHERE sp.product_id IS NULL) AS new,"
    " count(*) FILTER (WHERE sp.hash <> s.hash) AS changed,"
    " count(*) FILTER (WHERE sp.hash = s.hash) AS unchanged"
    " FROM upload_staging s LEFT JOIN source_products sp"
    " ON sp.source_id = :source AND sp.product_id = s.product_id"
)
_EXISTING = text("SELECT count(*) FROM source_products WHERE source_id = :source")
_MARK_DIRTY = text(
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT :source, parent_id FROM ("
    "   SELECT s.parent_id FROM upload_staging s LEFT JOIN source_products sp"
    "     ON sp.source_id = :source AND sp.product_id = s.product_id"
    "     WHERE sp.product_id IS NULL OR sp.hash <> s.hash"
    "   UNION SELECT sp.parent_id FROM upload_staging s JOIN source_products sp"
    "     ON sp.source_id = :source AND sp.product_id = s.product_id"
    "     WHERE sp.hash <> s.hash AND sp.parent_id <> s.parent_id"
    " ) touched"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = now()"
)
_MARK_DELETED_DIRTY = text(
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT DISTINCT :source, sp.parent_id FROM source_products sp"
    " WHERE sp.source_id = :source"
    " AND NOT EXISTS (SELECT 1 FROM upload_staging s WHERE s.product_id = sp.product_id)"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = now()"
)
_UPSERT = text(
    "INSERT INTO source_products (source_id, product_id, parent_id, seq, data, hash)"
    " SELECT :source, product_id, parent_id, seq, data, hash FROM upload_staging"
    " ON CONFLICT (source_id, product_id) DO UPDATE SET parent_id = EXCLUDED.parent_id,"
    " seq = EXCLUDED.seq, data = EXCLUDED.data, hash = EXCLUDED.hash, updated_at = now()"
    " WHERE source_products.hash <> EXCLUDED.hash"
)
_DELETE_ABSENT = text(
    "DELETE FROM source_products sp WHERE sp.source_id = :source"
    " AND NOT EXISTS (SELECT 1 FROM upload_staging s WHERE s.product_id = sp.product_id)"
)
_RECORD = text(
    "INSERT INTO uploads (id, source_id, feed_id, kind, format, status, rows_read, new, changed,"
    " unchanged, deleted, refused, problems, started_at, finished_at)"
    " VALUES (:id, :source, :feed, :kind, :format, :status, :rows_read, :new, :changed,"
    " :unchanged, :deleted, :refused, :problems, :started, now())"
).bindparams(bindparam("problems", type_=JSONB))


async def ingest(
    session: AsyncSession,
    *,
    source_id: str,
    chunks: AsyncIterator[bytes],
    fmt: str,
    kind: Kind,
    force: bool = False,
    max_delete_share: float = 0.5,
    feed_id: str | None = None,
) -> UploadReport:
    """Apply one upload to `source_id` (flush only; the entrypoint commits)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    report = UploadReport(upload_id=str(uuid.uuid4()), source_id=source_id, kind=kind, format=fmt)
    conn = await session.connection()
    # The asyncpg adapter opens its transaction lazily: run a statement first so the
    # staging table and the COPY happen inside the caller's transaction.
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute(_STAGING_DDL)
    parser = open_parser(fmt)
    stager = _Stager(driver, report)
    try:
        async for chunk in chunks:
            await stager.take(parser.feed(chunk))
        await stager.take(parser.close())
    except SourceError as exc:
        # The upload as a whole is unreadable (cut-off gzip, no header…): nothing is applied,
        # above all no snapshot deletes the products a truncated file lacks.
        raise UnreadableUpload(str(exc), report.rows_read) from None
    await stager.flush()
    await driver.execute("ANALYZE upload_staging")

    params = {"source": source_id}
    counts = (await session.execute(_COUNT, params)).one()
    report.new, report.changed, report.unchanged = counts.new, counts.changed, counts.unchanged
    if kind == "snapshot":
        existing = int((await session.execute(_EXISTING, params)).scalar_one())
        report.deleted = existing - report.changed - report.unchanged
        share = report.deleted / existing if existing else 0.0
        if report.deleted and share > max_delete_share and not force:
            report.status = "refused"
            report.duration_s = time.perf_counter() - started
            log.warning(
                "snapshot refused by the mass-deletion guard",
                extra={"source_id": source_id, "would_delete": report.deleted, "of": existing},
            )
            raise MassDeletion(report, existing, share, max_delete_share)
        if report.deleted:
            await session.execute(_MARK_DELETED_DIRTY, params)
    await session.execute(_MARK_DIRTY, params)
    await session.execute(_UPSERT, params)
    if kind == "snapshot" and report.deleted:
        await session.execute(_DELETE_ABSENT, params)
    report.duration_s = time.perf_counter() - started
    await session.execute(
        _RECORD,
        {
            "id": report.upload_id,
            "source": source_id,
            "feed": feed_id,
            "kind": kind,
            "format": fmt,
            "status": report.status,
            "rows_read": report.rows_read,
            "new": report.new,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "deleted": report.deleted,
            "refused": report.refused,
            "problems": [p.as_dict() for p in report.problems],
            "started": started_at,
        },
    )
    await driver.execute("DROP TABLE upload_staging")
    log.info(
        "upload applied",
        extra={
            "upload_id": report.upload_id,
            "source_id": source_id,
            "kind": kind,
            "rows_read": report.rows_read,
            "new": report.new,
            "changed": report.changed,
            "deleted": report.deleted,
            "refused": report.refused,
            "duration_s": round(report.duration_s, 3),
        },
    )
    return report
