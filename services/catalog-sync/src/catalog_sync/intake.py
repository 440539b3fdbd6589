"""Product intake: a streamed upload → one streamed COPY → set-based merge.

An upload is read chunk by chunk (no whole-file load), parsed incrementally
(`catalog_sync.sources`) and streamed, as it is parsed, through ONE `COPY … FROM STDIN`
inside the request's transaction, so PostgreSQL stores rows on its own core while this
process parses the next ones. Uploads of one source take turns (a transaction-scoped
advisory lock): each one compares against what the previous one committed.

Each row's hash (`row_hash`, a BLAKE2b of its canonical JSON) is compared with the stored
rows' hashes, which the intake reads first, so only new and changed rows travel to
PostgreSQL at all. Three ways, by what the source holds:

- **nothing** (a first upload): the COPY writes `source_products` itself and every parent
  is marked dirty — each row is written once, not staged and copied again;
- **up to `KNOWN_HASHES_MAX` rows**: the new and changed rows are COPYed into a temporary
  staging table; the counts come from the comparison, then
  1. for a full snapshot, the rows it lacks are counted and the upload refused (409) when
     that exceeds the feed's `max_delete_share` (default 50 %) unless `force` — the
     mass-deletion guard;
  2. when rows are new or changed: the parents they touch are marked dirty (the delta
     export's input) and those rows upserted (an unchanged row is neither sent, rewritten
     nor locked; an upload that changes nothing writes no product at all);
  3. for a snapshot, the rows it lacks are deleted and their parents marked dirty;
- **more** (the stored hashes would not fit the process's memory bound), or a source read
  without the parser's duplicate check: every row is staged, and set-based statements count
  new / changed / unchanged rows against the stored ones first; the guard and steps 2-3
  follow as above.

Everything runs on the caller's session (the transaction rule: the route's `SessionDep`
commits), so a refused or failed upload leaves the stored products exactly as they were.
A product event (`products.py`) that lands while an upload runs is ordered with it row by
row, never half-applied: the upload compares with the stored rows once (as it starts; a
large source as its COPY ends) and writes the rows that differed then, each only if it
still differs (`ON CONFLICT … WHERE hash <> EXCLUDED.hash`). A first upload that meets a
row an event created meanwhile answers 409 `upload_conflict` (nothing changed; repeat it).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import AppError

from catalog_sync.sources import Parsed, Parser, Refused, SourceError, SourceOptions, open_parser

log = logging.getLogger(__name__)

Kind = Literal["snapshot", "upsert"]
# Bytes of COPY data sent per message: large enough that the per-message cost vanishes,
# small enough to keep the process's memory flat whatever the upload's size.
COPY_CHUNK_BYTES = 1 << 20
PROGRESS_EVERY = 100_000
# Refused rows kept with their line and reason (all are counted); beyond this only counted.
MAX_PROBLEMS_STORED = 100_000
PROBLEMS_IN_RESPONSE = 1000
# The stored rows' hashes are held in memory (about 150 bytes per row) up to this many rows;
# a larger source is compared in PostgreSQL instead.
KNOWN_HASHES_MAX = 2_000_000
# Memory PostgreSQL may use per hash/sort step of the set-based statements (this
# transaction only): the joins of a 1,000,000-row upload run in memory rather than in
# batches on disk; PostgreSQL takes only what a step needs.
MERGE_WORK_MEM = "256MB"

_SORT = orjson.OPT_SORT_KEYS
# Characters COPY's text format gives a meaning to; they are escaped with a backslash.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_STAGING_DDL = (
    "CREATE TEMP TABLE upload_staging (product_id TEXT NOT NULL, parent_id TEXT NOT NULL,"
    " seq BIGINT NOT NULL, data JSONB NOT NULL, hash BYTEA NOT NULL) ON COMMIT DROP"
)
_ROW_COLUMNS = ("product_id", "parent_id", "seq", "data", "hash")
# Staged rows whose product_id comes again later in the upload (and that later line).
_SUPERSEDE = (
    "DELETE FROM upload_staging s USING ("
    "  SELECT product_id, max(seq) AS last FROM upload_staging GROUP BY product_id"
    "  HAVING count(*) > 1) d"
    " WHERE s.product_id = d.product_id AND s.seq < d.last"
    " RETURNING s.seq, s.product_id, d.last"
)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('catalog_sync.upload:' || $1, 0))"
_KNOWN = (
    "SELECT array_agg(product_id), array_agg(hash) FROM ("
    " SELECT product_id, hash FROM source_products WHERE source_id = $1 LIMIT $2) stored"
)


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
    """A 16-byte BLAKE2b of the canonical JSON of a row (parent included): equal rows, equal
    hashes. (BLAKE2b rather than MD5: the intake hashes every row of every upload, and BLAKE2b
    is the faster of the two on 64-bit machines; the hash detects changes, it signs nothing.)

    The canonical JSON is `[<parent_id>,<row, keys sorted>]`, compact, as
    `orjson.dumps([parent_id, data], option=OPT_SORT_KEYS)` writes it.
    """
    canonical = orjson.dumps([parent_id, data], option=_SORT)
    return hashlib.blake2b(canonical, digest_size=16).digest()


def _copy_text(value: str) -> str:
    """`value` as COPY's text format needs it: backslash, tab, newline and CR escaped."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _storable(value: str) -> str:
    """Text for the stored report: JSONB refuses a NUL or a lone surrogate."""
    if "\x00" in value or not value.isascii():
        value = "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def _has_nul(data: dict[str, str]) -> bool:
    return any("\x00" in k or "\x00" in v for k, v in data.items())


