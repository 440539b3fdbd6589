"""Typed async client for the TikTok Shop Partner API (Open API + OAuth + webhooks)."""

from .calllog import ApiCallRecord, CallLogHook, LoggingCallLog, MemoryCallLog
from .client import ShopClient, TikTokShopClient
from .config import ClientConfig, PoolConfig, RateLimitConfig, RetryConfig, TimeoutConfig
from .errors import (
    AuthorizationExpiredError,
    CredentialsError,
    InvalidRequestError,
    ItemError,
    NetworkError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ScopeError,
    ServerError,
    ShopCipherError,
    SignatureError,
    TikTokError,
    TimestampError,
    TokenExpiredError,
    TokenInvalidError,
    ValidationError,
)
from .lease import BrokerLeaseTokenProvider, ConnectionUnavailableError, TokenLeaseError
from .oauth import OAuthClient, access_token_from_grant, authorize_url
from .ratelimit import AdaptiveRateLimiter
from .retry import RetryPolicy
from .signing import sign_request
from .tokens import AccessToken, StaticTokenProvider, TokenProvider
from .transport import Transport, build_http_client
from .webhooks import WebhookEvent, parse_webhook, verify_webhook, webhook_signature

__all__ = [
    "AccessToken",
    "AdaptiveRateLimiter",
    "ApiCallRecord",
    "AuthorizationExpiredError",
    "BrokerLeaseTokenProvider",
    "CallLogHook",
    "ClientConfig",
    "ConnectionUnavailableError",
    "CredentialsError",
    "InvalidRequestError",
    "ItemError",
    "LoggingCallLog",
    "MemoryCallLog",
    "NetworkError",
    "NotFoundError",
    "OAuthClient",
    "OutcomeUnknownError",
    "PoolConfig",
    "RateLimitConfig",
    "RateLimitedError",
    "RetryConfig",
    "RetryPolicy",
    "ScopeError",
    "ServerError",
    "ShopCipherError",
    "ShopClient",
    "SignatureError",
    "StaticTokenProvider",
    "TikTokError",
    "TikTokShopClient",
    "TimeoutConfig",
    "TimestampError",
    "TokenExpiredError",
    "TokenInvalidError",
    "TokenLeaseError",
    "TokenProvider",
    "Transport",
    "ValidationError",
    "WebhookEvent",
    "access_token_from_grant",
    "authorize_url",
    "build_http_client",
    "parse_webhook",
    "sign_request",
    "verify_webhook",
    "webhook_signature",
]
