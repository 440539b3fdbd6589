"""API keys for every service's HTTP API: one key per client, with scopes, hashed at rest.

A client (a PIM, an OMS, an operator) sends its key as `Authorization: Bearer <key>` or
`X-API-Key: <key>`, as for the auth-broker's admin API. `TTS_API_KEYS` lists the accepted keys,
comma-separated, each entry as

    <client>|<scope>+<scope>...|sha256:<64 hex digits>
    e.g. pim|catalog:read+catalog:write|sha256:9f2c...,oms|orders:read+shipments:write|sha256:...

Why this shape: scopes contain `:` (`catalog:write`), so `:` cannot separate the fields, and `,`
already separates the entries, so it cannot separate the scopes. `|` and `+` occur in no client
name, scope or hex digest, so each entry splits one way only, and the `sha256:` tag leaves room
for another scheme later. A client may have several entries (key rotation: add the new key,
move the client over, remove the old entry).

Why SHA-256 and not a slow password hash: the keys are generated here (`new_api_key`, 256 random
bits), never chosen by a person, so there is no dictionary to try and a fast hash is already
beyond brute force; a deliberately slow hash (bcrypt, scrypt) would only make every request
pay tens of milliseconds and hand unauthenticated callers a cheap way to burn CPU. A leaked
`TTS_API_KEYS` value therefore reveals no usable key.

Matching hashes the presented key once and compares it with every configured hash through
`hmac.compare_digest`, without stopping at a match, so the time taken says neither whether nor
which entry matched. Nothing is cached and nothing is remembered per presented key: junk keys
leave no state behind. Presented keys are never logged, nor registered with the log scrubber
(whose bounded registry junk keys would otherwise flush); a refusal logs one line saying why.

In `environment=dev|test` with `TTS_API_KEYS` unset, the published `DEV_API_KEY` (client `dev`,
scope `*`) is accepted; in `prod` the dev key is refused in the settings and a service with
authenticated routes refuses to start without keys.

Usage: `create_service_app(routers=...)` authenticates every router it is given
(`secure_routers`); a route that needs a scope adds `Depends(require_scope("catalog:write"))`
and a handler that needs the caller takes `principal: Authenticated`. A new key:
`python -m tts_common.api_auth new --client pim --scopes catalog:read,catalog:write`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tts_common.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from tts_common.settings import ServiceSettings

log = logging.getLogger(__name__)

ENV_VAR = "TTS_API_KEYS"
HASH_SCHEME = "sha256"
ALL_SCOPES = "*"
# Published on purpose, like the auth-broker's dev admin key: accepted only in dev/test and
# only while TTS_API_KEYS is unset; prod refuses it.
DEV_API_KEY = "dev-api-key"
DEV_CLIENT = "dev"
# Generated keys carry a prefix so secret scanners and people recognise them.
KEY_PREFIX = "tts_"
KEY_RANDOM_BYTES = 32

_CLIENT_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]*(?::[a-z0-9][a-z0-9._-]*)*")
_MAX_SCOPE_LEN = 64
_HEX_RE = re.compile(r"[0-9a-f]{64}")

HOW_TO_AUTHENTICATE = (
    "send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>` "
    f"(the operator issues keys and lists them in {ENV_VAR})"
)
NEW_KEY_COMMAND = "python -m tts_common.api_auth new --client <name> --scopes <scope,scope>"


class ApiKeyConfigError(ValueError):
    """`TTS_API_KEYS` is malformed or unusable here; the message never echoes a value."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: the configured client name and the scopes its key grants."""

    client: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return ALL_SCOPES in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """One accepted key, as configured: who it belongs to, what it grants, its SHA-256."""

    client: str
    scopes: frozenset[str]
    digest: bytes

    def config_entry(self) -> str:
        """This entry as written in `TTS_API_KEYS`."""
        scopes = "+".join(sorted(self.scopes))
        return f"{self.client}|{scopes}|{HASH_SCHEME}:{self.digest.hex()}"


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


DEV_ENTRY = ApiKeyEntry(DEV_CLIENT, frozenset({ALL_SCOPES}), key_digest(DEV_API_KEY))


