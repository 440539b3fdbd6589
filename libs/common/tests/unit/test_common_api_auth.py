"""API keys: the TTS_API_KEYS format, hashing and matching, dev/prod rules, the dependencies."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr, ValidationError
from tts_common import api_auth
from tts_common.api_auth import (
    DEV_API_KEY,
    ApiKeyConfigError,
    ApiKeyring,
    Authenticated,
    Principal,
    install_api_auth,
    new_api_key,
    parse_api_keys,
    protected,
    require_scope,
    secure_routers,
)
from tts_common.errors import install_error_handlers
from tts_common.settings import ServiceSettings, load_settings


def _entry(client: str, scopes: str, key: str) -> str:
    return f"{client}|{scopes}|sha256:{hashlib.sha256(key.encode()).hexdigest()}"


PIM_KEY = "tts_pim-key-for-unit-tests-0000000000000000000"
OMS_KEY = "tts_oms-key-for-unit-tests-1111111111111111111"
KEYS = ",".join(
    [_entry("pim", "catalog:read+catalog:write", PIM_KEY), _entry("oms", "orders:read", OMS_KEY)]
)


# --- the TTS_API_KEYS format -----------------------------------------------------------------


def test_entries_parse_with_client_scopes_and_hash() -> None:
    entries = parse_api_keys(f" {KEYS} , ")
    assert [(e.client, e.scopes) for e in entries] == [
        ("pim", frozenset({"catalog:read", "catalog:write"})),
        ("oms", frozenset({"orders:read"})),
    ]
    assert entries[0].digest == hashlib.sha256(PIM_KEY.encode()).digest()
    # The entry prints back as configured (scopes sorted), so the generator and parser agree.
    assert entries[0].config_entry() == KEYS.split(",")[0]


def test_one_client_may_hold_two_keys_for_rotation() -> None:
    ring = ApiKeyring(
        parse_api_keys(f"{_entry('pim', '*', 'old-k' * 8)},{_entry('pim', '*', 'new-k' * 8)}")
    )
    assert ring.authenticate("old-k" * 8) == ring.authenticate("new-k" * 8)
    assert ring.authenticate("old-k" * 8) == Principal("pim", frozenset({"*"}))


def test_blank_means_no_entries() -> None:
    assert parse_api_keys("") == ()
    assert parse_api_keys(" , ") == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("tts_a-raw-key-pasted-by-mistake", "entry #1 must be client|scope+scope|sha256:<hex>"),
        ("pim:catalog:read:sha256:" + "a" * 64, "entry #1 must be client|scope"),
        ("Pim|catalog:read|sha256:" + "a" * 64, "entry #1: a client name"),
        ("pim||sha256:" + "a" * 64, "entry #1 (client pim) grants no scope"),
        ("pim|catalog read|sha256:" + "a" * 64, "a scope is"),
        ("pim|catalog:|sha256:" + "a" * 64, "a scope is"),
        ("pim|cat*|sha256:" + "a" * 64, "a scope is"),
        ("pim|catalog:read|md5:" + "a" * 32, "sha256:<64 lowercase hex digits>"),
        ("pim|catalog:read|sha256:" + "A" * 64, "sha256:<64 lowercase hex digits>"),
        ("pim|catalog:read|sha256:" + "a" * 63, "sha256:<64 lowercase hex digits>"),
        (
            f"{_entry('pim', '*', 'k' * 40)},{_entry('oms', '*', 'k' * 40)}",
            "entry #2 (client oms) repeats the key hash of entry #1",
        ),
    ],
)
def test_malformed_entries_are_named_by_position(raw: str, problem: str) -> None:
    with pytest.raises(ApiKeyConfigError, match=re.escape(problem)):
        parse_api_keys(raw)


def test_a_raw_key_pasted_as_config_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = "tts_pasted-raw-key-4242424242"
    with pytest.raises(ApiKeyConfigError) as info:
        parse_api_keys(f"{_entry('pim', '*', 'k' * 40)},{raw}")
    assert raw not in str(info.value)
    monkeypatch.setenv("TTS_API_KEYS", raw)
    with pytest.raises(SystemExit) as exit_info:
        load_settings(ServiceSettings)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "TTS_API_KEYS: " in err
    assert raw not in err


# --- hashing and matching --------------------------------------------------------------------


def test_keys_match_by_hash_and_give_the_clients_scopes() -> None:
    ring = ApiKeyring(parse_api_keys(KEYS))
    assert ring.authenticate(PIM_KEY) == Principal(
        "pim", frozenset({"catalog:read", "catalog:write"})
    )
    assert ring.authenticate(OMS_KEY) == Principal("oms", frozenset({"orders:read"}))
    assert ring.authenticate(PIM_KEY + "x") is None
    assert ring.authenticate(PIM_KEY[:-1]) is None
    assert ring.authenticate("") is None
    # The hash itself is not a key.
    assert ring.authenticate(hashlib.sha256(PIM_KEY.encode()).hexdigest()) is None


@pytest.mark.parametrize("presented", [PIM_KEY, OMS_KEY, "junk"])
def test_matching_compares_every_entry_whatever_the_outcome(
    presented: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No early exit: a first-entry match, a last-entry match and a miss do the same work."""
    compared: list[tuple[bytes, bytes]] = []
    real = api_auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_auth.hmac, "compare_digest", counting)
    ring = ApiKeyring(parse_api_keys(KEYS))
    ring.authenticate(presented)
    assert [b for _, b in compared] == [e.digest for e in ring.entries]
    # What is compared is the presented key's digest, never the key text.
    assert all(a == hashlib.sha256(presented.encode()).digest() for a, _ in compared)


