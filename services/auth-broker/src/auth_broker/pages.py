"""The small HTML pages a seller sees at the end of the OAuth redirect."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from fastapi.responses import HTMLResponse

_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}"
_PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
    "<style>" + _STYLE.replace("{", "{{").replace("}", "}}") + "</style>\n"
    "</head><body><h1>{title}</h1><p>{body}</p></body></html>\n"
)
# Static pages: no script, no frame, no form, nothing loaded; the one inline style is allowed
# by its hash, so an injected <style> or <script> would not run even if escaping failed.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
PAGE_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def page(title: str, body: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=escape(title), body=escape(body)),
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def connected(name: str, shops: list[str]) -> HTMLResponse:
    listed = ", ".join(shops) if shops else "no shops"
    return page(
        "Connected — you can close this window",
        f"The TikTok Shop connection “{name}” is authorized ({listed}). You can close this window.",
        200,
    )
