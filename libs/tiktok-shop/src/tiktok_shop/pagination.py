"""Async iteration over `page_token` paging (brands, products, orders, packages...).

TikTok returns `next_page_token`; an empty or missing one means the last page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
P = TypeVar("P", bound="HasNextPage")


class HasNextPage(Protocol):
    @property
    def next_page_token(self) -> str | None: ...


async def iterate_pages(
    fetch: Callable[[str | None], Awaitable[P]], *, max_pages: int | None = None
) -> AsyncIterator[P]:
    """Yield pages, feeding each page's `next_page_token` into the next fetch."""
    token: str | None = None
    seen: set[str] = set()
    pages = 0
    while True:
        page = await fetch(token)
        yield page
        pages += 1
        token = page.next_page_token or None
        if token is None or (max_pages is not None and pages >= max_pages):
            return
        # A server repeating a cursor would loop forever: stop instead.
        if token in seen:
            return
        seen.add(token)


async def iterate_items(
    fetch: Callable[[str | None], Awaitable[P]],
    items: Callable[[P], Sequence[T]],
    *,
    max_pages: int | None = None,
) -> AsyncIterator[T]:
    """Yield every item of every page."""
    async for page in iterate_pages(fetch, max_pages=max_pages):
        for item in items(page):
            yield item