def test_star_grants_every_scope() -> None:
    assert Principal("ops", frozenset({"*"})).allows("anything:at-all")
    assert Principal("pim", frozenset({"catalog:read"})).allows("catalog:read")
    assert not Principal("pim", frozenset({"catalog:read"})).allows("catalog:write")


# --- the generator ---------------------------------------------------------------------------


def test_new_key_is_random_and_its_entry_accepts_only_it() -> None:
    key, entry = new_api_key("pim", ["catalog:write", " catalog:read "])
    other, _ = new_api_key("pim", ["catalog:write"])
    assert key != other
    assert key.startswith("tts_")
    assert len(key) >= len("tts_") + 43  # 32 random bytes, url-safe base64
    assert key not in entry
    assert entry.startswith("pim|catalog:read+catalog:write|sha256:")
    ring = ApiKeyring(parse_api_keys(entry))
    assert ring.authenticate(key) == Principal("pim", frozenset({"catalog:read", "catalog:write"}))
    assert ring.authenticate(other) is None


@pytest.mark.parametrize(("client", "scopes"), [("PIM", ["x"]), ("pim", []), ("pim", ["a b"])])
def test_new_key_refuses_bad_names(client: str, scopes: list[str]) -> None:
    with pytest.raises(ApiKeyConfigError):
        new_api_key(client, scopes)


def test_cli_prints_the_key_once_and_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    api_auth.main(["new", "--client", "oms", "--scopes", "orders:read,shipments:write"])
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(lines) == 2
    key, entry = lines
    assert entry.startswith("oms|orders:read+shipments:write|sha256:")
    settings = ServiceSettings(api_keys=SecretStr(entry))
    principal = ApiKeyring.from_settings(settings).authenticate(key)
    assert principal == Principal("oms", frozenset({"orders:read", "shipments:write"}))


def test_cli_refuses_a_bad_client_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        api_auth.main(["new", "--client", "has space", "--scopes", "*"])
    assert info.value.code == 2
    assert "client name" in capsys.readouterr().err


# --- dev and prod ----------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["dev", "test"])
def test_dev_key_works_in_dev_and_test_while_no_keys_are_set(environment: str) -> None:
    ring = ApiKeyring.from_settings(ServiceSettings(environment=environment))  # type: ignore[arg-type]
    assert ring.authenticate(DEV_API_KEY) == Principal("dev", frozenset({"*"}))


