"""Run the sandbox over real HTTP for tests: `with run_sandbox(qps=5) as sb: ...`.

`run_sandbox(**settings_overrides)` starts uvicorn on 127.0.0.1 with a free port in a
background thread and yields a `RunningSandbox` with `base_url`, `state`, `settings`,
plus helpers to authorize a seller and to make correctly signed calls.
`install_mug_catalog(sb)` stands a fixed three-SKU catalogue in for the product store.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn

from . import signing
from .app import create_app
from .seed import SHOPS, UK_SHOP_ID, US_SHOP_ID
from .settings import Settings
from .state import SandboxState

REGION_SHOP = {"US": US_SHOP_ID, "UK": UK_SHOP_ID}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SignedClient:
    """A minimal, correct TikTok client for tests (sync httpx, signs every call)."""

    base_url: str
    settings: Settings
    access_token: str
    cipher: str | None
    http: httpx.Client = field(repr=False)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        cipher: bool = True,
        files: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
        sign_override: str | None = None,
    ) -> httpx.Response:
        query = {k: str(v) for k, v in (params or {}).items()}
        query["app_key"] = self.settings.app_key
        query["timestamp"] = str(timestamp if timestamp is not None else int(time.time()))
        if cipher and self.cipher:
            query["shop_cipher"] = self.cipher
        body = b"" if json is None else orjson.dumps(json)
        signed_body = body if method != "GET" and files is None else b""
        query["sign"] = sign_override or signing.sign(
            self.settings.app_secret, path, query, signed_body
        )
        hdrs = {"x-tts-access-token": self.access_token, **(headers or {})}
        if files is not None:
            return self.http.request(
                method, path, params=query, files=files, data=data, headers=hdrs
            )
        if json is not None:
            hdrs["content-type"] = "application/json"
        return self.http.request(method, path, params=query, content=body or None, headers=hdrs)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Request and return the decoded envelope."""
        result: dict[str, Any] = self.request(method, path, **kwargs).json()
        return result

    def upload_image(self, width: int = 600, height: int = 400) -> dict[str, Any]:
        """Upload a generated PNG; returns `{uri, url, width, height, use_case}`."""
        body = self.call(
            "POST",
            "/product/202309/images/upload",
            cipher=False,
            files={"data": ("image.png", sample_png(width, height), "image/png")},
            data={"use_case": "MAIN_IMAGE"},
        )
        if body["code"] != 0:
            raise AssertionError(f"image upload failed: {body}")
        data: dict[str, Any] = body["data"]
        return data

    def leaf_id(self, keyword: str, version: str | None = None) -> str:
        """Id of the first leaf whose name contains `keyword`, in the tree of `version`
        (default: v2 for the US shop, v1 for the UK shop)."""
        version = version or ("v2" if self.cipher == SHOPS[US_SHOP_ID]["cipher"] else "v1")
        cats = self.call(
            "GET",
            "/product/202309/categories",
            params={"category_version": version, "keyword": keyword},
        )["data"]["categories"]
        return str(next(c["id"] for c in cats if c["is_leaf"]))