def check_client(client: str) -> str:
    if not _CLIENT_RE.fullmatch(client):
        raise ApiKeyConfigError(
            "a client name is 1-64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    return client


def check_scope(scope: str) -> str:
    if scope != ALL_SCOPES and (len(scope) > _MAX_SCOPE_LEN or not _SCOPE_RE.fullmatch(scope)):
        raise ApiKeyConfigError(
            "a scope is `*` or words of a-z 0-9 . _ - joined by `:` (e.g. catalog:write)"
        )
    return scope


def parse_api_keys(raw: str) -> tuple[ApiKeyEntry, ...]:
    """The entries of a `TTS_API_KEYS` value; blank means none.

    Errors name the entry by position (and its client once that parsed), never its text: a raw
    key pasted by mistake must not end up in an error message or a log.
    """
    entries: list[ApiKeyEntry] = []
    seen: dict[bytes, int] = {}
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    for number, part in enumerate(parts, start=1):
        where = f"entry #{number}"
        fields = part.split("|")
        if len(fields) != 3:
            raise ApiKeyConfigError(
                f"{where} must be client|scope+scope|{HASH_SCHEME}:<hex> "
                "(hashes only, never the key itself)"
            )
        client, scope_text, hashed = (f.strip() for f in fields)
        try:
            check_client(client)
        except ApiKeyConfigError as exc:
            raise ApiKeyConfigError(f"{where}: {exc}") from None
        where = f"{where} (client {client})"
        scopes = [s.strip() for s in scope_text.split("+") if s.strip()]
        if not scopes:
            raise ApiKeyConfigError(f"{where} grants no scope (use `*` for all)")
        for scope in scopes:
            try:
                check_scope(scope)
            except ApiKeyConfigError as exc:
                raise ApiKeyConfigError(f"{where}: {exc}") from None
        scheme, sep, hex_digest = hashed.partition(":")
        if scheme != HASH_SCHEME or not sep or not _HEX_RE.fullmatch(hex_digest):
            raise ApiKeyConfigError(
                f"{where}: the last field must be {HASH_SCHEME}:<64 lowercase hex digits>"
            )
        digest = bytes.fromhex(hex_digest)
        if digest in seen:
            raise ApiKeyConfigError(f"{where} repeats the key hash of entry #{seen[digest]}")
        seen[digest] = number
        entries.append(ApiKeyEntry(client, frozenset(scopes), digest))
    return tuple(entries)


def check_api_keys(raw: str, environment: str | None) -> tuple[ApiKeyEntry, ...]:
    """Validate a `TTS_API_KEYS` value for the settings: well formed, no dev key in prod."""
    entries = parse_api_keys(raw)
    if environment == "prod" and any(
        hmac.compare_digest(e.digest, DEV_ENTRY.digest) for e in entries
    ):
        raise ApiKeyConfigError(f"the published dev key is not accepted in prod; {NEW_KEY_COMMAND}")
    return entries


@dataclass(frozen=True, slots=True)
class ApiKeyring:
    """The accepted keys of one app. Immutable: authenticating remembers nothing."""

    entries: tuple[ApiKeyEntry, ...]

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ApiKeyring:
        """The configured keys; the dev key when none are set in dev/test; prod needs keys."""
        entries = check_api_keys(settings.api_keys.get_secret_value(), settings.environment)
        if entries:
            return cls(entries)
        if settings.environment == "prod":
            raise ApiKeyConfigError(
                f"{ENV_VAR} must list at least one API key in prod (this service has "
                f"authenticated routes); {NEW_KEY_COMMAND}"
            )
        return cls((DEV_ENTRY,))

    def authenticate(self, presented: str) -> Principal | None:
        """The principal whose key this is, else None; constant time over all entries."""
        digest = key_digest(presented)
        found: ApiKeyEntry | None = None
        for entry in self.entries:
            # No early exit: every entry is compared whatever the outcome.
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return None if found is None else Principal(found.client, found.scopes)


# Security schemes: read the headers and document them in OpenAPI (the /docs "Authorize"
# button); auto_error=False so a missing key is our own 401 rendered by the shared handler.
_bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKeyBearer", description="Authorization: Bearer <key>"
)
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader", description="X-API-Key: <key>"
)


def install_api_auth(app: FastAPI, settings: ServiceSettings, *, required: bool = True) -> None:
    """Give `app` its keyring (`app.state.api_keyring`), built from the settings.

    `required` (the app has authenticated routes): a prod configuration without keys is an
    `ApiKeyConfigError`. Otherwise the keyring is installed only when the settings provide one,
    and an authenticated route would fail closed.
    """
    try:
        app.state.api_keyring = ApiKeyring.from_settings(settings)
    except ApiKeyConfigError:
        if required:
            raise


