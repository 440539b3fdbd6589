"""The database-backed image resolver of the export (docs/feeds.md, "Images").

TikTok's product bodies name images by the `uri` that "Upload Product Image 202309"
returned. `DbImageResolver` implements the contract of `payload_images.ImageResolver` (the
same one `InMemoryImageResolver` stands in for in unit tests) against the `image_uploads`
table, per connection (a uri belongs to the seller's shop):

1. `await resolver.prepare(image_requests(rows))` resolves every (URL, use case):
   - a row for (connection, URL, use case) checked within `recheck_after` (7 days by
     default): its uri, no download;
   - else the URL is downloaded (http/https only, 10 s in all, at most 3 redirects, refused
     beyond TikTok's 5 MB while streaming, JPG or PNG only) and its bytes hashed: a row with
     that content hash gives its uri (its `checked_at` is renewed), otherwise the bytes are
     uploaded and the new uri is inserted, committed right after the upload;
2. `resolver.uri(url, use_case)` is then a plain lookup for the payload builder.

A URL that cannot be resolved (DNS or connection failure, HTTP 4xx/5xx, too big, not a JPG
or PNG, TikTok refusing the image) stays unresolved: `uri()` answers None, so the product
fails to build naming the URL, and `problems[url]` says why (for the feedback).

Never twice the same upload: requests are de-duplicated within `prepare`, a URL is resolved
under a per-URL lock so products in flight together that share an image wait for one
download and one upload, the outcome is remembered for the resolver's life (one run), and
two processes racing on the same image insert with `ON CONFLICT DO NOTHING` and re-read, so
both use the uri that was stored first.

Transactions are the resolver's own and short: a lookup, a `checked_at` renewal, an insert.
No transaction is open during a download or an upload (I/O outside the database). The
products in flight together share them (`catalog_sync.batching`): their lookups are one
query, their new rows one insert; a URL with no row at all skips the lookup by content hash
(there is none to find). At most `concurrency` downloads go on at once (the merchant's
server); uploads are paced by the TikTok client.

A dry run (`dry_run=True`) downloads (so broken links are reported) but never uploads and
never writes: an image already uploaded resolves to its uri, any other one to the
placeholder `dry-run:<sha256 of the URL>`, so the payload builds and the plan shows what the
real run would do (a create for a new product, an edit when a picture changed).

Errors of the upload that are not about the image (the connection's authorization, rate
limits after the client's retries, TikTok unavailable) are raised from `prepare`, after every
other image of the call has been resolved, for the run to treat as a failed TikTok call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tiktok_shop import InvalidRequestError
from tts_common.db import session_scope

from catalog_sync import netguard
from catalog_sync.batching import Batcher
from catalog_sync.payload_images import ImageRequest, ImageUseCase, content_hash

log = logging.getLogger(__name__)

# "Upload Product Image 202309": JPG or PNG, at most 5 MB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
DOWNLOAD_TIMEOUT = 10.0
MAX_REDIRECTS = 3
DEFAULT_RECHECK_AFTER = timedelta(days=7)
DRY_RUN_PREFIX = "dry-run:"
ACCEPT = "image/jpeg, image/png;q=0.9, image/*;q=0.5"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"

# Freshness is judged by PostgreSQL's clock, as for the taxonomy cache, so replicas agree.
_FRESH = text(
    "SELECT DISTINCT ON (url, use_case) url, use_case, uri,"
    " checked_at >= now() - make_interval(secs => :recheck) AS fresh"
    " FROM image_uploads WHERE connection_id = :connection AND url = ANY(:urls)"
    " ORDER BY url, use_case, checked_at DESC, uploaded_at DESC"
)
_FIND = text(
    "SELECT uri FROM image_uploads WHERE connection_id = :connection AND url = :url"
    " AND use_case = :use_case AND content_hash = :hash"
)
_TOUCH = text(
    "UPDATE image_uploads SET checked_at = now() WHERE connection_id = :connection"
    " AND url = :url AND use_case = :use_case AND content_hash = :hash RETURNING uri"
)
_INSERT = text(
    "INSERT INTO image_uploads (connection_id, url, use_case, content_hash, uri)"
    " SELECT CAST(:connection AS uuid), u.url, u.use_case, u.hash, u.uri"
    " FROM unnest(CAST(:urls AS text[]), CAST(:use_cases AS text[]),"
    " CAST(:hashes AS text[]), CAST(:uris AS text[]))"
    " AS u(url, use_case, hash, uri)"
    " ON CONFLICT (connection_id, url, use_case, content_hash) DO NOTHING"
    " RETURNING url, use_case, content_hash"
)

# (URL, use case) -> (uri of its newest row, checked within the recheck window?)
Known = dict[tuple[str, str], tuple[str, bool]]
# A new upload to store: (URL, use case, content hash, uri).
NewRow = tuple[str, str, str, str]


class UploadedUri(Protocol):
    """What an upload answers (`tiktok_shop.models.products.UploadedImage`)."""

    @property
    def uri(self) -> str: ...


class ImageUploader(Protocol):
    """`tiktok_shop.products.ProductsApi`, as far as images go ("Upload Product Image 202309")."""

    async def upload_image(
        self, content: bytes, *, filename: str = ..., use_case: str = ...
    ) -> UploadedUri: ...


class ImageProblem(Exception):
    """Why a URL cannot be resolved; the message goes to `problems` and the feedback."""


@dataclass(frozen=True)
class Downloaded:
    content: bytes
    hash: str
    extension: str  # "png" / "jpg": the upload's file name, hence its content type


def image_extension(content: bytes) -> str | None:
    """ "png" or "jpg" from the bytes' signature, None for anything TikTok does not take."""
    if content.startswith(PNG_SIGNATURE):
        return "png"
    if content.startswith(JPEG_SOI):
        return "jpg"
    return None


