"""The database-backed image resolver on real PostgreSQL (catalog-sync's migrations) against a
real local HTTP server serving real PNG/JPEG bytes; uploads go to a counting fake of the
products API, and, in the last tests, to the real sandbox's "Upload Product Image 202309"."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from catalog_sync.app import NAME
from catalog_sync.cli import MIGRATIONS
from catalog_sync.images import (
    MAX_IMAGE_BYTES,
    DbImageResolver,
    dry_run_uri,
    image_extension,
)
from catalog_sync.payload_images import ImageRequest, ImageUseCase, content_hash, image_requests
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import (
    AccessToken,
    ClientConfig,
    ServerError,
    ShopClient,
    StaticTokenProvider,
    TikTokShopClient,
    ValidationError,
)
from tiktok_shop.config import RetryConfig
from tiktok_shop.models.products import UploadedImage
from tts_common.db import create_engine, session_factory
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

MAIN = ImageUseCase.MAIN_IMAGE
ATTR = ImageUseCase.ATTRIBUTE_IMAGE


# --- real images ---------------------------------------------------------------------------


def png(rgb: tuple[int, int, int] = (255, 0, 0), size: int = 2) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(comment: bytes = b"tts") -> bytes:
    """A valid baseline JPEG: one 8x8 grey block (DC 0, then end of block), a comment to vary
    the bytes. Huffman tables with one 1-bit code each; the scan is the bits `00` padded."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15)
    return (
        b"\xff\xd8"
        + segment(0xFE, comment)
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01" + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code + b"\x00")
        + segment(0xC4, b"\x10" + one_code + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"
        + b"\xff\xd9"
    )


# --- a real HTTP server --------------------------------------------------------------------


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # stream 64 KB chunks until the client hangs up


class ImageServer:
    """HTTP/1.1 on 127.0.0.1 (ephemeral port), one request per connection; counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.endless_finished = False
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> ImageServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **kw: Any) -> str:
        self.routes[path] = Route(body=body, **kw)
        return self.url(path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            self.hits[path] += 1
            route = self.routes.get(path, Route(404, b"not found"))
            headers = {"Connection": "close", **route.headers}
            if not route.endless:
                headers.setdefault("Content-Length", str(len(route.body)))
            status = f"HTTP/1.1 {route.status} X\r\n"
            writer.write(
                (status + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            )
            if route.endless:
                chunk = b"\x89PNG\r\n\x1a\n" + b"\x00" * (64 * 1024 - 8)
                while True:  # ends when the client closes the connection
                    writer.write(chunk)
                    await writer.drain()
            writer.write(route.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class FakeProducts:
    """Counts uploads; answers a new uri per upload, as TikTok does."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.uploads: list[tuple[str, str, bytes]] = []  # (use case, filename, content)
        self.fail = fail
        self.started = 0
        self.barrier: asyncio.Barrier | None = None  # uploads wait for one another there

    async def upload_image(
        self, content: bytes, *, filename: str = "image.jpg", use_case: str = "MAIN_IMAGE"
    ) -> UploadedImage:
        self.started += 1
        if self.barrier is not None:
            await self.barrier.wait()
        if self.fail is not None:
            raise self.fail
        self.uploads.append((use_case, filename, content))
        return UploadedImage(uri=f"tos-test/{uuid.uuid4().hex}", use_case=use_case)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def sessions(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    engine = create_engine(fresh_database)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def server() -> AsyncIterator[ImageServer]:
    async with ImageServer() as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def connection() -> str:
    return str(uuid.uuid4())


async def rows_of(sessions: async_sessionmaker[AsyncSession], connection: str) -> list[Any]:
    async with sessions() as s:
        result = await s.execute(
            text(
                "SELECT url, use_case, content_hash, uri, checked_at FROM image_uploads"
                " WHERE connection_id = :c ORDER BY uploaded_at, uri"
            ),
            {"c": connection},
        )
        return list(result)


async def age_rows(sessions: async_sessionmaker[AsyncSession], days: int) -> None:
    async with sessions() as s:
        await s.execute(
            text("UPDATE image_uploads SET checked_at = checked_at - make_interval(days => :d)"),
            {"d": days},
        )
        await s.commit()


# --- pure helpers --------------------------------------------------------------------------


def test_image_extension_and_placeholder() -> None:
    assert image_extension(png()) == "png"
    assert image_extension(jpeg()) == "jpg"
    assert image_extension(b"GIF89a...") is None
    assert image_extension(b"<html>") is None
    assert dry_run_uri("https://x/a.png") == dry_run_uri("https://x/a.png")
    assert dry_run_uri("https://x/a.png").startswith("dry-run:")
    assert dry_run_uri("https://x/a.png") != dry_run_uri("https://x/b.png")


# --- the resolver --------------------------------------------------------------------------


async def test_a_url_shared_by_products_is_downloaded_and_uploaded_once(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    shared = server.serve("/shared.png", png())
    own = server.serve("/own.jpg", jpeg(), headers={"Content-Type": "image/jpeg"})
    red = server.serve("/red.png", png((200, 0, 0)))
    product_a = [
        {"parent_id": "A", "images": f"{shared}#{own}", "sku.sales_attribute.Colour": "Red"},
        {"parent_id": "A", "sku.sales_attribute.Colour": "Red", "sku.image": red},
    ]
    product_b = [{"parent_id": "B", "images": f"{shared}#{shared}"}]
    api = FakeProducts()
    resolver = DbImageResolver(sessions, connection, api, http, dry_run=False)

    # Two products in flight at once, sharing an image.
    await asyncio.gather(
        resolver.prepare(image_requests(product_a)), resolver.prepare(image_requests(product_b))
    )

    assert server.hits == {"/shared.png": 1, "/own.jpg": 1, "/red.png": 1}
    assert sorted((u, f.rsplit(".", 1)[1]) for u, f, _ in api.uploads) == [
        ("ATTRIBUTE_IMAGE", "png"),
        ("MAIN_IMAGE", "jpg"),
        ("MAIN_IMAGE", "png"),
    ]
    shared_uri = resolver.uri(shared, MAIN)
    assert shared_uri is not None and shared_uri.startswith("tos-test/")
    assert resolver.uri(red, ATTR) is not None and resolver.uri(red, MAIN) is None
    assert resolver.problems == {}
    stored = {(r.url, r.use_case): r for r in await rows_of(sessions, connection)}
    assert set(stored) == {(shared, "MAIN_IMAGE"), (own, "MAIN_IMAGE"), (red, "ATTRIBUTE_IMAGE")}
    assert stored[(shared, "MAIN_IMAGE")].uri == shared_uri
    assert stored[(own, "MAIN_IMAGE")].content_hash == content_hash(jpeg())

    # Later products of the same run: remembered, no download.
    await resolver.prepare(image_requests(product_b))
    assert server.hits["/shared.png"] == 1

    # The next run: the stored uri, no download, no upload.
    again = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await again.prepare(image_requests(product_a) + image_requests(product_b))
    assert again.uri(shared, MAIN) == shared_uri
    assert sum(server.hits.values()) == 3 and len(api.uploads) == 3
    assert again.stats["cached"] == 3

    # Another connection (another shop) uploads its own copy.
    other = DbImageResolver(sessions, str(uuid.uuid4()), api, http, dry_run=False)
    await other.prepare([ImageRequest(shared, MAIN)])
    assert len(api.uploads) == 4 and other.uri(shared, MAIN) != shared_uri


async def test_new_content_at_the_same_url_is_a_new_upload_and_old_content_comes_back(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    url = server.serve("/mug.png", png((0, 0, 255)))
    api = FakeProducts()
    first = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await first.prepare([ImageRequest(url, MAIN)])
    old_uri = first.uri(url, MAIN)

    server.serve("/mug.png", png((0, 255, 0)))  # the merchant replaced the picture
    second = DbImageResolver(sessions, connection, api, http, dry_run=False, recheck_after=0)
    await second.prepare([ImageRequest(url, MAIN)])
    new_uri = second.uri(url, MAIN)
    assert new_uri is not None and new_uri != old_uri
    assert [c for _, _, c in api.uploads] == [png((0, 0, 255)), png((0, 255, 0))]
    assert len(await rows_of(sessions, connection)) == 2

    # The newest checked content is the one a run within the window uses.
    third = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await third.prepare([ImageRequest(url, MAIN)])
    assert third.uri(url, MAIN) == new_uri and server.hits["/mug.png"] == 2

    # The old picture again: its stored uri, renewed, no upload.
    server.serve("/mug.png", png((0, 0, 255)))
    fourth = DbImageResolver(sessions, connection, api, http, dry_run=False, recheck_after=0)
    await fourth.prepare([ImageRequest(url, MAIN)])
    assert fourth.uri(url, MAIN) == old_uri and len(api.uploads) == 2
    assert fourth.stats["reused"] == 1
    fifth = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await fifth.prepare([ImageRequest(url, MAIN)])
    assert fifth.uri(url, MAIN) == old_uri and server.hits["/mug.png"] == 3


async def test_recheck_window(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    url = server.serve("/tea.jpg", jpeg(b"tea"))
    api = FakeProducts()
    await DbImageResolver(sessions, connection, api, http, dry_run=False).prepare(
        [ImageRequest(url, MAIN)]
    )
    await age_rows(sessions, 6)
    within = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await within.prepare([ImageRequest(url, MAIN)])
    assert server.hits["/tea.jpg"] == 1  # 6 days old, the window is 7: not downloaded

    await age_rows(sessions, 2)  # 8 days: checked again
    (before,) = await rows_of(sessions, connection)
    past = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await past.prepare([ImageRequest(url, MAIN)])
    assert server.hits["/tea.jpg"] == 2 and len(api.uploads) == 1
    assert past.uri(url, MAIN) == within.uri(url, MAIN) == before.uri
    (after,) = await rows_of(sessions, connection)
    assert after.checked_at > before.checked_at  # renewed: fresh for the next 7 days

    renewed = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await renewed.prepare([ImageRequest(url, MAIN)])
    assert server.hits["/tea.jpg"] == 2

    # A shorter window (the setting, in seconds) downloads sooner.
    await age_rows(sessions, 1)
    short = DbImageResolver(
        sessions, connection, api, http, dry_run=False, recheck_after=timedelta(hours=12)
    )
    await short.prepare([ImageRequest(url, MAIN)])
    assert server.hits["/tea.jpg"] == 3 and len(api.uploads) == 1


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_broken_links_stay_unresolved_with_a_reason(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    good = server.serve("/good.png", png())
    server.routes["/gone.png"] = Route(404, b"gone")
    server.routes["/error.png"] = Route(503, b"busy")
    server.routes["/huge.png"] = Route(endless=True)
    declared = server.serve(
        "/declared.png", png(), headers={"Content-Length": str(MAX_IMAGE_BYTES + 1)}
    )
    page = server.serve(
        "/page.png", b"<html>not an image</html>", headers={"Content-Type": "text/html"}
    )
    gif = server.serve("/anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    empty = server.serve("/empty.png", b"")
    # Three redirects are followed, a fourth is not.
    for i in range(1, 5):
        server.routes[f"/hop{i}"] = Route(302, headers={"Location": f"/hop{i + 1}"})
    server.routes["/hop5"] = Route(body=png((1, 2, 3)))
    broken = {
        server.url("/gone.png"): "HTTP 404",
        server.url("/error.png"): "HTTP 503",
        server.url("/huge.png"): "larger than 5 MB",
        declared: "larger than 5 MB",
        page: "not a JPG or PNG",
        gif: "not a JPG or PNG",
        empty: "empty body",
        server.url("/hop1"): "more than 3 redirects",
        f"http://127.0.0.1:{closed_port()}/x.png": "ConnectError",
        "http://images.example.invalid/x.png": "does not resolve",
        "ftp://127.0.0.1/x.png": "only http and https",
        "/relative.png": "only http and https",
    }
    api = FakeProducts()
    resolver = DbImageResolver(sessions, connection, api, http, dry_run=False)
    requests = [ImageRequest(good, MAIN), ImageRequest(server.url("/hop2"), MAIN)]
    requests += [ImageRequest(url, MAIN) for url in broken]
    await resolver.prepare(requests)

    assert resolver.uri(good, MAIN) is not None
    assert resolver.uri(server.url("/hop2"), MAIN) is not None  # hop2 -> 3 -> 4 -> 5
    assert server.hits["/hop5"] == 1
    for url, reason in broken.items():
        assert resolver.uri(url, MAIN) is None, url
        assert reason in resolver.problems[url], (url, resolver.problems[url])
    assert set(resolver.problems) == set(broken)
    assert [c for _, _, c in api.uploads] == [png(), png((1, 2, 3))]
    assert len(await rows_of(sessions, connection)) == 2

    # Remembered for the run: a second product with the broken link does not download again.
    await resolver.prepare([ImageRequest(server.url("/gone.png"), MAIN)])
    assert server.hits["/gone.png"] == 1


async def test_image_urls_into_our_own_network_are_refused(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    """A catalogue's picture URL must not make catalog-sync fetch from inside (SSRF): the
    metadata service always, a redirect to it too, and loopback/private hosts when the
    deployment says so (TTS_IMAGE_ALLOW_PRIVATE_HOSTS=false)."""
    local = server.serve("/local.png", png())
    server.routes["/to-metadata"] = Route(
        302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    api = FakeProducts()
    lenient = DbImageResolver(sessions, connection, api, http, dry_run=False)
    metadata = "http://169.254.169.254/latest/meta-data/iam/x.png"
    await lenient.prepare(
        [ImageRequest(u, MAIN) for u in (local, metadata, server.url("/to-metadata"))]
    )
    assert lenient.uri(local, MAIN) is not None
    for url in (metadata, server.url("/to-metadata")):
        assert lenient.uri(url, MAIN) is None
        assert "metadata" in lenient.problems[url], lenient.problems[url]

    strict = DbImageResolver(
        sessions, str(uuid.uuid4()), api, http, dry_run=False, allow_private_hosts=False
    )
    other = server.serve("/other.png", png((9, 9, 9)))
    await strict.prepare([ImageRequest(other, MAIN)])
    assert strict.uri(other, MAIN) is None
    assert "loopback or private" in strict.problems[other]
    assert server.hits.get("/other.png", 0) == 0  # refused before any request was sent
    assert server.hits.get("/to-metadata", 0) == 1


async def test_tiktok_refusing_an_image_is_a_problem_other_errors_are_raised(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    url = server.serve("/a.png", png())
    refused = FakeProducts(ValidationError("The image is invalid.", code=12052300))
    resolver = DbImageResolver(sessions, connection, refused, http, dry_run=False)
    await resolver.prepare([ImageRequest(url, MAIN)])
    assert resolver.uri(url, MAIN) is None
    assert "TikTok refused the image: [12052300] The image is invalid." == resolver.problems[url]

    other = server.serve("/b.png", png((9, 9, 9)))
    down = FakeProducts(ServerError("Internal error.", code=36009003))
    failing = DbImageResolver(sessions, connection, down, http, dry_run=False)
    with pytest.raises(ServerError):
        await failing.prepare([ImageRequest(url, MAIN), ImageRequest(other, MAIN)])
    assert down.started == 2  # every image was tried before the error was raised
    assert await rows_of(sessions, connection) == []


async def test_two_processes_uploading_the_same_image_keep_one_uri(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    url = server.serve("/race.png", png((5, 5, 5)))
    api_1, api_2 = FakeProducts(), FakeProducts()
    # Both found nothing stored and upload; neither stores its uri before the other uploaded.
    api_1.barrier = api_2.barrier = asyncio.Barrier(2)
    one = DbImageResolver(sessions, connection, api_1, http, dry_run=False)
    two = DbImageResolver(sessions, connection, api_2, http, dry_run=False)
    await asyncio.gather(*(r.prepare([ImageRequest(url, MAIN)]) for r in (one, two)))
    assert len(api_1.uploads) == len(api_2.uploads) == 1
    (row,) = await rows_of(sessions, connection)
    assert one.uri(url, MAIN) == two.uri(url, MAIN) == row.uri


async def test_dry_run_uploads_nothing(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
) -> None:
    url = server.serve("/chair.png", png((7, 7, 7)))
    gone = server.url("/gone.png")
    api = FakeProducts()
    dry = DbImageResolver(sessions, connection, api, http, dry_run=True)
    await dry.prepare([ImageRequest(url, MAIN), ImageRequest(url, ATTR), ImageRequest(gone, MAIN)])
    assert dry.uri(url, MAIN) == dry.uri(url, ATTR) == dry_run_uri(url)
    assert dry.uri(gone, MAIN) is None and "HTTP 404" in dry.problems[gone]
    assert api.uploads == [] and api.started == 0
    assert await rows_of(sessions, connection) == []

    real = DbImageResolver(sessions, connection, api, http, dry_run=False)
    await real.prepare([ImageRequest(url, MAIN)])
    uploaded = real.uri(url, MAIN)
    (before,) = await rows_of(sessions, connection)

    # Uploaded before: the dry run uses the real uri; it writes nothing, not even checked_at.
    await age_rows(sessions, 30)
    (aged,) = await rows_of(sessions, connection)
    dry = DbImageResolver(sessions, connection, api, http, dry_run=True)
    await dry.prepare([ImageRequest(url, MAIN), ImageRequest(url, ATTR)])
    assert dry.uri(url, MAIN) == uploaded and dry.uri(url, ATTR) == dry_run_uri(url)
    assert await rows_of(sessions, connection) == [aged] and aged.checked_at < before.checked_at

    # A changed picture: the real run would upload it, the dry run shows the placeholder.
    server.serve("/chair.png", png((8, 8, 8)))
    dry = DbImageResolver(sessions, connection, api, http, dry_run=True, recheck_after=0)
    await dry.prepare([ImageRequest(url, MAIN)])
    assert dry.uri(url, MAIN) == dry_run_uri(url)
    assert len(api.uploads) == 1 and len(await rows_of(sessions, connection)) == 1

    # A dry run of a feed without a connection: nothing to look up, placeholders.
    unconnected = DbImageResolver(sessions, "", None, http, dry_run=True)
    await unconnected.prepare([ImageRequest(url, MAIN)])
    assert unconnected.uri(url, MAIN) == dry_run_uri(url)
    with pytest.raises(ValueError):
        DbImageResolver(sessions, connection, None, http, dry_run=False)


# --- against the sandbox's Upload Product Image --------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as sb:
        yield sb


@pytest.fixture
async def us_shop(sandbox: RunningSandbox) -> AsyncIterator[ShopClient]:
    """A client configured as for the real hosts (only the base URLs differ), with a token
    from the sandbox's OAuth flow and the shop's cipher."""
    config = ClientConfig(
        app_key=sandbox.settings.app_key,
        app_secret=SecretStr(sandbox.settings.app_secret),
        service_id=sandbox.settings.service_id,
        open_api_base_url=sandbox.base_url,
        auth_base_url=sandbox.base_url,
        us_authorize_base_url=sandbox.base_url,
        global_authorize_base_url=sandbox.base_url,
        retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05),
    )
    tokens = StaticTokenProvider({})
    client = TikTokShopClient(config, tokens)
    try:
        code = sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"]
        grant = await client.oauth.get_token(code["code"])
        tokens.set("conn-US", AccessToken(grant.access_token, grant.access_token_expire_in))
        shops = await client.shop("conn-US").authorization.get_authorized_shops()
        ciphers = {s.id: s.cipher for s in shops.shops}
        tokens.set(
            "conn-US", AccessToken(grant.access_token, grant.access_token_expire_in, ciphers)
        )
        yield client.shop("conn-US", sandbox.shop_id("US"))
    finally:
        await client.aclose()


async def test_uploads_through_the_sandbox(
    sessions: async_sessionmaker[AsyncSession],
    server: ImageServer,
    http: httpx.AsyncClient,
    connection: str,
    sandbox: RunningSandbox,
    us_shop: ShopClient,
) -> None:
    photo = server.serve("/photo.jpg", jpeg(b"photo"))
    swatch = server.serve("/swatch.png", png((10, 20, 30), size=4))
    # PNG's signature without its header: passes our check, TikTok refuses it.
    truncated = server.serve("/truncated.png", b"\x89PNG\r\n\x1a\n")
    resolver = DbImageResolver(sessions, connection, us_shop.products, http, dry_run=False)
    await resolver.prepare(
        [ImageRequest(photo, MAIN), ImageRequest(swatch, ATTR), ImageRequest(truncated, MAIN)]
    )

    stored = sandbox.state.products.images
    photo_uri, swatch_uri = resolver.uri(photo, MAIN), resolver.uri(swatch, ATTR)
    assert photo_uri in stored and swatch_uri in stored
    assert stored[photo_uri]["content"] == jpeg(b"photo")
    assert (stored[photo_uri]["format"], stored[photo_uri]["width"]) == ("jpeg", 8)
    assert stored[swatch_uri]["use_case"] == "ATTRIBUTE_IMAGE"
    assert (stored[swatch_uri]["format"], stored[swatch_uri]["height"]) == ("png", 4)
    assert resolver.uri(truncated, MAIN) is None
    assert resolver.problems[truncated].startswith("TikTok refused the image: [12052300]")
    assert {r.uri for r in await rows_of(sessions, connection)} == {photo_uri, swatch_uri}

    count = len(stored)
    again = DbImageResolver(sessions, connection, us_shop.products, http, dry_run=False)
    await again.prepare([ImageRequest(photo, MAIN), ImageRequest(swatch, ATTR)])
    assert again.uri(photo, MAIN) == photo_uri and len(stored) == count
