"""Token encryption: binding to (connection, kind), key rotation, no plaintext in ciphertext."""

from __future__ import annotations

import base64

import pytest
from auth_broker.crypto import TokenCipher, TokenDecryptionError
from cryptography.fernet import Fernet

CONN_A = "7d3c2f9e-0000-4000-8000-00000000000a"
CONN_B = "7d3c2f9e-0000-4000-8000-00000000000b"
TOKEN = "TTP_access-token-value-1234567890"


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher([Fernet.generate_key().decode()])


def test_round_trip(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "access", TOKEN)
    assert cipher.decrypt(CONN_A, "access", enc) == TOKEN


def test_ciphertext_holds_no_plaintext(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "refresh", TOKEN)
    assert TOKEN not in enc
    # Fernet tokens are base64: the plaintext must not appear after decoding either.
    assert TOKEN.encode() not in base64.urlsafe_b64decode(enc)


def test_ciphertext_moved_to_another_connection_is_refused(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "access", TOKEN)
    with pytest.raises(TokenDecryptionError, match="bound to another connection"):
        cipher.decrypt(CONN_B, "access", enc)


def test_refresh_ciphertext_in_access_column_is_refused(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "refresh", TOKEN)
    with pytest.raises(TokenDecryptionError):
        cipher.decrypt(CONN_A, "access", enc)


def test_error_message_never_contains_the_token(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "access", TOKEN)
    with pytest.raises(TokenDecryptionError) as info:
        cipher.decrypt(CONN_B, "access", enc)
    assert TOKEN not in str(info.value)


def test_unknown_key_is_refused(cipher: TokenCipher) -> None:
    other = TokenCipher([Fernet.generate_key().decode()])
    enc = other.encrypt(CONN_A, "access", TOKEN)
    with pytest.raises(TokenDecryptionError, match="cannot be decrypted"):
        cipher.decrypt(CONN_A, "access", enc)


def test_tampered_ciphertext_is_refused(cipher: TokenCipher) -> None:
    enc = cipher.encrypt(CONN_A, "access", TOKEN)
    tampered = enc[:-6] + ("A" if enc[-6] != "A" else "B") + enc[-5:]
    with pytest.raises(TokenDecryptionError):
        cipher.decrypt(CONN_A, "access", tampered)


def test_rotation_old_key_still_decrypts_and_rotate_moves_to_new_key() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = TokenCipher([old_key])
    enc_old = before.encrypt(CONN_A, "refresh", TOKEN)

    during = TokenCipher([new_key, old_key])
    assert during.decrypt(CONN_A, "refresh", enc_old) == TOKEN
    rotated = during.rotate(enc_old)

    after = TokenCipher([new_key])
    assert after.decrypt(CONN_A, "refresh", rotated) == TOKEN
    with pytest.raises(TokenDecryptionError):
        after.decrypt(CONN_A, "refresh", enc_old)


def test_needs_a_key() -> None:
    with pytest.raises(ValueError):
        TokenCipher([])
