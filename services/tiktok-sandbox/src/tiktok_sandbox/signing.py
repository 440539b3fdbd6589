"""TikTok Shop request signing (the documented HMAC-SHA256 scheme), sandbox-side.

The sandbox keeps its own implementation on purpose: it must not share code with
the client it is used to test, or a shared bug would pass unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

# Never part of the signed string: the signature itself and the legacy token param.
EXCLUDED_PARAMS = frozenset({"sign", "access_token"})


def string_to_sign(path: str, params: Mapping[str, str], body: bytes = b"") -> bytes:
    """`path + sorted(key+value) + body`, before the secret wrap."""
    keys = sorted(k for k in params if k not in EXCLUDED_PARAMS)
    joined = "".join(f"{k}{params[k]}" for k in keys)
    return (path + joined).encode() + body


def sign(app_secret: str, path: str, params: Mapping[str, str], body: bytes = b"") -> str:
    """Lowercase hex HMAC-SHA256 of `secret + path + params + body + secret`, keyed by the secret."""
    secret = app_secret.encode()
    msg = secret + string_to_sign(path, params, body) + secret
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def candidate_signs(
    app_secret: str, path: str, params: Mapping[str, str], body: bytes
) -> Iterable[str]:
    """The signatures a correct client may have produced for this request.

    One SDK drops empty-valued params from the signature while others keep them
    (`key` + ""), so both variants are acceptable when empty values are present.
    """
    yield sign(app_secret, path, params, body)
    if any(v == "" for v in params.values()):
        non_empty = {k: v for k, v in params.items() if v != ""}
        yield sign(app_secret, path, non_empty, body)


def verify(app_secret: str, path: str, params: Mapping[str, str], body: bytes, given: str) -> bool:
    return any(
        hmac.compare_digest(candidate, given.lower())
        for candidate in candidate_signs(app_secret, path, params, body)
    )