def sample_png(width: int, height: int) -> bytes:
    """A real (tiny, solid red) PNG of the given pixel size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


US_WAREHOUSE = "7068517275539719942"


def sample_sofa(client: SignedClient, seller_sku: str, **over: Any) -> dict[str, Any]:
    """A valid US create-product body (Sofas leaf) with two SKUs `<seller_sku>-GRY/-BLU`."""
    image = client.upload_image()
    body: dict[str, Any] = {
        "title": "Grey Sofa",
        "description": "<p>A <strong>comfy</strong> sofa</p><ul><li>3 seats</li></ul>",
        "category_id": client.leaf_id("Sofas"),
        "category_version": "v2",
        "brand_id": "7082427311584347905",
        "main_images": [{"uri": image["uri"]}],
        "product_attributes": [
            {"id": "101610", "values": [{"id": "1029402"}]},  # Foldable Furniture: Non-Foldable
            {"id": "100198", "values": [{"name": "Wood"}, {"name": "Velour"}]},
        ],
        "skus": [
            {
                "seller_sku": seller_sku + "-GRY",
                "sales_attributes": [{"id": "100089", "value_name": "Grey"}],
                "price": {"amount": "499.00", "currency": "USD"},
                "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 10}],
            },
            {
                "seller_sku": seller_sku + "-BLU",
                "sales_attributes": [{"name": "Color", "value_name": "Blue"}],
                "price": {"amount": "519.00", "currency": "USD"},
                "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 3}],
            },
        ],
        "package_weight": {"value": "40", "unit": "KILOGRAM"},
        "package_dimensions": {
            "length": "200",
            "width": "90",
            "height": "80",
            "unit": "CENTIMETER",
        },
    }
    body.update(over)
    return body


@dataclass
class RunningSandbox:
    base_url: str
    state: SandboxState
    settings: Settings
    http: httpx.Client = field(repr=False)

    def admin(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = self.http.request(method, path, json=json).json()
        return result

    def token_call(self, path: str, **params: str) -> dict[str, Any]:
        """GET a token endpoint (`/api/v2/token/...`) as this app; `params` may override."""
        query = {"app_key": self.settings.app_key, "app_secret": self.settings.app_secret}
        result: dict[str, Any] = self.http.get(path, params=query | params).json()
        return result

    def authorize(self, region: str = "US") -> dict[str, Any]:
        """Browserless OAuth: code from `/sandbox/v1/authorizations`, then token get."""
        code = self.admin("POST", "/sandbox/v1/authorizations", {"region": region})["data"]["code"]
        resp = self.token_call("/api/v2/token/get", auth_code=code, grant_type="authorized_code")
        data: dict[str, Any] = resp["data"]
        return data

    def client(self, region: str = "US", access_token: str | None = None) -> SignedClient:
        token = access_token or self.authorize(region)["access_token"]
        cipher = SHOPS[REGION_SHOP[region]]["cipher"]
        return SignedClient(self.base_url, self.settings, token, cipher, self.http)

    def shop_id(self, region: str = "US") -> str:
        return REGION_SHOP[region]


@contextlib.contextmanager
def run_sandbox(**settings_overrides: Any) -> Iterator[RunningSandbox]:
    """Serve a fresh sandbox (dev defaults + overrides, env ignored) on a free port."""
    settings = Settings(**settings_overrides)
    state = SandboxState(settings)
    app = create_app(settings, state)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        # Leave the process's logging alone (no config, no levels): uvicorn's defaults would
        # stop its loggers propagating to the root handler for every later test in the process.
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base_url, timeout=10)
    try:
        yield RunningSandbox(base_url, state, settings, http)
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)


# A fixed catalogue of three SKUs: order and fulfilment tests stand it in for the product
# store (another area), so their orders never depend on product creation and audit.
MUG_SKUS = {
    "1729592969712207012": (US_SHOP_ID, "MUG-RED", "24.00", "USD"),
    "1729592969712207013": (US_SHOP_ID, "MUG-BLUE", "19.50", "USD"),
    "1729592969712207099": (UK_SHOP_ID, "TEA-1", "4.20", "GBP"),
}


def install_mug_catalog(sandbox: RunningSandbox, *, image_url: str = "") -> None:
    """Answer the product store's SKU look-ups (by id, by seller SKU) from `MUG_SKUS`."""

    def sku(sku_id: str) -> dict[str, Any]:
        _, seller_sku, price, currency = MUG_SKUS[sku_id]
        return {
            "product_id": "1729592969712207008",
            "sku_id": sku_id,
            "seller_sku": seller_sku,
            "product_name": "Sandbox mug",
            "sku_name": seller_sku,
            "price": price,
            "currency": currency,
            "image_url": image_url,
        }

    def get_sku(shop_id: str, sku_id: str) -> dict[str, Any] | None:
        return sku(sku_id) if MUG_SKUS.get(sku_id, ("",))[0] == shop_id else None

    def find_by_seller_sku(shop_id: str, seller_sku: str) -> dict[str, Any] | None:
        found = (k for k, v in MUG_SKUS.items() if v[0] == shop_id and v[1] == seller_sku)
        return next((sku(k) for k in found), None)

    products = sandbox.state.products
    products.get_sku = get_sku  # type: ignore[method-assign]
    products.find_by_seller_sku = find_by_seller_sku  # type: ignore[method-assign]