def dry_run_uri(url: str) -> str:
    """The placeholder a dry run gives an image that was never uploaded."""
    return DRY_RUN_PREFIX + hashlib.sha256(url.encode()).hexdigest()


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


@dataclass
class _UrlLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class DbImageResolver:
    """Image URL -> TikTok uri for one connection, remembered in `image_uploads`.

    `connection_id` may be empty only for a dry run of a feed without a connection: nothing
    is then looked up, every image that downloads gets its placeholder. `recheck_after` is a
    `timedelta` or seconds (setting `image_recheck_seconds`).

    One resolver per run (its memory of resolved URLs is the run's; at most `memo_size`
    entries are kept, the oldest forgotten first — they are then looked up again).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        connection_id: str,
        products_api: ImageUploader | None,
        http: httpx.AsyncClient,
        *,
        dry_run: bool = False,
        recheck_after: timedelta | float = DEFAULT_RECHECK_AFTER,
        timeout: float = DOWNLOAD_TIMEOUT,
        concurrency: int = 8,
        memo_size: int = 200_000,
        allow_private_hosts: bool = True,
    ) -> None:
        self._sessions = sessions
        self._allow_private = allow_private_hosts
        self._connection = connection_id
        self._api = products_api
        self._http = http
        self.dry_run = dry_run
        if products_api is None and not dry_run:
            raise ValueError("uploading images needs the connection's products API")
        self._recheck = (
            recheck_after.total_seconds()
            if isinstance(recheck_after, timedelta)
            else float(recheck_after)
        )
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._memo_size = max(1, memo_size)
        self._resolved: dict[tuple[str, ImageUseCase], str | None] = {}
        self._locks: dict[str, _UrlLock] = {}
        self.problems: dict[str, str] = {}
        # cached / reused / uploaded / dry_run / failed, for the run's log.
        self.stats: Counter[str] = Counter()
        self._lookups: Batcher[list[str], Known] = Batcher(self._lookup_many)
        self._inserts: Batcher[NewRow, str] = Batcher(self._insert_many)

    def uri(self, url: str, use_case: ImageUseCase) -> str | None:
        return self._resolved.get((url, use_case))

    async def prepare(self, requests: Iterable[ImageRequest]) -> None:
        """Resolve every request; afterwards `uri()` answers for each of them."""
        by_url: dict[str, list[ImageUseCase]] = {}
        for url, use_case in requests:
            if (url, use_case) in self._resolved:
                continue
            use_cases = by_url.setdefault(url, [])
            if use_case not in use_cases:
                use_cases.append(use_case)
        if not by_url:
            return
        known = await self._known(list(by_url))
        if len(by_url) == 1:  # the usual product: one picture, no task of its own
            ((url, use_cases),) = by_url.items()
            await self._resolve(url, use_cases, known)
            return
        results = await asyncio.gather(
            *(self._resolve(url, use_cases, known) for url, use_cases in by_url.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # --- steps ----------------------------------------------------------------------------

    async def _known(self, urls: list[str]) -> Known:
        """(URL, use case) -> (uri, fresh) of the newest row of each stored one."""
        if not self._connection:
            return {}
        return await self._lookups.submit(urls)

    async def _lookup_many(self, batches: list[list[str]]) -> list[Known]:
        """Several products' lookups in one query, answered per product."""
        urls = sorted({url for batch in batches for url in batch})
        async with session_scope(self._sessions) as session:
            rows = await session.execute(
                _FRESH, {"connection": self._connection, "urls": urls, "recheck": self._recheck}
            )
            found: dict[str, Known] = {}
            for r in rows:
                found.setdefault(r.url, {})[(r.url, r.use_case)] = (r.uri, bool(r.fresh))
        return [{k: v for url in batch for k, v in found.get(url, {}).items()} for batch in batches]

    async def _resolve(self, url: str, use_cases: list[ImageUseCase], known: Known) -> None:
        async with self._url_lock(url):
            todo: list[ImageUseCase] = []
            for use_case in use_cases:
                if (url, use_case) in self._resolved:
                    continue  # another product in flight resolved it meanwhile
                uri, fresh = known.get((url, use_case.value), ("", False))
                if fresh:
                    self.stats["cached"] += 1
                    self._remember(url, use_case, uri)
                else:
                    todo.append(use_case)
            if not todo:
                return
            async with self._slots:  # downloads only: the merchant's server
                try:
                    image = await self._download(url)
                except ImageProblem as problem:
                    self._fail(url, todo, str(problem))
                    return
            for use_case in todo:
                try:
                    uri = await self._store(url, use_case, image, (url, use_case.value) in known)
                except ImageProblem as problem:
                    self._fail(url, [use_case], str(problem))
                else:
                    self._remember(url, use_case, uri)

    async def _store(
        self, url: str, use_case: ImageUseCase, image: Downloaded, stored_before: bool = True
    ) -> str:
        """The uri of these bytes for (URL, use case): stored, else uploaded and stored.
        `stored_before`: the lookup found a row of (URL, use case), maybe of these bytes."""
        key = {
            "connection": self._connection,
            "url": url,
            "use_case": use_case.value,
            "hash": image.hash,
        }
        known = None
        if self._connection and stored_before:
            async with session_scope(self._sessions) as session:
                known = await session.scalar(_FIND if self.dry_run else _TOUCH, key)
        if known is not None:
            self.stats["reused"] += 1
            return str(known)
        if self.dry_run or self._api is None:
            self.stats["dry_run"] += 1
            return dry_run_uri(url)
        try:
            uploaded = await self._api.upload_image(
                image.content,
                filename=f"{image.hash[:16]}.{image.extension}",
                use_case=use_case.value,
            )
        except InvalidRequestError as exc:  # includes ValidationError: about this image
            raise ImageProblem(f"TikTok refused the image: {exc}") from None
        self.stats["uploaded"] += 1
        return await self._inserts.submit((url, use_case.value, image.hash, uploaded.uri))

    async def _insert_many(self, new: list[NewRow]) -> list[str]:
        """Store several uploads in one statement; the uri each URL now has (another
        process's, when it stored the same image first)."""
        async with session_scope(self._sessions) as session:
            inserted = {
                (r.url, r.use_case, r.content_hash)
                for r in await session.execute(
                    _INSERT,
                    {
                        "connection": self._connection,
                        "urls": [n[0] for n in new],
                        "use_cases": [n[1] for n in new],
                        "hashes": [n[2] for n in new],
                        "uris": [n[3] for n in new],
                    },
                )
            }
            out: list[str] = []
            for url, use_case, hash_, uri in new:
                if (url, use_case, hash_) not in inserted:  # another process stored it first
                    key = {"connection": self._connection, "url": url, "use_case": use_case}
                    stored = await session.scalar(_TOUCH, {**key, "hash": hash_})
                    uri = str(stored) if stored is not None else uri
                out.append(uri)
        return out

    async def _download(self, url: str) -> Downloaded:
        try:
            async with asyncio.timeout(self._timeout):
                content = await self._fetch(url)
        except TimeoutError:
            raise ImageProblem(f"the download took longer than {self._timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ImageProblem(f"the download failed: {_describe(exc)}") from None
        extension = image_extension(content)
        if extension is None:
            raise ImageProblem("not a JPG or PNG image (TikTok takes JPG and PNG)")
        return Downloaded(content, content_hash(content), extension)

    async def _fetch(self, url: str) -> bytes:
        """The body of `url`, following at most `MAX_REDIRECTS` http(s) redirects."""
        target = httpx.URL(url)
        if target.scheme not in ("http", "https"):  # also keeps a client's base_url out of it
            raise ImageProblem("only http and https image URLs can be downloaded")
        request = self._http.build_request(
            "GET", target, headers={"Accept": ACCEPT}, timeout=self._timeout
        )
        for _ in range(MAX_REDIRECTS + 1):
            if request.url.scheme not in ("http", "https"):
                raise ImageProblem("only http and https image URLs can be downloaded")
            # Every hop, redirects included: never a request into our own network
            # (catalog_sync.netguard).
            refused = await netguard.refusal(request.url, self._allow_private)
            if refused is not None:
                raise ImageProblem(refused)
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is not None:
                    request = response.next_request
                    continue
                return await self._body(response)
            finally:
                await response.aclose()
        raise ImageProblem(f"more than {MAX_REDIRECTS} redirects")

    async def _body(self, response: httpx.Response) -> bytes:
        if response.status_code >= 300:
            raise ImageProblem(f"the image URL answered HTTP {response.status_code}")
        too_big = ImageProblem(f"the image is larger than {MAX_IMAGE_BYTES // 2**20} MB")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
            raise too_big
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_IMAGE_BYTES:
                raise too_big
        if not body:
            raise ImageProblem("the image URL answered an empty body")
        return bytes(body)

    # --- memory ---------------------------------------------------------------------------

    def _remember(self, url: str, use_case: ImageUseCase, uri: str | None) -> None:
        self._resolved[(url, use_case)] = uri
        if len(self._resolved) > self._memo_size:
            del self._resolved[next(iter(self._resolved))]
        if len(self.problems) > self._memo_size:
            del self.problems[next(iter(self.problems))]

    def _fail(self, url: str, use_cases: list[ImageUseCase], reason: str) -> None:
        log.debug("image %s unresolved: %s", url, reason)
        self.stats["failed"] += len(use_cases)
        self.problems[url] = reason
        for use_case in use_cases:
            self._remember(url, use_case, None)

    @asynccontextmanager
    async def _url_lock(self, url: str) -> AsyncIterator[None]:
        entry = self._locks.get(url)
        if entry is None:
            entry = self._locks[url] = _UrlLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[url]
