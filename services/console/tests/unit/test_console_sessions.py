"""Sessions, CSRF tokens and console users' passwords: pure logic."""

from __future__ import annotations

import pytest
from console.passwords import check_password, hash_password, parse_hash, parse_users
from console.routes_auth import safe_next
from console.sessions import Signer


def test_a_session_cookie_round_trips_and_names_no_secret() -> None:
    signer = Signer(b"s" * 32, max_age=60)
    session, cookie = signer.new_session("admin", "admin", now=1000)
    assert signer.session(cookie, now=1000) == session
    assert "s" * 32 not in cookie
    assert session.expires == 1060


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature changed
        lambda c: "x" + c,  # payload changed
        lambda c: c.replace(".", ""),  # no signature
        lambda c: c + "." + c,  # two dots
        lambda c: "",
    ],
)
def test_a_tampered_cookie_is_no_session(mangle: object) -> None:
    signer = Signer(b"k" * 32, max_age=60)
    _, cookie = signer.new_session("admin", "admin", now=1000)
    assert signer.session(mangle(cookie), now=1000) is None  # type: ignore[operator]


def test_a_cookie_expires_and_another_secret_refuses_it() -> None:
    signer = Signer(b"k" * 32, max_age=60)
    _, cookie = signer.new_session("admin", "admin", now=1000)
    assert signer.session(cookie, now=1061) is None
    assert Signer(b"other" * 8, max_age=60).session(cookie, now=1000) is None


def test_a_pre_session_cookie_is_not_a_session_and_vice_versa() -> None:
    signer = Signer(b"k" * 32, max_age=60)
    nonce, pre = signer.new_pre(now=1000)
    assert signer.pre_nonce(pre, now=1000) == nonce
    assert signer.session(pre, now=1000) is None
    _, cookie = signer.new_session("admin", "admin", now=1000)
    assert signer.pre_nonce(cookie, now=1000) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    signer = Signer(b"k" * 32, max_age=60)
    a, _ = signer.new_session("admin", "admin")
    b, _ = signer.new_session("admin", "admin")
    token = signer.csrf(a.nonce)
    assert signer.check_csrf(a.nonce, token)
    assert not signer.check_csrf(b.nonce, token)
    assert not signer.check_csrf(a.nonce, None)
    assert not signer.check_csrf(a.nonce, token[:-1])


def test_passwords_are_checked_against_scrypt_hashes() -> None:
    entry = hash_password("correct horse")
    users = parse_users(f"ops:{entry}, second:{hash_password('another one')}")
    assert set(users) == {"ops", "second"}
    assert check_password(users, "ops", "correct horse")
    assert not check_password(users, "ops", "wrong")
    assert not check_password(users, "nobody", "correct horse")
    assert "correct horse" not in entry
    assert parse_hash(entry).n == 2**14


@pytest.mark.parametrize(
    "bad",
    ["ops", "ops:plain-text-password", "bad name:scrypt$1$2$3$4$5", "ops:scrypt$16384$8$1$AA$AA"],
)
def test_a_bad_users_entry_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_users(bad)
    assert "plain-text-password" not in str(err.value)
    assert "entry 1" in str(err.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/feeds/1", "/feeds/1"),
        ("//evil.example/x", "/feeds"),
        ("https://evil.example/", "/feeds"),
        ("/\\evil.example", "/feeds"),
        ("", "/feeds"),
        (None, "/feeds"),
    ],
)
def test_sign_in_redirects_only_within_the_console(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected
