"""Executes one operation: limiter -> token -> sign -> send -> envelope -> typed error.

Also applies the retry policy, the expired-token "refresh once and repeat" rule and the
outcome-unknown rule for non-idempotent writes, and emits one call-log record per attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .calllog import CallLogHook
from .config import ClientConfig
from .errors import RateLimitedError, TikTokError, TokenExpiredError
from .operations import Operation
from .ratelimit import AdaptiveRateLimiter
from .retry import RetryPolicy
from .sender import RequestSender
from .signing import sign_request
from .tokens import AccessToken, TokenProvider
from .transport import Transport

# Limiter key of operations that take no shop_cipher (rate-limited per app).
APP_KEY = "*app*"

QueryValue = str | int | float | bool | Sequence[str] | None
Files = Mapping[str, tuple[str, bytes, str]]


@dataclass(frozen=True)
class ShopRef:
    """Which authorization (token key) and shop a call is for."""

    token_key: str
    shop_id: str | None = None
    # Explicit cipher; otherwise taken from the token's shop_ciphers.
    shop_cipher: str | None = None


def encode_query(query: Mapping[str, QueryValue]) -> dict[str, str]:
    """Query values as TikTok expects them: arrays comma-joined, bools lower-case, no empties."""
    out: dict[str, str] = {}
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, int | float):
            text = str(value)
        else:
            text = ",".join(str(v) for v in value)
        # Empty values are dropped from both URL and signature (NET SDK behaviour).
        if text != "":
            out[key] = text
    return out


def limiter_key_for(op: Operation, shop: ShopRef, token: AccessToken) -> str:
    """The limiter's shop key: TikTok limits shop-scoped APIs per shop, the others per app.

    A shop may be named by id, by explicit cipher or (single-shop token) by neither; all
    three must land on one key, the shop id when the token knows it, or callers naming the
    shop differently would each get the full budget. Never per token where avoidable: that
    would grow one limiter entry per connection.
    """
    if not op.cipher:
        return APP_KEY
    if shop.shop_id:
        return shop.shop_id
    cipher = shop.shop_cipher or token.cipher_for(None)
    for shop_id, known in token.shop_ciphers.items():
        if known == cipher:
            return shop_id
    return cipher or shop.token_key


class ApiCaller:
    """The request engine shared by every area API of a client."""

    def __init__(
        self,
        config: ClientConfig,
        transport: Transport,
        tokens: TokenProvider,
        limiter: AdaptiveRateLimiter,
        retry: RetryPolicy,
        call_log: CallLogHook | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.transport = transport
        self.tokens = tokens
        self.limiter = limiter
        self.retry = retry
        self.sender = RequestSender(config, transport, call_log)
        self._clock = clock
        self._sleep = sleep

    async def call(
        self,
        op: Operation,
        shop: ShopRef,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, QueryValue] | None = None,
        body: Any = None,
        files: Files | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Run `op` and return the envelope's `data` (a dict, `{}` when TikTok sends null)."""
        path = op.render(**(path_params or {}))
        raw_body = orjson.dumps(body) if body is not None else None
        token = await self.tokens.get(shop.token_key)
        limiter_key = limiter_key_for(op, shop, token)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            permit = await self.limiter.acquire(limiter_key, op.name)
            try:
                return await self._attempt(
                    op, shop, path, query or {}, raw_body, files, form, token, attempt
                )
            except TokenExpiredError:
                if refreshed:
                    raise
                # TikTok rejected the token before doing anything: safe even for writes.
                refreshed = True
                token = await self.tokens.refresh_after_expired(shop.token_key, token)
                continue
            except TikTokError as exc:
                if isinstance(exc, RateLimitedError):
                    self.limiter.on_rate_limited(permit)
                if not self.retry.should_retry(exc, idempotent=op.idempotent, attempt=attempt):
                    raise
                await self._sleep(self.retry.backoff(attempt))

    async def _attempt(
        self,
        op: Operation,
        shop: ShopRef,
        path: str,
        query: Mapping[str, QueryValue],
        raw_body: bytes | None,
        files: Files | None,
        form: Mapping[str, str] | None,
        token: AccessToken,
        attempt: int,
    ) -> Any:
        cfg = self.config
        params = encode_query(query)
        params["app_key"] = cfg.app_key
        params["timestamp"] = str(int(self._clock()))
        if op.cipher:
            cipher = shop.shop_cipher or token.cipher_for(shop.shop_id)
            if cipher:
                params["shop_cipher"] = cipher
        # Multipart bodies are not signed; GET bodies do not exist.
        signed_body = raw_body if op.method != "GET" and files is None else None
        params["sign"] = sign_request(cfg.app_secret.get_secret_value(), path, params, signed_body)
        headers = {"x-tts-access-token": token.access_token}
        if raw_body is not None:
            headers["Content-Type"] = "application/json"
        request = self.transport.http.build_request(
            op.method,
            cfg.open_api_base_url.rstrip("/") + path,
            params=params,
            headers=headers,
            content=raw_body if files is None else None,
            files=files,
            data=form if files is not None else None,
        )
        return await self.sender.send(
            op.name, request, op.idempotent, attempt, params, shop.shop_id
        )