def _refuse(request: Request, reason: str) -> Unauthorized:
    # One line per refusal, never with the presented key (nor a prefix or hash of it).
    log.warning(
        "api authentication refused",
        extra={
            "reason": reason,
            "method": request.method,
            "path": request.url.path,
            "peer": request.client.host if request.client else None,
        },
    )
    if reason == "no_key":
        return Unauthorized(f"an API key is required: {HOW_TO_AUTHENTICATE}")
    return Unauthorized(f"the API key is not valid: {HOW_TO_AUTHENTICATE}")


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The calling client, from `X-API-Key` or `Authorization: Bearer`; else 401 `unauthorized`."""
    keyring: ApiKeyring | None = getattr(request.app.state, "api_keyring", None)
    if keyring is None:
        # Fail closed: a route declared authenticated on an app without keys is never open.
        raise RuntimeError("api authentication used on an app without install_api_auth")
    presented = (api_key or "").strip() or (bearer.credentials.strip() if bearer else "")
    if not presented:
        raise _refuse(request, "no_key")
    principal = keyring.authenticate(presented)
    if principal is None:
        raise _refuse(request, "unknown_key")
    request.state.principal = principal
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]


def require_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold every one of `scopes` (or `*`), else 403 `forbidden`.

    `@router.post(..., dependencies=[Depends(require_scope("catalog:write"))])`, or as a
    parameter `principal: Annotated[Principal, Depends(require_scope("catalog:write"))]`.
    """
    if not scopes:
        raise ValueError("require_scope needs at least one scope")
    for scope in scopes:
        check_scope(scope)
    needed = tuple(scopes)

    async def scoped(request: Request, principal: Authenticated) -> Principal:
        missing = [scope for scope in needed if not principal.allows(scope)]
        if missing:
            log.warning(
                "api scope refused",
                extra={
                    "client": principal.client,
                    "missing_scopes": missing,
                    "method": request.method,
                    "path": request.url.path,
                },
            )
            raise Forbidden(
                f"the API key of client {principal.client!r} lacks the scope "
                f"{' and '.join(missing)} this request needs"
            )
        return principal

    scoped.__name__ = "require_scope_" + "_".join(s.replace(":", "_") for s in needed)
    return scoped


def protected(router: APIRouter, *scopes: str) -> APIRouter:
    """A router serving `router`'s routes to authenticated callers only (holding `scopes`).

    `router` itself is left as it is. A route added to `router` afterwards is never served
    unprotected: FastAPI either includes it lazily behind the same dependencies or, in older
    versions that copy routes at `include_router`, not at all.
    """
    dependencies = [Depends(authenticate)]
    if scopes:
        dependencies.append(Depends(require_scope(*scopes)))
    outer = APIRouter(dependencies=dependencies)
    outer.include_router(router)
    return outer


def secure_routers(routers: Sequence[APIRouter]) -> list[APIRouter]:
    """Every router authenticated: what `create_service_app` mounts from `routers=`.

    FastAPI runs a dependency once per request, so a route that also declares `Authenticated`
    or `require_scope` authenticates once.
    """
    return [protected(router) for router in routers]


def new_api_key(client: str, scopes: Iterable[str]) -> tuple[str, str]:
    """A fresh key (show it once, store it nowhere here) and the `TTS_API_KEYS` entry for it."""
    check_client(client)
    granted = frozenset(check_scope(s.strip()) for s in scopes if s.strip())
    if not granted:
        raise ApiKeyConfigError("give at least one scope (or `*` for all)")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    return key, ApiKeyEntry(client, granted, key_digest(key)).config_entry()


def build_parser(prog: str = "python -m tts_common.api_auth") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="API keys for the services' HTTP APIs")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="generate a key for a client and print its config entry")
    new.add_argument("--client", required=True, help="who holds the key, e.g. pim, oms, ops")
    new.add_argument(
        "--scopes", required=True, help="comma-separated, e.g. catalog:read,catalog:write or *"
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m tts_common.api_auth") -> None:
    """`new --client C --scopes a,b`: print the key once and the entry to add to TTS_API_KEYS."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        key, entry = new_api_key(args.client, args.scopes.split(","))
    except ApiKeyConfigError as exc:
        parser.error(str(exc))
    sys.stdout.write(
        f"# API key for client {args.client!r}; shown once, give it to the client only:\n"
        f"{key}\n"
        f"# add this entry to {ENV_VAR} (comma-separated with the others), then restart:\n"
        f"{entry}\n"
    )


if __name__ == "__main__":
    main()
