"""The small HTML pages a seller sees at the end of the OAuth redirect."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}</style>
</head><body><h1>{title}</h1><p>{body}</p></body></html>
"""


def page(title: str, body: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=escape(title), body=escape(body)),
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def connected(name: str, shops: list[str]) -> HTMLResponse:
    listed = ", ".join(shops) if shops else "no shops"
    return page(
        "Connected — you can close this window",
        f"The TikTok Shop connection “{name}” is authorized ({listed}). You can close this window.",
        200,
    )