def test_dev_key_stops_working_once_keys_are_set() -> None:
    ring = ApiKeyring.from_settings(ServiceSettings(api_keys=SecretStr(KEYS)))
    assert ring.authenticate(DEV_API_KEY) is None
    assert ring.authenticate(PIM_KEY) is not None


def test_prod_without_keys_refuses_an_authenticated_app() -> None:
    settings = ServiceSettings(environment="prod")
    with pytest.raises(ApiKeyConfigError, match="TTS_API_KEYS must list at least one"):
        ApiKeyring.from_settings(settings)
    with pytest.raises(ApiKeyConfigError, match="TTS_API_KEYS"):
        install_api_auth(FastAPI(), settings)
    # An app without authenticated routes (e.g. the auth-broker) needs none.
    app = FastAPI()
    install_api_auth(app, settings, required=False)
    assert getattr(app.state, "api_keyring", None) is None


def test_prod_refuses_the_dev_key_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TTS_ENVIRONMENT", "prod")
    monkeypatch.setenv("TTS_API_KEYS", f"{KEYS},{_entry('ops', '*', DEV_API_KEY)}")
    with pytest.raises(SystemExit) as info:
        load_settings(ServiceSettings)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "TTS_API_KEYS: " in err
    assert "dev key is not accepted in prod" in err


def test_prod_with_real_keys_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_ENVIRONMENT", "prod")
    monkeypatch.setenv("TTS_API_KEYS", KEYS)
    ring = ApiKeyring.from_settings(load_settings(ServiceSettings))
    assert ring.authenticate(OMS_KEY) == Principal("oms", frozenset({"orders:read"}))
    assert ring.authenticate(DEV_API_KEY) is None


def test_dev_key_may_be_listed_explicitly_outside_prod() -> None:
    settings = ServiceSettings(api_keys=SecretStr(_entry("dev", "*", DEV_API_KEY)))
    assert ApiKeyring.from_settings(settings).authenticate(DEV_API_KEY) is not None


# --- the FastAPI dependencies ----------------------------------------------------------------


def _app(settings: ServiceSettings) -> FastAPI:
    catalog = APIRouter(prefix="/v1/catalog")

    @catalog.get("/items")
    async def items(principal: Authenticated) -> dict[str, str]:
        return {"client": principal.client}

    @catalog.post("/items", dependencies=[Depends(require_scope("catalog:write"))])
    async def write() -> dict[str, bool]:
        return {"written": True}

    @catalog.delete("/items")
    async def purge(
        principal: Annotated[Principal, Depends(require_scope("catalog:write", "catalog:purge"))],
    ) -> dict[str, str]:
        return {"purged_by": principal.client}

    orders = APIRouter(prefix="/v1/orders")

    @orders.get("")
    async def list_orders() -> list[str]:
        return []

    app = FastAPI()
    install_error_handlers(app)
    install_api_auth(app, settings)
    for router in [*secure_routers([catalog]), protected(orders, "orders:read")]:
        app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = _app(ServiceSettings(api_keys=SecretStr(KEYS)))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


