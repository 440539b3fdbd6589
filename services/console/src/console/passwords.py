"""Console users' passwords: scrypt hashes only, never the password (`console hash-password`).

An entry is `name:scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`; entries are comma-separated in
`TTS_CONSOLE_USERS`. A password check always runs one scrypt (also for an unknown name), so
timing tells nobody which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
N, R, P = 2**14, 8, 1


@dataclass(frozen=True)
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def render(self) -> str:
        b64 = base64.b64encode
        return f"scrypt${self.n}${self.r}${self.p}${b64(self.salt).decode()}${b64(self.digest).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024**2, dklen=32
    )


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    return PasswordHash(N, R, P, salt, _scrypt(password, salt, N, R, P)).render()


def parse_hash(text: str) -> PasswordHash:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$<n>$<r>$<p>$<salt>$<hash> (console hash-password)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        raise ValueError(
            "expected scrypt$<n>$<r>$<p>$<salt>$<hash> (console hash-password)"
        ) from None
    if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16 and len(digest) == 32):
        raise ValueError("scrypt parameters out of range")
    return PasswordHash(n, r, p, salt, digest)


def parse_users(text: str) -> dict[str, PasswordHash]:
    """`name:hash,...` -> {name: hash}; a ValueError names the entry (by position, not content)."""
    users: dict[str, PasswordHash] = {}
    for i, entry in enumerate(e.strip() for e in text.split(",") if e.strip()):
        name, sep, hashed = entry.partition(":")
        if not sep or not _NAME.match(name):
            raise ValueError(f"entry {i + 1}: expected name:scrypt$... (console hash-password)")
        try:
            users[name] = parse_hash(hashed)
        except ValueError as exc:
            raise ValueError(f"entry {i + 1} ({name}): {exc}") from None
    return users


_DUMMY = PasswordHash(N, R, P, b"\0" * 16, b"\0" * 32)


def check_password(users: dict[str, PasswordHash], name: str, password: str) -> bool:
    """True when `name` is a user and `password` is theirs; one scrypt either way."""
    stored = users.get(name, _DUMMY)
    computed = _scrypt(password, stored.salt, stored.n, stored.r, stored.p)
    return hmac.compare_digest(computed, stored.digest) and name in users
