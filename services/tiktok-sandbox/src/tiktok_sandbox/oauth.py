"""OAuth state: authorization codes, access tokens and rotating refresh tokens.

Times are on the sandbox clock so `POST /sandbox/v1/clock` expires codes and tokens.
All methods run under `state.lock` (the caller's or their own).
Scopes travel with the grant chain: code → access + refresh token → every rotated pair,
so two authorizations of one seller with different scopes never affect each other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .scopes import ALL_SCOPES

if TYPE_CHECKING:
    from .state import SandboxState

# Observed auth-host codes (github.com/EcomPHP/tiktokshop-php/pull/15); the sandbox uses them
# for every failed grant.
AUTH_RECORD_NOT_FOUND = (36004005, "can not find related auth record")
REFRESH_TOKEN_EXPIRED = (36004001, "rt has expired")
NOTICE_WINDOW_SECONDS = 30 * 86400


@dataclass
class AccessToken:
    seller_id: str
    expires_at: int
    scopes: frozenset[str] = frozenset(ALL_SCOPES)


@dataclass
class RefreshToken:
    seller_id: str
    expires_at: int
    scopes: tuple[str, ...] = ALL_SCOPES


@dataclass
class AuthCode:
    seller_id: str
    expires_at: int
    used: bool = False
    scopes: tuple[str, ...] = ALL_SCOPES


class AuthStore:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.refresh_count = 0
        # seller_id -> absolute end of the authorization (refresh tokens never outlive it).
        self.authorizations: dict[str, int] = {}
        # seller_id -> sandbox day of the last UPCOMING_AUTHORIZATION_EXPIRATION notice.
        self._notified_day: dict[str, int] = {}

    # -- codes -------------------------------------------------------------------------
    def issue_code(self, seller_id: str, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
        """A code granting `scopes` (canonical order, validated by the caller)."""
        now = self.state.clock.now_int()
        code = "ROW_" + secrets.token_urlsafe(24)
        expires_at = now + self.state.settings.auth_code_ttl_seconds
        with self.state.lock:
            self.codes[code] = AuthCode(seller_id, expires_at, scopes=scopes)
        return code

    def exchange_code(self, code: str) -> dict[str, Any]:
        now = self.state.clock.now_int()
        with self.state.lock:
            record = self.codes.get(code)
            if record is None or record.used or record.expires_at <= now:
                raise ApiError(*AUTH_RECORD_NOT_FOUND)
            record.used = True  # single use, even if a later step failed
            settings = self.state.settings
            self.authorizations[record.seller_id] = now + settings.refresh_token_ttl_seconds
            return self._grant(record.seller_id, now, record.scopes)

    def refresh_grant(self, refresh_token: str) -> dict[str, Any]:
        now = self.state.clock.now_int()
        with self.state.lock:
            record = self.refresh.get(refresh_token)
            if record is None:
                raise ApiError(*AUTH_RECORD_NOT_FOUND)
            if record.expires_at <= now:
                raise ApiError(*REFRESH_TOKEN_EXPIRED)
            # Rotation: the presented refresh token stops working at once.
            del self.refresh[refresh_token]
            self.refresh_count += 1
            # A refresh never widens (or narrows) what the seller granted.
            return self._grant(record.seller_id, now, record.scopes)

    def _grant(self, seller_id: str, now: int, scopes: tuple[str, ...]) -> dict[str, Any]:
        settings = self.state.settings
        access = "TTP_" + secrets.token_urlsafe(32)
        refresh = "TTP_" + secrets.token_urlsafe(32)
        access_exp = now + settings.access_token_ttl_seconds
        refresh_exp = self.authorizations.get(seller_id, now + settings.refresh_token_ttl_seconds)
        self.access[access] = AccessToken(seller_id, access_exp, frozenset(scopes))
        self.refresh[refresh] = RefreshToken(seller_id, refresh_exp, scopes)
        seller = self.state.sellers[seller_id]
        return {
            "access_token": access,
            "access_token_expire_in": access_exp,
            "refresh_token": refresh,
            "refresh_token_expire_in": refresh_exp,
            "open_id": seller["open_id"],
            "seller_name": seller["seller_name"],
            "seller_base_region": seller["seller_base_region"],
            "user_type": 0,
            "granted_scopes": list(scopes),
        }

    def expiration_notices(self, now: float) -> list[tuple[str, int]]:
        """(seller_id, expires_at) due a notice: from 30 days before the end, once a day."""
        due = []
        day = int(now // 86400)
        with self.state.lock:
            for seller_id, ends in self.authorizations.items():
                if now < ends - NOTICE_WINDOW_SECONDS or now >= ends:
                    continue
                if self._notified_day.get(seller_id) == day:
                    continue
                self._notified_day[seller_id] = day
                due.append((seller_id, ends))
        return due

    # -- checks and revocation ---------------------------------------------------------
    def lookup_access(self, token: str) -> AccessToken | None:
        return self.access.get(token)

    def revoke_seller(self, seller_id: str) -> int:
        """End a seller's authorization: every token and code of the seller stops working."""
        with self.state.lock:
            dropped = [t for t, r in self.access.items() if r.seller_id == seller_id]
            for t in dropped:
                del self.access[t]
            for t in [t for t, r in self.refresh.items() if r.seller_id == seller_id]:
                del self.refresh[t]
            for c in [c for c, r in self.codes.items() if r.seller_id == seller_id]:
                del self.codes[c]
            self.authorizations.pop(seller_id, None)
            return len(dropped)
