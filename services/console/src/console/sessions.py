"""Stateless sessions: an HMAC-signed cookie, and CSRF tokens derived from it.

Nothing is stored on the server per session or per sign-in attempt, so nothing an
unauthenticated caller sends grows the console's state. The cookie holds the user's name,
how they signed in, a random nonce and the expiry — never a key or a password. A CSRF token
is an HMAC of the nonce: valid for that session only, checked on every form post (and every
htmx request, which sends it as `X-CSRF-Token`). Before sign-in, a short-lived signed
"pre-session" cookie carries the nonce that the sign-in form's token is bound to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "tts_console"
PRE_COOKIE = "tts_console_pre"
PRE_MAX_AGE = 1800


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    user: str
    kind: str  # "admin" (the auth-broker's admin key) or "user" (TTS_CONSOLE_USERS)
    nonce: str
    expires: int


class Signer:
    """Signs and verifies the console's cookies and CSRF tokens with one secret."""

    def __init__(self, secret: bytes, max_age: int) -> None:
        self._key = hashlib.sha256(b"tts-console-session\0" + secret).digest()
        self.max_age = max_age

    def _mac(self, purpose: str, payload: str) -> str:
        msg = f"{purpose}\0{payload}".encode()
        return _b64(hmac.new(self._key, msg, hashlib.sha256).digest())

    def _seal(self, purpose: str, data: dict[str, object]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(purpose, payload)}"

    def _open(self, purpose: str, value: str | None, now: float) -> dict[str, object] | None:
        if not value or len(value) > 2048 or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("e"), int) or data["e"] < now:
            return None
        return data

    def new_session(self, user: str, kind: str, now: float | None = None) -> tuple[Session, str]:
        t = int(now if now is not None else time.time())
        session = Session(user, kind, secrets.token_urlsafe(16), t + self.max_age)
        cookie = self._seal(
            "session", {"u": user, "k": kind, "n": session.nonce, "e": session.expires}
        )
        return session, cookie

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        data = self._open("session", cookie, now if now is not None else time.time())
        if data is None:
            return None
        user, kind, nonce = data.get("u"), data.get("k"), data.get("n")
        if not (isinstance(user, str) and isinstance(kind, str) and isinstance(nonce, str)):
            return None
        return Session(user, kind, nonce, int(data["e"]))  # type: ignore[call-overload]

    def new_pre(self, now: float | None = None) -> tuple[str, str]:
        """(nonce, cookie) for the sign-in form."""
        nonce = secrets.token_urlsafe(16)
        t = int(now if now is not None else time.time())
        return nonce, self._seal("pre", {"n": nonce, "e": t + PRE_MAX_AGE})

    def pre_nonce(self, cookie: str | None, now: float | None = None) -> str | None:
        data = self._open("pre", cookie, now if now is not None else time.time())
        nonce = data.get("n") if data else None
        return nonce if isinstance(nonce, str) else None

    def csrf(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def check_csrf(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf(nonce))
