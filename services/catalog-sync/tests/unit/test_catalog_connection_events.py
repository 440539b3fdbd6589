"""connection-changed events naming an id that is not an auth-broker connection (a UUID)."""

from __future__ import annotations

from typing import Any, cast

from catalog_sync import workers
from tts_common.events import ConnectionAuthorized, ConnectionRevoked


class NoDatabase:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError("the database was used")


async def test_an_id_that_is_not_a_uuid_names_no_feed() -> None:
    session = cast(Any, NoDatabase())
    await workers.on_connection_lost(
        session, ConnectionRevoked(connection_id="c0-1234", market="UK", reason="test")
    )
    await workers.on_connection_authorized(
        session, ConnectionAuthorized(connection_id="not-a-uuid", market="US")
    )