async def test_no_key_is_401_saying_how_to_authenticate(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/catalog/items")
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "unauthorized"
    assert "Authorization: Bearer <key>" in body["detail"]
    assert "X-API-Key" in body["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {PIM_KEY}"},
        {"Authorization": "Bearer "},
        {"X-API-Key": DEV_API_KEY},
    ],
)
async def test_bad_key_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.get("/v1/catalog/items", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": PIM_KEY}, {"Authorization": f"Bearer {PIM_KEY}"}]
)
async def test_either_header_authenticates(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await client.get("/v1/catalog/items", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"client": "pim"}
    assert (await client.post("/v1/catalog/items", headers=headers)).json() == {"written": True}


async def test_missing_scope_is_403_naming_it(client: httpx.AsyncClient) -> None:
    oms = {"X-API-Key": OMS_KEY}
    r = await client.post("/v1/catalog/items", headers=oms)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert "'oms'" in r.json()["detail"]
    assert "catalog:write" in r.json()["detail"]
    # Several scopes: only the missing ones are named.
    r = await client.delete("/v1/catalog/items", headers={"X-API-Key": PIM_KEY})
    assert r.status_code == 403
    assert "catalog:purge" in r.json()["detail"]
    assert "catalog:write" not in r.json()["detail"]
    # A router protected with a scope: the pim lacks it, the oms holds it.
    assert (await client.get("/v1/orders", headers={"X-API-Key": PIM_KEY})).status_code == 403
    assert (await client.get("/v1/orders", headers=oms)).status_code == 200


async def test_star_passes_every_scope_check() -> None:
    app = _app(ServiceSettings())  # dev: the dev key, scope *
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        dev = {"X-API-Key": DEV_API_KEY}
        assert (await c.delete("/v1/catalog/items", headers=dev)).json() == {"purged_by": "dev"}
        assert (await c.get("/v1/orders", headers=dev)).status_code == 200


async def test_refusals_log_one_line_without_the_key(
    client: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    junk = "tts_presented-junk-key-7373737373"
    await client.get("/v1/catalog/items", headers={"X-API-Key": junk})
    await client.get("/v1/catalog/items", headers={"Authorization": f"Bearer {junk}x"})
    await client.get("/v1/catalog/items")
    await client.post("/v1/catalog/items", headers={"X-API-Key": OMS_KEY})
    out = captured_logs.getvalue()
    records = [json.loads(line) for line in out.splitlines() if "api_auth" in line]
    assert [r["message"] for r in records] == [
        "api authentication refused",
        "api authentication refused",
        "api authentication refused",
        "api scope refused",
    ]
    assert [r.get("reason") for r in records[:3]] == ["unknown_key", "unknown_key", "no_key"]
    assert records[3]["missing_scopes"] == ["catalog:write"]
    assert junk not in out
    assert OMS_KEY not in out
    assert hashlib.sha256(junk.encode()).hexdigest() not in out


async def test_an_app_without_a_keyring_fails_closed() -> None:
    router = APIRouter()

    @router.get("/secret")
    async def secret() -> str:
        return "open"

    app = FastAPI()
    install_error_handlers(app)
    for r in secure_routers([router]):
        app.include_router(r)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        r = await c.get("/secret", headers={"X-API-Key": DEV_API_KEY})
    assert r.status_code == 500
    assert "open" not in r.text


async def test_protected_leaves_the_router_alone_and_covers_later_routes() -> None:
    router = APIRouter(prefix="/v1/x")

    @router.get("/early")
    async def early() -> str:
        return "early"

    wrapped = protected(router, "x:read")
    assert router.dependencies == []

    @router.get("/late")
    async def late() -> str:
        return "late"

    app = FastAPI()
    install_error_handlers(app)
    install_api_auth(app, ServiceSettings(api_keys=SecretStr(KEYS)))
    app.include_router(wrapped)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        for path in ("/v1/x/early", "/v1/x/late"):
            r = await c.get(path)
            # Served behind the key (401) or, with a FastAPI that copies routes eagerly, not
            # served at all (404): never open.
            assert r.status_code in (401, 404), (path, r.status_code)
            r = await c.get(path, headers={"X-API-Key": PIM_KEY})
            assert r.status_code in (403, 404), (path, r.status_code)
        assert (await c.get("/v1/x/early")).status_code == 401


def test_require_scope_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="at least one scope"):
        require_scope()
    with pytest.raises(ApiKeyConfigError):
        require_scope("Catalog Write")


def test_openapi_documents_both_ways_to_send_the_key() -> None:
    spec = _app(ServiceSettings()).openapi()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <key>",
    }
    assert schemes["ApiKeyHeader"]["name"] == "X-API-Key"
    operation = spec["paths"]["/v1/catalog/items"]["post"]
    assert {"ApiKeyBearer": []} in operation["security"]


def test_settings_value_is_secret_and_validated() -> None:
    with pytest.raises(ValidationError, match="api_keys"):
        ServiceSettings(api_keys=SecretStr("nonsense"))
    assert "sha256" not in repr(ServiceSettings(api_keys=SecretStr(KEYS)))
