"""Token encryption at rest: MultiFernet with the ciphertext bound to (connection, kind).

Fernet has no associated data, so the binding lives inside the encrypted payload:
`{"v": 1, "c": <connection id>, "k": <token kind>, "t": <token>}`. Decryption checks
that the payload names the row and column it was read from, so a ciphertext copied
to another connection (or from the refresh to the access column) is refused instead
of silently handing one seller's token to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

TokenKind = Literal["access", "refresh"]
_VERSION = 1


class TokenDecryptionError(Exception):
    """A stored ciphertext cannot be decrypted with any key, or is bound to another row."""


class TokenCipher:
    """Encrypts tokens with the first key; decrypts with any key (rotation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, connection_id: str, kind: TokenKind, token: str) -> str:
        payload = orjson.dumps({"v": _VERSION, "c": connection_id, "k": kind, "t": token})
        return self._fernet.encrypt(payload).decode("ascii")

    def decrypt(self, connection_id: str, kind: TokenKind, ciphertext: str) -> str:
        try:
            raw = self._fernet.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise TokenDecryptionError(
                f"{kind} token of connection {connection_id} cannot be decrypted with the configured keys"
            ) from None
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TokenDecryptionError(
                f"{kind} token of connection {connection_id} is malformed"
            ) from None
        if (
            not isinstance(payload, dict)
            or payload.get("v") != _VERSION
            or payload.get("c") != connection_id
            or payload.get("k") != kind
            or not isinstance(payload.get("t"), str)
        ):
            raise TokenDecryptionError(
                f"{kind} token stored on connection {connection_id} is bound to another connection or kind"
            )
        token: str = payload["t"]
        return token

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the current primary key (the binding inside is unchanged)."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise TokenDecryptionError(
                "ciphertext cannot be decrypted with the configured keys"
            ) from None
