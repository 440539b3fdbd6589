"""HTTP to the services: one `Api` per service, every failure turned into a `CliError`.

The CLI talks to the services' HTTP APIs only (never their databases or modules). Each
service answers errors as `{"error": code, "detail": message}` (docs/architecture.md); a 422
adds `fields` (request validation) or `problems` (a refused feed file, docs/feeds.md "The feed
file"). `raise_for` maps status codes to exit codes and adds what to do. The key travels in a
header only and is never part of a message: httpx's errors name the URL, not the headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tts_cli.errors import CliError, ExitCode

# A normal call answers within seconds; an upload or a long report may take much longer,
# so those pass `timeout=UPLOAD_TIMEOUT` (no read deadline once connected).
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
UPLOAD_TIMEOUT = httpx.Timeout(None, connect=10.0)


@dataclass(frozen=True)
class Service:
    """One service as the CLI reaches it: its name, base URL, the key header and how the
    user changes the URL (for the hint when it is not reachable)."""

    name: str
    base_url: str
    key: str = field(repr=False)
    url_option: str
    url_env: str
    key_option: str = "--api-key"
    key_env: str = "TTS_API_KEY"


class Api:
    """A small synchronous client of one service (one connection pool per command)."""

    def __init__(self, service: Service, transport: httpx.BaseTransport | None = None) -> None:
        self.service = service
        self._http = httpx.Client(
            base_url=service.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {service.key}", "User-Agent": "tts-cli"},
            timeout=DEFAULT_TIMEOUT,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> httpx.Response:
        """The answer to `method path`; a `CliError` for no answer or an unexpected status."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.status_code not in set(expect):
            raise_for(self.service, response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.service.name} answered {method} {path} with something that is not JSON",
                hint=f"check that {self.service.url_option} points at {self.service.name}",
                code=ExitCode.SERVICE,
            ) from None

    def stream_to(self, path: str, out: Any, **kwargs: Any) -> int:
        """GET `path` into the binary file `out`, chunk by chunk; the bytes written."""
        written = 0
        try:
            with self._http.stream("GET", path, timeout=UPLOAD_TIMEOUT, **kwargs) as response:
                if response.status_code != 200:
                    response.read()
                    raise_for(self.service, response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        return written

    def upload(
        self, method: str, path: str, chunks: Iterator[bytes], **kwargs: Any
    ) -> httpx.Response:
        """Send `chunks` as the body (streamed, never read whole); any status comes back."""
        try:
            return self._http.request(
                method, path, content=chunks, timeout=UPLOAD_TIMEOUT, **kwargs
            )
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: httpx.TransportError) -> CliError:
        s = self.service
        what = (
            "did not answer in time"
            if isinstance(exc, httpx.TimeoutException)
            else ("is not reachable")
        )
        return CliError(
            f"{s.name} {what} at {s.base_url} ({type(exc).__name__})",
            hint=f"start it with `make up` (check with `make status`), or point {s.url_option} "
            f"/ {s.url_env} at a running {s.name}",
            code=ExitCode.UNREACHABLE,
        )


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The service's `{"error", "detail", ...}` body, or a stand-in when it is not JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"error": f"http_{response.status_code}", "detail": response.text[:300] or None}


def problems_of(body: dict[str, Any]) -> list[str]:
    """One line per problem the body lists: request fields, feed-file problems, upload rows."""
    lines: list[str] = []
    for f in body.get("fields") or []:
        if isinstance(f, dict):
            lines.append(f"{f.get('field')}: {f.get('problem')}")
    for p in body.get("problems") or []:
        if isinstance(p, dict):
            where = p.get("path") or (f"line {p['line']}" if p.get("line") else "")
            line = f" (line {p['line']})" if p.get("path") and p.get("line") else ""
            lines.append(f"{where}{line}: {p.get('problem') or p.get('reason')}")
    return lines


def raise_for(service: Service, response: httpx.Response) -> None:
    """Raise the `CliError` for an error answer of `service`."""
    body = error_body(response)
    status = response.status_code
    code_name = str(body.get("error") or f"http_{status}")
    detail = body.get("detail")
    method = response.request.method
    path = response.request.url.path
    message = f"{service.name} refused {method} {path}: {status} {code_name}"
    if detail:
        message += f" — {detail}"
    problems = problems_of(body)
    if status in (401, 403):
        hint = (
            f"the key was refused or lacks the scope: pass a key {service.name} accepts with "
            f"{service.key_option} or {service.key_env}"
        )
        code = ExitCode.AUTH
    elif status == 404:
        hint = "check the name or id (the matching `list` command shows what exists)"
        code = ExitCode.NOT_FOUND
    elif status == 409:
        hint = _CONFLICT_HINTS.get(code_name, "see the detail; the current state allows no change")
        code = ExitCode.CONFLICT
    elif status in (400, 413, 415, 422):
        hint = "fix the input as listed and try again"
        code = ExitCode.INVALID
    elif status == 503:
        hint = f"{service.name} is not ready (`make status`, its /readyz says why); retry shortly"
        code = ExitCode.UNREACHABLE
    else:
        hint = f"{service.name}'s log has the reason; retry, or report it if it persists"
        code = ExitCode.SERVICE
    raise CliError(message, hint=hint, code=code, problems=problems, body=body)


_CONFLICT_HINTS = {
    "run_in_progress": "wait for the feed's current run (`tts runs list FEED`), or cancel it",
    "no_connection": "give the feed a connection_id in its feed file (`tts connections list`) "
    "and `tts feeds apply -f FILE` again",
    "mass_deletion_refused": "the snapshot would delete too many products: check the file, or pass "
    "--force to delete them anyway",
    "not_paused": "the feed is not paused: start a run instead",
    "run_finished": "the run has already finished",
}
