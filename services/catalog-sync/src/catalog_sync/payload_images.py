"""Images of the export payload: image URL -> TikTok image `uri` (docs/feeds.md, "Payload").

TikTok's product bodies ("Create Product 202309") name images by the `uri` that "Upload
Product Image 202309" returned, never by URL. Uploading is I/O (download the URL, upload the
bytes) and the payload builder is pure, so a product is built in two steps:

1. `image_requests(rows)` lists the images the product needs, each a URL and a use case
   (`MAIN_IMAGE` for `images` / `main_image`, `ATTRIBUTE_IMAGE` for a sales attribute's
   image);
2. the caller resolves them with its `ImageResolver` (the database-backed one downloads
   each URL, hashes the bytes and uploads once per (URL, content hash, use case),
   remembering the uri), then `payload.build_product(rows, images=resolver)` asks
   `resolver.uri(url, use_case)`, a plain lookup.

A new picture published at the same URL gets a new content hash, hence a new upload and a
new uri, so the product's content hash changes and the delta edits it. `InMemoryImageResolver`
is the test double: the same contract with a fetch callable instead of HTTP and a
dictionary instead of a table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple, Protocol

from catalog_sync import naming as N


class ImageUseCase(StrEnum):
    """`use_case` of "Upload Product Image 202309" for the images a product body holds."""

    MAIN_IMAGE = "MAIN_IMAGE"
    ATTRIBUTE_IMAGE = "ATTRIBUTE_IMAGE"


class ImageRequest(NamedTuple):
    url: str
    use_case: ImageUseCase


class ImageResolver(Protocol):
    """What the payload builder asks for images; the caller resolves them beforehand."""

    def uri(self, url: str, use_case: ImageUseCase) -> str | None:
        """The uri of the uploaded image of `url`, None when there is none (not uploaded,
        the download failed, TikTok refused it): the product then fails to build with an
        error naming the URL."""
        ...


def main_image_urls(main: dict[str, str]) -> tuple[list[str], int]:
    """The main images to send, in order, and how many were left out beyond the 9 allowed.

    `main_image` (when set) comes first, then the `#`-joined `images` without repeats.
    """
    urls: list[str] = []
    seen: set[str] = set()
    first = main.get(N.MAIN_IMAGE, "").strip()
    for url in ([first] if first else []) + N.split_multi(main.get(N.IMAGES, "")):
        if url not in seen:
            seen.add(url)
            urls.append(url)
    return urls[: N.MAX_IMAGES], max(0, len(urls) - N.MAX_IMAGES)


# Stock per warehouse: `sku.quantity.<warehouse id>` (this project's naming; docs/feeds.md,
# "Payload"), next to `sku.quantity` for the feed's warehouse.
SKU_QUANTITY_PREFIX = N.SKU_QUANTITY + "."

_OTHER, _SALES, _SALES_IMAGE, _STOCK = 0, 1, 2, 3
_KINDS: dict[str, int] = {}  # attribute name -> kind; feeds repeat the same few names
_KINDS_MAX = 4096


def _kind(key: str) -> int:
    kind = _KINDS.get(key)
    if kind is None:
        if key.startswith(N.SALES_ATTRIBUTE_PREFIX):
            kind = _SALES
        elif key.startswith(N.SALES_ATTRIBUTE_IMAGE_PREFIX):
            kind = _SALES_IMAGE
        elif key.startswith(SKU_QUANTITY_PREFIX):
            kind = _STOCK
        else:
            kind = _OTHER
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        _KINDS[key] = kind
    return kind


class SkuCells(NamedTuple):
    """The variable-named `sku.*` cells of one variant row, non-empty and trimmed."""

    sales: list[tuple[str, str]]  # (sales attribute name, value), in row order
    images: dict[str, str]  # sales attribute name -> image URL, for names with a value
    stock: list[tuple[str, str]]  # (`sku.quantity.<warehouse id>`, quantity)


def sku_cells(row: dict[str, str]) -> SkuCells:
    """One pass over a variant row (the hot loop of the payload builder)."""
    sales: list[tuple[str, str]] = []
    images: dict[str, str] = {}
    stock: list[tuple[str, str]] = []
    kinds = _KINDS
    for key, cell in row.items():
        kind = kinds.get(key)
        if kind is None:
            kind = _kind(key)
        if not kind or not cell:
            continue
        text = cell.strip()
        if not text:
            continue
        if kind == _SALES:
            sales.append((key[len(N.SALES_ATTRIBUTE_PREFIX) :], text))
        elif kind == _SALES_IMAGE:
            images[key[len(N.SALES_ATTRIBUTE_IMAGE_PREFIX) :]] = text
        else:
            stock.append((key, text))
    names = {name for name, _ in sales}
    pictures = {name: url for name, url in images.items() if name in names}
    fallback = row.get(N.SKU_IMAGE, "").strip()
    if not pictures and fallback and names:
        pictures[min(names)] = fallback
    return SkuCells(sales, pictures, stock)


def sku_image_urls(row: dict[str, str]) -> dict[str, str]:
    """Sales attribute name -> image URL of one variant (`sku.sales_attribute_image.<Name>`,
    else `sku.image` for the first sales attribute by name); only names with a value."""
    return sku_cells(row).images


def image_requests(rows: Sequence[dict[str, str]]) -> list[ImageRequest]:
    """Every image `build_product(rows)` will ask the resolver for, each once, in order."""
    if not rows:
        return []
    urls, _ = main_image_urls(rows[0])
    out = [ImageRequest(url, ImageUseCase.MAIN_IMAGE) for url in urls]
    seen = set(out)
    for row in rows:
        for url in sku_image_urls(row).values():
            request = ImageRequest(url, ImageUseCase.ATTRIBUTE_IMAGE)
            if request not in seen:
                seen.add(request)
                out.append(request)
    return out


def content_hash(content: bytes) -> str:
    """The hash an image upload is keyed by, with its URL and use case."""
    return hashlib.sha256(content).hexdigest()


class InMemoryImageResolver:
    """Test double of the database-backed resolver: same keys, no I/O.

    `prepare(requests)` fetches each URL with `fetch` (default: the URL's own bytes, so a
    URL is one picture), and "uploads" it when its (URL, content hash, use case) is new:
    the upload is recorded in `uploads` and gets a deterministic fake uri. A URL whose
    fetch raises `OSError` stays unresolved, like a broken link.
    """

    def __init__(self, fetch: Callable[[str], bytes] | None = None) -> None:
        self._fetch = fetch or str.encode
        self._current: dict[tuple[str, ImageUseCase], str] = {}
        self._uploaded: dict[tuple[str, str, ImageUseCase], str] = {}
        self.uploads: list[ImageRequest] = []

    def prepare(self, requests: Iterable[ImageRequest]) -> None:
        for request in requests:
            try:
                content = self._fetch(request.url)
            except OSError:
                self._current.pop((request.url, request.use_case), None)
                continue
            key = (request.url, content_hash(content), request.use_case)
            uri = self._uploaded.get(key)
            if uri is None:
                digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:20]
                uri = self._uploaded[key] = f"tos-fake-i/{digest}"
                self.uploads.append(request)
            self._current[(request.url, request.use_case)] = uri

    def uri(self, url: str, use_case: ImageUseCase) -> str | None:
        return self._current.get((url, use_case))
