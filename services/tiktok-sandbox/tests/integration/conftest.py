"""Fixtures shared by the sandbox's HTTP tests.

`sb` is a plain sandbox for the whole module; a module that needs other settings (or a
stand-in catalogue) defines its own `sb`, and `us`/`uk` then sign against that one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def us(sb: RunningSandbox) -> SignedClient:
    """A signed client for the US shop, authorized once per module."""
    return sb.client("US")


@pytest.fixture(scope="module")
def uk(sb: RunningSandbox) -> SignedClient:
    """A signed client for the UK shop, authorized once per module."""
    return sb.client("UK")