def _reason_key(reason: str) -> str:
    """Group refusals by the reason's kind (the text before any detail)."""
    return reason.split(":", 1)[0].split(" (", 1)[0][:80]


class _Encoder:
    """Parsed rows → COPY data (text format) of the rows to write; counts and refusals.

    With `known` (product_id → stored hash) each row is compared as it passes: an unchanged
    row is only counted, a new or changed one written; the ids left in `known` at the end
    are the stored rows the upload lacks. Without it every row is written (and PostgreSQL
    compares). `source_prefix` starts each line with the source id, for a COPY into
    `source_products` itself; `collect_parents` keeps the parent ids written (each once when
    a parent's rows are consecutive, as exports write them).
    """

    def __init__(
        self,
        report: UploadReport,
        known: dict[str, bytes] | None,
        source_prefix: str | None,
        *,
        collect_parents: bool = False,
    ) -> None:
        self.report = report
        self.known = known
        self.parents: list[str] | None = [] if collect_parents else None
        self._last_parent: str | None = None
        self._prefix = "" if source_prefix is None else self._escaped(source_prefix) + "\t"
        self._reasons: Counter[str] = Counter()
        self._next_progress = PROGRESS_EVERY
        self._pending: list[bytes] = []
        self.pending_bytes = 0
        self.written = 0
        self.new = 0
        self.changed = 0
        self.unchanged = 0

    @staticmethod
    def _escaped(value: str) -> str:
        return value if _COPY_SPECIAL.search(value) is None else _copy_text(value)

    def take(self, items: list[Parsed]) -> None:
        dumps = orjson.dumps
        blake2b = hashlib.blake2b
        special = _COPY_SPECIAL.search
        append = self._pending.append
        known = self.known
        pop = None if known is None else known.pop
        prefix = self._prefix
        parents = self.parents
        size = written = 0
        for item in items:
            if isinstance(item, Refused):
                self.refuse(item)
                continue
            line, data = item
            product_id = data["product_id"]
            parent_id = data.get("parent_id") or product_id
            try:
                canonical = dumps([parent_id, data], option=_SORT)
            except orjson.JSONEncodeError:  # a lone surrogate (NDJSON may escape one)
                self.refuse(
                    Refused(line, "invalid_text: a value holds a lone surrogate", product_id)
                )
                continue
            digest = blake2b(canonical, digest_size=16).digest()
            stored = None
            if pop is not None:
                stored = pop(product_id, None)
                if stored == digest:  # stored before, so PostgreSQL can hold it
                    self.unchanged += 1
                    continue
            # The row itself: the canonical JSON without its `["<parent_id>",` and `]`.
            data_json = canonical[len(dumps(parent_id)) + 2 : -1]
            if b"\\" in data_json:  # JSON escapes: a NUL, or text whose backslashes COPY doubles
                if b"\\u0000" in data_json and _has_nul(data):  # PostgreSQL text cannot hold NUL
                    if known is not None and stored is not None:  # refused, so: absent
                        known[product_id] = stored
                    self.refuse(Refused(line, "nul_character: a value holds a NUL", product_id))
                    continue
                data_json = data_json.replace(b"\\", b"\\\\")
            if pop is not None:
                if stored is None:
                    self.new += 1
                else:
                    self.changed += 1
            if special(product_id) is not None or special(parent_id) is not None:
                head = f"{prefix}{_copy_text(product_id)}\t{_copy_text(parent_id)}\t{line}\t"
            else:
                head = f"{prefix}{product_id}\t{parent_id}\t{line}\t"
            append(head.encode())
            append(data_json)
            append(b"\t\\\\x" + digest.hex().encode() + b"\n")
            size += len(data_json) + 100
            written += 1
            if parents is not None and parent_id != self._last_parent:
                parents.append(parent_id)
                self._last_parent = parent_id
        self.written += written
        self.pending_bytes += size
        report = self.report
        report.rows_read += len(items)
        if report.rows_read >= self._next_progress:
            self._next_progress += PROGRESS_EVERY
            log.info(
                "intake progress",
                extra={"upload_id": report.upload_id, "rows_read": report.rows_read},
            )

    def refuse(self, item: Refused) -> None:
        report = self.report
        report.refused += 1
        self._reasons[_reason_key(item.reason)] += 1
        if len(report.problems) < MAX_PROBLEMS_STORED:
            product_id = None if item.product_id is None else _storable(item.product_id)
            report.problems.append(Problem(item.line, _storable(item.reason), product_id))

    def drain(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self.pending_bytes = 0
        self.report.refused_by_reason = dict(self._reasons)
        return data


class _Feeder:
    """The COPY's data: the upload parsed as it arrives, in chunks of about COPY_CHUNK_BYTES.

    A failure of the upload itself (unreadable, client gone) ends the COPY normally and is
    kept in `failure`, for `_copy` to raise once the COPY returned; the entrypoint then rolls
    the transaction back, and no cancel request races the statements after it.
    """

    def __init__(self, chunks: AsyncIterator[bytes], parser: Parser, encoder: _Encoder) -> None:
        self._chunks = chunks
        self._parser = parser
        self._encoder = encoder
        self.failure: Exception | None = None

    async def data(self) -> AsyncIterator[bytes]:
        encoder = self._encoder
        parser = self._parser
        try:
            async for chunk in self._chunks:
                encoder.take(parser.feed(chunk))
                if encoder.pending_bytes >= COPY_CHUNK_BYTES:
                    yield encoder.drain()
            encoder.take(parser.close())
        except Exception as exc:  # raised by `_copy` once the COPY returned
            self.failure = exc
        rest = encoder.drain()
        if rest:
            yield rest


class UploadConflict(AppError):
    status_code = 409
    code = "upload_conflict"
    retriable = True

    def __init__(self) -> None:
        super().__init__(
            "a product of this upload was written by another change while it ran; nothing "
            "was changed. Repeat the upload"
        )


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
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
)
# A first upload (COPYed into source_products itself): every parent of the source is new.
_MARK_PARENTS_DIRTY = text(
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT DISTINCT :source, p FROM unnest(CAST(:parents AS TEXT[])) p"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
)
_ANY_DIRTY = "SELECT EXISTS (SELECT 1 FROM dirty_parents WHERE source_id = $1)"
_INSERT_DIRTY = (
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT DISTINCT $1::text, p FROM unnest($2::text[]) p"
)
_MARK_DELETED_DIRTY = text(
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT DISTINCT :source, sp.parent_id FROM source_products sp"
    " WHERE sp.source_id = :source"
    " AND NOT EXISTS (SELECT 1 FROM upload_staging s WHERE s.product_id = sp.product_id)"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
)
# Only new and changed rows reach the INSERT: an unchanged row is not even locked.
_UPSERT = text(
    "INSERT INTO source_products (source_id, product_id, parent_id, seq, data, hash)"
    " SELECT :source, s.product_id, s.parent_id, s.seq, s.data, s.hash"
    " FROM upload_staging s LEFT JOIN source_products sp"
    "   ON sp.source_id = :source AND sp.product_id = s.product_id"
    " WHERE sp.product_id IS NULL OR sp.hash <> s.hash"
    " ON CONFLICT (source_id, product_id) DO UPDATE SET parent_id = EXCLUDED.parent_id,"
    " seq = EXCLUDED.seq, data = EXCLUDED.data, hash = EXCLUDED.hash, updated_at = now()"
    " WHERE source_products.hash <> EXCLUDED.hash"
)
# Compared in this process, the staging table holds just the new and changed rows (a few
# percent of a daily snapshot): each is looked up by its key, never a scan of the source.
_MARK_STAGED_DIRTY = text(
    "INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT :source, parent_id FROM ("
    "   SELECT s.parent_id FROM upload_staging s"
    "   UNION SELECT (SELECT sp.parent_id FROM source_products sp"
    "     WHERE sp.source_id = :source AND sp.product_id = s.product_id) FROM upload_staging s"
    " ) touched WHERE parent_id IS NOT NULL"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
)
_UPSERT_STAGED = text(
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
# The stored rows a snapshot lacks, by id (compared in this process), and their parents.
_DELETE_IDS = text(
    "WITH gone AS (DELETE FROM source_products WHERE source_id = :source"
    "   AND product_id = ANY(CAST(:ids AS TEXT[])) RETURNING parent_id)"
    " INSERT INTO dirty_parents (source_id, parent_id) SELECT DISTINCT :source, parent_id"
    " FROM gone ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
)
_RECORD = text(
    "INSERT INTO uploads (id, source_id, feed_id, kind, format, status, rows_read, new, changed,"
    " unchanged, deleted, refused, problems, started_at, finished_at)"
    " VALUES (:id, :source, :feed, :kind, :format, :status, :rows_read, :new, :changed,"
    " :unchanged, :deleted, :refused, :problems, :started, now())"
).bindparams(bindparam("problems", type_=JSONB))


async def _known_hashes(driver: Any, source_id: str) -> dict[str, bytes] | None:
    """product_id → hash of the source's stored rows; None beyond KNOWN_HASHES_MAX rows.

    Two arrays in one answer: decoded in C, about five times cheaper than as many records.
    """
    ids, hashes = await driver.fetchrow(_KNOWN, source_id, KNOWN_HASHES_MAX + 1)
    if ids is None:
        return {}
    if len(ids) > KNOWN_HASHES_MAX:
        return None
    return dict(zip(ids, hashes, strict=True))


async def _copy(
    driver: Any,
    table: str,
    chunks: AsyncIterator[bytes],
    parser: Parser,
    encoder: _Encoder,
    columns: tuple[str, ...] = _ROW_COLUMNS,
) -> None:
    """Parse the upload into one streamed COPY; raise what made the upload itself fail."""
    feeder = _Feeder(chunks, parser, encoder)
    try:
        await driver.copy_to_table(table, source=feeder.data(), columns=columns, format="text")
    except asyncpg.UniqueViolationError:
        # Only a COPY into source_products can collide: with a row a product event wrote.
        if feeder.failure is None:
            raise UploadConflict() from None
    if isinstance(feeder.failure, SourceError):
        # The upload as a whole is unreadable (cut-off gzip, no header…): nothing is applied,
        # above all no snapshot deletes the products a truncated file lacks.
        raise UnreadableUpload(str(feeder.failure), encoder.report.rows_read) from None
    if feeder.failure is not None:
        raise feeder.failure


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
    options: SourceOptions | None = None,
) -> UploadReport:
    """Apply one upload to `source_id` (flush only; the entrypoint commits).

    `options` are the source's parser options (`catalog_sync.sources.SourceOptions`).
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    report = UploadReport(upload_id=str(uuid.uuid4()), source_id=source_id, kind=kind, format=fmt)
    parser = open_parser(fmt, options)
    # Without the parser's duplicate check a product_id may come twice: every row is staged
    # and the later row supersedes the earlier one (`_supersede`).
    unique_ids = parser.options.check_duplicates
    conn = await session.connection()
    # The asyncpg adapter opens its transaction lazily: run a statement first so the lock,
    # the staging table and the COPY happen inside the caller's transaction.
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute(_LOCK, source_id)
    await driver.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
    known = await _known_hashes(driver, source_id) if unique_ids else None
    if known is not None and not known:
        await _first_upload(session, driver, report, chunks, parser)
    else:
        await driver.execute(_STAGING_DDL)
        encoder = _Encoder(report, known, None)
        await _copy(driver, "upload_staging", chunks, parser, encoder)
        if not unique_ids:
            await _supersede(driver, encoder)
        await _merge(session, encoder, force, max_delete_share, started)
        await driver.execute("DROP TABLE upload_staging")
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


async def _first_upload(
    session: AsyncSession,
    driver: Any,
    report: UploadReport,
    chunks: AsyncIterator[bytes],
    parser: Parser,
) -> None:
    """A source without rows: COPY into source_products itself, then mark every parent."""
    encoder = _Encoder(report, {}, report.source_id, collect_parents=True)
    await _copy(driver, "source_products", chunks, parser, encoder, ("source_id", *_ROW_COLUMNS))
    report.new = encoder.written
    if not encoder.parents:
        return
    if not await driver.fetchval(_ANY_DIRTY, report.source_id):
        # None marked yet: a plain INSERT, three times cheaper than ON CONFLICT's per-row
        # arbitration. A parent a product event marks meanwhile makes it fail: then the
        # savepoint is rolled back and the upsert below runs.
        with contextlib.suppress(asyncpg.UniqueViolationError):
            async with driver.transaction():
                await driver.execute(_INSERT_DIRTY, report.source_id, encoder.parents)
                return
    await session.execute(
        _MARK_PARENTS_DIRTY, {"source": report.source_id, "parents": encoder.parents}
    )


async def _supersede(driver: Any, encoder: _Encoder) -> None:
    """Drop staged rows a later row of the same product_id replaces; report each as refused."""
    superseded = await driver.fetch(_SUPERSEDE)
    for seq, product_id, later in superseded:
        encoder.refuse(
            Refused(
                seq,
                f"duplicate_product_id: superseded by line {later} (the same product_id)",
                product_id,
            )
        )
    encoder.drain()


async def _merge(
    session: AsyncSession,
    encoder: _Encoder,
    force: bool,
    max_delete_share: float,
    started: float,
) -> None:
    """The staged rows against the stored ones: count, guard, mark dirty, upsert, delete."""
    report = encoder.report
    snapshot = report.kind == "snapshot"
    params = {"source": report.source_id}
    known = encoder.known
    if known is None:  # a large source: PostgreSQL compares every staged row
        counts = (await session.execute(_COUNT, params)).one()
        report.new, report.changed, report.unchanged = counts.new, counts.changed, counts.unchanged
        existing = int((await session.execute(_EXISTING, params)).scalar_one()) if snapshot else 0
    else:
        report.new, report.changed, report.unchanged = (
            encoder.new,
            encoder.changed,
            encoder.unchanged,
        )
        existing = report.changed + report.unchanged + len(known)
    if snapshot:
        report.deleted = existing - report.changed - report.unchanged
        share = report.deleted / existing if existing else 0.0
        if report.deleted and share > max_delete_share and not force:
            report.status = "refused"
            report.duration_s = time.perf_counter() - started
            log.warning(
                "snapshot refused by the mass-deletion guard",
                extra={
                    "source_id": report.source_id,
                    "would_delete": report.deleted,
                    "of": existing,
                },
            )
            raise MassDeletion(report, existing, share, max_delete_share)
        if report.deleted and known is None:
            await session.execute(_MARK_DELETED_DIRTY, params)
    if report.new or report.changed:
        staged_all = known is None
        await session.execute(_MARK_DIRTY if staged_all else _MARK_STAGED_DIRTY, params)
        await session.execute(_UPSERT if staged_all else _UPSERT_STAGED, params)
    if snapshot and report.deleted:
        if known is None:
            await session.execute(_DELETE_ABSENT, params)
        else:
            await session.execute(_DELETE_IDS, {**params, "ids": list(known)})
