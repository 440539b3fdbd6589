"""`tts connections list|connect`: the auth-broker's connections (docs/auth-broker.md).

`connect` creates a connection and hands the seller's authorize URL to the person running it
(printed, and opened in a browser with `--open`); `--wait` then polls the connection until
TikTok's redirect has made it `active`. Tokens never reach the CLI: the broker's connection
views hold none.
"""

from __future__ import annotations

import threading
import time
import webbrowser
from enum import StrEnum
from typing import Annotated, Any

import typer

from tts_cli import render
from tts_cli.context import config, wants_json
from tts_cli.errors import CliError, ExitCode
from tts_cli.options import JsonOpt

app = typer.Typer(help="OAuth connections to TikTok Shop sellers (auth-broker).")


class Market(StrEnum):
    US = "US"
    UK = "UK"


def _shops(conn: dict[str, Any]) -> str:
    return ", ".join(f"{s.get('name')} ({s.get('region')})" for s in conn.get("shops") or [])


@app.command("list")
def list_connections(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every connection: market, status (and why), shops, when the authorization ends."""
    with config(ctx).broker() as api:
        conns = api.json("GET", "/v1/connections")
    if wants_json(ctx, json_out):
        render.emit_json(conns)
        return
    render.table(
        "connections",
        ["id", "name", "market", "status", "shops", "authorization ends", "reason"],
        (
            [
                c["id"],
                c["name"],
                c["market"],
                c["status"],
                _shops(c),
                c.get("authorization_expires_at") or c.get("refresh_token_expires_at"),
                c.get("status_reason"),
            ]
            for c in conns
        ),
        empty="none yet: `tts connections connect NAME --market US|UK`",
    )


@app.command("connect")
def connect(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="a name for the connection, e.g. uk-main")],
    market: Annotated[Market, typer.Option("--market", "-m", help="the shop's market")],
    open_browser: Annotated[
        bool, typer.Option("--open", help="open the authorize URL in a browser")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait until the seller has authorized it")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most", min=1)] = 900.0,
    interval: Annotated[float, typer.Option(help="seconds between checks", min=0.1)] = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Create a connection and print the URL the seller opens to authorize it."""
    as_json = wants_json(ctx, json_out)
    with config(ctx).broker() as api:
        created = api.json("POST", "/v1/connections", json={"name": name, "market": market.value})
        url = created["authorize_url"]
        if not as_json:
            render.out.print(f"connection [bold]{created['id']}[/] ({market.value}) created.")
            render.out.print("The seller authorizes it by opening:")
            render.out.print(url, soft_wrap=True, markup=False)
        elif wait:
            # The document comes once it is active; the seller needs the URL now.
            render.note(f"the seller authorizes connection {created['id']} by opening:")
            render.err.print(url, soft_wrap=True, markup=False)
        if open_browser:
            webbrowser.open(url)
        if not wait:
            if as_json:
                render.emit_json(created)
            return
        conn = _wait_active(api, created["id"], timeout, interval)
    if as_json:
        render.emit_json(conn)
        return
    render.out.print(f"connected: {_shops(conn) or 'no shops'}", markup=False)


def _wait_active(api: Any, conn_id: str, timeout: float, interval: float) -> dict[str, Any]:
    """Poll the connection until `active`; a CliError when it ends otherwise or time runs out.

    A TikTok refusal leaves the connection `pending` with a `status_reason` (the callback
    page says the same), so a reason that appears is reported instead of waiting on.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    with render.err.status("waiting for the seller to authorize…"):
        while True:
            conn: dict[str, Any] = api.json("GET", f"/v1/connections/{conn_id}")
            status = conn.get("status")
            if status in ("active", "expiring"):
                return conn
            if status in ("revoked", "expired") or conn.get("status_reason"):
                raise CliError(
                    f"connection {conn_id} is {status}: {conn.get('status_reason') or ''}".strip(),
                    hint="`tts connections connect` again, with the seller account of the "
                    "connection's market",
                    code=ExitCode.FAILED,
                    body=conn,
                )
            if time.monotonic() >= deadline:
                raise CliError(
                    f"connection {conn_id} is still {status} after {timeout:g}s",
                    hint="open the authorize URL and approve it, then `tts connections list`",
                    code=ExitCode.FAILED,
                    body=conn,
                )
            pause.wait(interval)
