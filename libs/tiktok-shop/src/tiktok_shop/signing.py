"""Request signing, exactly as TikTok's "Sign your API request" documents it (SDKs agree).

sign = hex(HMAC-SHA256(app_secret, app_secret + path + sorted(k+v) + [body] + app_secret)),
over all query params except `sign` and `access_token`; the body is appended only for
non-GET requests that are not multipart.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

EXCLUDED_PARAMS = frozenset({"sign", "access_token"})


def string_to_sign(path: str, params: Mapping[str, str], body: bytes | None = None) -> bytes:
    """The message before the app_secret wrap: path + sorted key/value pairs + raw body."""
    # Ascending *byte* order of the keys, as the SDKs sort them.
    keys = sorted((k for k in params if k not in EXCLUDED_PARAMS), key=lambda k: k.encode())
    base = path + "".join(f"{k}{params[k]}" for k in keys)
    return base.encode() + (body or b"")


def sign_request(
    app_secret: str, path: str, params: Mapping[str, str], body: bytes | None = None
) -> str:
    """Lowercase hex signature for a request.

    Pass `body=None` for GET requests and multipart uploads (their body is not signed);
    otherwise pass the exact bytes that will be sent.
    """
    secret = app_secret.encode()
    message = secret + string_to_sign(path, params, body) + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
