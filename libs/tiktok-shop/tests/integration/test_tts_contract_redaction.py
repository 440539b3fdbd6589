"""Secret redaction over the real call log, request/response headers enabled.

Runs OAuth (app_secret + auth_code in the query), a refresh (refresh_token in the query)
and signed calls (sign in the query, token in a header) through the default logging hook,
and searches everything written for the known secret values.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox
from tiktok_shop import (
    AccessToken,
    LoggingCallLog,
    SignatureError,
    StaticTokenProvider,
    TikTokShopClient,
)
from tts_client_contract import make_config


class JsonExtraFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = getattr(record, "tiktok_call", None)
        return super().format(record) + " " + json.dumps(extra)


async def test_call_log_with_headers_never_contains_secrets(sandbox: RunningSandbox) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonExtraFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("tts-test-redaction")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    tokens = StaticTokenProvider({})
    cfg = make_config(sandbox, log_headers=True)
    secrets: list[str] = [sandbox.settings.app_secret]
    try:
        async with TikTokShopClient(cfg, tokens, call_log=LoggingCallLog(logger)) as client:
            code = sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"][
                "code"
            ]
            grant = await client.oauth.get_token(code)
            refreshed = await client.oauth.refresh_token(grant.refresh_token)
            secrets += [code, grant.access_token, grant.refresh_token]
            secrets += [refreshed.access_token, refreshed.refresh_token]
            tokens.set("k", AccessToken(refreshed.access_token))
            shops = await client.shop("k").authorization.get_authorized_shops()
            tokens.set(
                "k",
                AccessToken(
                    refreshed.access_token, shop_ciphers={s.id: s.cipher for s in shops.shops}
                ),
            )
            await client.shop("k").logistics.get_warehouses()
            bad_cfg = make_config(
                sandbox, log_headers=True, app_secret=SecretStr("wrong-secret-xyz")
            )
            secrets.append("wrong-secret-xyz")
            async with TikTokShopClient(bad_cfg, tokens, call_log=LoggingCallLog(logger)) as bad:
                with pytest.raises(SignatureError) as info:
                    await bad.shop("k").logistics.get_warehouses()
                # The exception text is safe to log too.
                logger.error("failed: %s %r", info.value, info.value)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert text.count("tiktok api") == 5  # every attempt was logged ...
    assert '"x-tts-access-token": "[REDACTED]"' in text  # ... with headers ...
    assert '"sign": "[REDACTED]"' in text and '"app_secret": "[REDACTED]"' in text
    for secret in secrets:  # ... and no secret value anywhere
        assert secret not in text
    # Signatures themselves are secrets-derived: none of the 64-hex signs leak either.
    assert not any(
        len(w) == 64 and all(c in "0123456789abcdef" for c in w)
        for w in text.replace('"', " ").split()
    )
