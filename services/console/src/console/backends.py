"""The services behind the console, over HTTP only (the console owns no business data).

One `httpx.AsyncClient` per service, each presenting its key (`TTS_SERVICES_API_KEY`, or the
broker's admin key). Two failures matter to a page:

- `BackendDown`: the service did not answer (refused, timed out) or answered 5xx — the page
  shows a banner naming the service, never a trace;
- `BackendRefused`: a 4xx with the service's `ErrorBody` — the page shows the detail, and a
  422's `fields` beside the form fields they name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from console.config import Settings

log = logging.getLogger(__name__)


class BackendDown(Exception):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class BackendRefused(Exception):
    def __init__(self, service: str, status: int, body: Any) -> None:
        self.service = service
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.code = str(self.body.get("error", f"http_{status}"))
        self.detail = str(self.body.get("detail", "") or self.code)
        super().__init__(f"{service}: {status} {self.code}")

    def field_errors(self) -> dict[str, str]:
        """`{"name": "String should match pattern ..."}` from an ErrorBody's `fields`.

        A field is named by its last location part (`body.name` -> `name`); a feed file's
        `problems` (path, problem) are mapped the same way.
        """
        out: dict[str, str] = {}
        for item in self.body.get("fields") or []:
            if isinstance(item, dict) and "field" in item:
                name = str(item["field"]).split(".")[-1]
                out.setdefault(name, str(item.get("problem", "")))
        for item in self.body.get("problems") or []:
            if isinstance(item, dict) and "path" in item:
                name = str(item["path"]).split(".")[-1]
                out.setdefault(name, str(item.get("problem", "")))
        return out


@dataclass
class Backend:
    name: str
    base_url: str
    client: httpx.AsyncClient

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        limit_s: float | None = None,
    ) -> httpx.Response:
        """The raw response of a 2xx/4xx; BackendDown for no answer or a 5xx."""
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            request = self.client.build_request(
                method,
                path,
                params=clean,
                json=json,
                content=content,
                headers=headers,
                timeout=limit_s if limit_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
            response = await self.client.send(request)
        except httpx.TimeoutException:
            raise BackendDown(self.name, "did not answer in time") from None
        except httpx.HTTPError as exc:
            raise BackendDown(self.name, f"not reachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            log.warning(
                "backend answered an error",
                extra={"backend": self.name, "status": response.status_code, "path": path},
            )
            raise BackendDown(self.name, _server_error(response))
        return response

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON of a 2xx (None for 204); BackendRefused for a 4xx."""
        response = await self.send(method, path, **kw)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise BackendRefused(self.name, response.status_code, body)
        if response.status_code == 204 or not response.content:
            return None
        ctype = response.headers.get("content-type", "")
        return response.json() if "json" in ctype else response.text

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        return await self.call("POST", path, **kw)


def _server_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("detail"):
        return f"answered {response.status_code}: {str(body['detail'])[:300]}"
    return f"answered {response.status_code}"


@dataclass
class Backends:
    broker: Backend
    catalog: Backend
    orders: Backend
    shipments: Backend
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        timeout = httpx.Timeout(settings.backend_timeout_seconds, connect=3.0)
        key = settings.services_api_key.get_secret_value()
        admin = settings.broker_admin_key.get_secret_value()

        def client(base: str, secret: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=timeout
            )

        clients = [
            client(settings.auth_broker_url, admin),
            client(settings.catalog_sync_url, key),
            client(settings.order_ingest_url, key),
            client(settings.shipment_notifier_url, key),
        ]
        return cls(
            Backend("auth-broker", settings.auth_broker_url, clients[0]),
            Backend("catalog-sync", settings.catalog_sync_url, clients[1]),
            Backend("order-ingest", settings.order_ingest_url, clients[2]),
            Backend("shipment-notifier", settings.shipment_notifier_url, clients[3]),
            clients,
        )

    def all(self) -> list[Backend]:
        return [self.broker, self.catalog, self.orders, self.shipments]

    async def aclose(self) -> None:
        for c in self._clients:
            await c.aclose()

    async def check_admin_key(self, key: str) -> bool:
        """True when the auth-broker accepts `key` as an admin key (a read of its connections).

        The key is sent once and forgotten: never stored, logged or put in the session.
        """
        try:
            response = await self.broker.client.get(
                "/v1/connections", headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.HTTPError as exc:
            raise BackendDown(self.broker.name, f"not reachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise BackendDown(self.broker.name, _server_error(response))
        return response.status_code == 200
