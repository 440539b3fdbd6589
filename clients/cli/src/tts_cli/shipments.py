"""`tts shipments list|post`: tracking numbers shipment-notifier sends to TikTok
(docs/shipments.md).

`post` sends one shipment from options, or many from a file (`-f`, NDJSON or CSV, one per
line, errors reported per line). Either way the notifier answers at once (202) and notifies
TikTok on its own; `tts shipments list` shows how each one ended.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tts_cli import render
from tts_cli.context import config, wants_json
from tts_cli.errors import CliError, ExitCode
from tts_cli.files import read_file
from tts_cli.options import JsonOpt, aware

app = typer.Typer(help="Shipments: tracking numbers sent to TikTok (shipment-notifier).")

PAGE = 500


class Status(StrEnum):
    queued = "queued"
    deferred = "deferred"
    sending = "sending"
    notified = "notified"
    rejected = "rejected"
    superseded = "superseded"


@app.command("list")
def list_shipments(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option("--status", help="only this status")] = None,
    order_id: Annotated[str | None, typer.Option("--order-id", help="only this order")] = None,
    export_id: Annotated[str | None, typer.Option("--export-id", help="only this export")] = None,
    limit: Annotated[int, typer.Option(help="at most this many", min=1)] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Shipments, with their status and TikTok's answer."""
    params: dict[str, Any] = {}
    if status is not None:
        params["status"] = status.value
    if order_id:
        params["order_id"] = order_id
    if export_id:
        params["export_id"] = export_id
    found: list[dict[str, Any]] = []
    token: str | None = None
    with config(ctx).shipments() as api:
        while len(found) < limit:
            page_params = {**params, "limit": min(PAGE, limit - len(found))}
            if token:
                page_params["page_token"] = token
            page = api.json("GET", "/v1/shipments", params=page_params)
            found.extend(page.get("shipments") or [])
            token = page.get("next_page_token")
            if not token:
                break
    if wants_json(ctx, json_out):
        render.emit_json(found)
        return
    render.table(
        "shipments",
        ["id", "order", "tracking number", "carrier", "status", "code", "reason", "deferred until"],
        (
            [
                s["id"],
                s["order_id"],
                s["tracking_number"],
                s.get("carrier") or s.get("provider_id"),
                s["status"],
                s.get("code"),
                s.get("reason"),
                s.get("deferred_until"),
            ]
            for s in found
        ),
        empty="no shipments match",
    )
    if token:
        render.note(f"showing the first {len(found)}; --limit shows more")


class UploadFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


@app.command("post")
def post(
    ctx: typer.Context,
    order_id: Annotated[str | None, typer.Option("--order-id", help="the TikTok order")] = None,
    tracking_number: Annotated[str | None, typer.Option("--tracking-number")] = None,
    carrier: Annotated[
        str | None, typer.Option("--carrier", help="the carrier's name, e.g. Royal Mail 24")
    ] = None,
    shipped_at: Annotated[
        datetime | None, typer.Option("--shipped-at", help="when it left (default: now)")
    ] = None,
    line_item: Annotated[
        list[str] | None,
        typer.Option("--line-item", help="a line item id it holds (repeatable; default: all)"),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="many shipments: NDJSON or CSV, one per line"),
    ] = None,
    fmt: Annotated[
        UploadFormat | None,
        typer.Option("--format", help="the file's format (default: from its name)"),
    ] = None,
    export_id: Annotated[
        str | None,
        typer.Option("--export-id", help="map the fields with this export's field mapping"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Send a shipment's tracking number to TikTok (or a file of them with -f)."""
    params = {"export_id": export_id} if export_id else {}
    as_json = wants_json(ctx, json_out)
    if file is not None:
        _post_file(ctx, file, fmt, params, as_json)
        return
    if not (order_id and tracking_number):
        raise CliError(
            "a shipment needs --order-id and --tracking-number (or -f FILE for many)",
            hint="e.g. tts shipments post --order-id 5764… --tracking-number 1Z999… "
            "--carrier 'Royal Mail 24'",
            code=ExitCode.USAGE,
        )
    payload: dict[str, Any] = {
        "order_id": order_id,
        "tracking_number": tracking_number,
        "shipped_at": aware(shipped_at or datetime.now()).isoformat(),
    }
    if carrier:
        payload["carrier"] = carrier
    if line_item:
        payload["line_item_ids"] = line_item
    with config(ctx).shipments() as api:
        accepted = api.json("POST", "/v1/shipments", json=payload, params=params)
    if as_json:
        render.emit_json(accepted)
        return
    what = "already received (nothing new)" if accepted.get("duplicate") else "accepted"
    render.out.print(f"shipment {accepted['id']} {what}", markup=False)


def _post_file(
    ctx: typer.Context,
    file: Path,
    fmt: UploadFormat | None,
    params: dict[str, str],
    as_json: bool,
) -> None:
    if fmt is None:
        fmt = UploadFormat.csv if file.suffix.lower() == ".csv" else UploadFormat.ndjson
    raw = read_file(file)
    ctype = "text/csv" if fmt is UploadFormat.csv else "application/x-ndjson"
    with config(ctx).shipments() as api:
        result = api.json(
            "POST",
            "/v1/shipments:upload",
            content=raw,
            params={**params, "format": fmt.value},
            headers={"Content-Type": ctype},
        )
    if as_json:
        render.emit_json(result)
    else:
        render.out.print(
            f"{result.get('accepted', 0)} accepted, {result.get('duplicates', 0)} already "
            f"received, {len(result.get('errors') or [])} refused"
        )
        render.table(
            "refused lines",
            ["line", "field", "problem"],
            ([e["line"], e["field"], e["problem"]] for e in result.get("errors") or []),
            empty="none",
        )
    if result.get("errors"):
        raise typer.Exit(int(ExitCode.INVALID))
