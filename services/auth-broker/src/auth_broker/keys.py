"""`rotate-keys`: re-encrypt every stored token under the first (newest) Fernet key.

Rotation procedure: put the new key FIRST in `TTS_TOKEN_ENCRYPTION_KEYS` and keep the
old ones after it; deploy; run `auth-broker rotate-keys`; then drop the old keys.
Each row is re-encrypted under its own row lock, so it is safe while the broker serves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope

from auth_broker import repository as repo
from auth_broker.crypto import TokenCipher, TokenDecryptionError

log = logging.getLogger(__name__)


@dataclass
class RotationReport:
    rotated: int = 0
    failed: list[str] = field(default_factory=list)


async def rotate_one(session: AsyncSession, cipher: TokenCipher, connection_id: str) -> bool:
    """Re-encrypt one connection's tokens under its row lock (flush only); False if gone.

    Raises `TokenDecryptionError` for a row no configured key opens, or one holding a
    ciphertext bound to another connection (decrypt-and-check, not a blind
    `MultiFernet.rotate`, so such a row is reported, never re-blessed).
    """
    conn = await repo.lock_connection(session, connection_id)
    if conn is None:
        return False
    if conn.access_token_enc is not None:
        token = cipher.decrypt(conn.id, "access", conn.access_token_enc)
        conn.access_token_enc = cipher.encrypt(conn.id, "access", token)
    if conn.refresh_token_enc is not None:
        token = cipher.decrypt(conn.id, "refresh", conn.refresh_token_enc)
        conn.refresh_token_enc = cipher.encrypt(conn.id, "refresh", token)
    await session.flush()
    return True


async def rotate_keys(
    sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher
) -> RotationReport:
    """The `rotate-keys` entrypoint: one transaction per connection, committed here."""
    report = RotationReport()
    async with session_scope(sessions) as session:
        ids = await repo.connection_ids_with_tokens(session)
    for connection_id in ids:
        try:
            async with session_scope(sessions) as session:
                rotated = await rotate_one(session, cipher, connection_id)
        except TokenDecryptionError as exc:  # rolled back by session_scope
            log.error(
                "cannot rotate connection tokens",
                extra={"connection_id": connection_id, "error": str(exc)},
            )
            report.failed.append(connection_id)
            continue
        report.rotated += rotated
    return report
