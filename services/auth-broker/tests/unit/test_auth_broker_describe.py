"""`describe`: TikTok's message for a stored reason or a page, minus the credentials sent."""

from __future__ import annotations

from auth_broker.tiktok import TikTokAuthError, describe
from tts_common.logging import MIN_SECRET_LENGTH, REDACTED


def test_a_short_value_sent_does_not_mangle_the_message() -> None:
    # A callback with `code=0` and a valid state: "0" is no credential to cut out.
    err = TikTokAuthError("auth code is invalid (request 20240101)", code=36004004)
    assert describe(err, "0") == "[36004004] auth code is invalid (request 20240101)"
    assert describe(err, "4", "00", "2024") == str(err)
    assert describe(err, "") == str(err)


def test_a_credential_quoted_back_by_tiktok_is_cut() -> None:
    code = "TTP_authcode_9f8e7d6c"
    refresh = "ROW_refresh_1a2b3c4d5e"
    err = TikTokAuthError(f"code {code} expired; refresh {refresh} revoked", code=105002)
    out = describe(err, code, refresh)
    assert code not in out and refresh not in out
    assert out == f"[105002] code {REDACTED} expired; refresh {REDACTED} revoked"


def test_the_cut_starts_at_the_scrubbers_minimum_length() -> None:
    value = "a1b2c3d4"[:MIN_SECRET_LENGTH]
    err = TikTokAuthError(f"bad value {value}!", code=1)
    assert describe(err, value) == f"[1] bad value {REDACTED}!"
    shorter = value[:-1]
    err = TikTokAuthError(f"bad value {shorter}!", code=1)
    assert describe(err, shorter) == f"[1] bad value {shorter}!"


def test_key_patterns_still_apply_to_what_tiktok_says() -> None:
    err = TikTokAuthError("rejected access_token=abcdefghijk for shop", code=2)
    assert "abcdefghijk" not in describe(err)
