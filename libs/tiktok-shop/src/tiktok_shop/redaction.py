"""Which field, header and query names carry credentials: the one list of the project.

Pure and dependency-free so both redactors use it: this library's call log
(`tiktok_shop.calllog`, at the source of every TikTok request) and the services' log
formatter (`tts_common.logging`, which imports this module). Names are compared lower-case.
"""

from __future__ import annotations

REDACTED = "[REDACTED]"

# Exact names. `sign`, `app_secret`, `auth_code`, `access_token`, `refresh_token` and the
# `x-tts-access-token` header are TikTok's own (Sign Algorithm, Get Access Token, Refresh
# Access Token); `code` is the OAuth authorization code on the redirect back to us.
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "app_secret",
        "sign",
        "code",
        "auth_code",
        "authorization",
        "proxy-authorization",
        "x-tts-access-token",
        "password",
        "secret",
        "token",
        "api_key",
        "x-api-key",
        "cookie",
        "set-cookie",
    }
)
# Any name ending like this is a credential (`client_secret`, `x-refresh-token`, `db_password`) ...
SENSITIVE_SUFFIXES = ("_token", "-token", "_secret", "-secret", "_password", "_key")
# ... except these: paging cursors end in `_token` (`page_token`, `next_page_token` of every
# TikTok list/search API) and `_key` would otherwise hide the app key and partition keys.
NOT_SENSITIVE = frozenset(
    {
        "page_token",
        "next_page_token",
        "app_key",
        "key",
        "partition_key",
        "idempotency_key",
        "sort_key",
        "service_key",
    }
)


def is_sensitive_key(key: str) -> bool:
    """True for names whose values must never be logged, stored or shown."""
    k = key.lower()
    if k in NOT_SENSITIVE:
        return False
    return k in SENSITIVE_KEYS or k.endswith(SENSITIVE_SUFFIXES)


def is_sensitive_field(key: str, value: object) -> bool:
    """`is_sensitive_key`, except that a number under `code` is shown.

    `code` names the OAuth authorization code (a string) on the redirect back to us, and also
    the numeric business code of every TikTok answer ("Common error codes"), which a reader of
    a log needs. An integer is never an authorization code, so it stays visible.
    """
    if key.lower() == "code" and isinstance(value, int) and not isinstance(value, bool):
        return False
    return is_sensitive_key(key)
