"""Shipment intake: `shipment.created` events, `POST /v1/shipments` and bulk uploads.

Intake only stores: the sender (`sender.py`) does the checks and the TikTok calls, so an
event handler or a request never waits on TikTok and a stored shipment survives a restart.
The same (order, tracking number) is one shipment however often it arrives: a repeat
returns the stored id and changes nothing — unless the stored one was rejected for a reason
the sender's side can fix (a carrier mapped since, an export activated since), which queues it
again. A new tracking number for an order whose earlier one is still waiting replaces it.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import ShipmentCreated

from shipment_notifier import fieldmap, outcomes
from shipment_notifier.models import Shipment

# Rejections a re-sent shipment may get past (the mapping or the export changed since).
FIXABLE = ["unknown_carrier", "no_export", "order_unknown"]

_INSERT = text(
    "INSERT INTO shipments (id, order_id, tracking_number, carrier, shipping_provider_id,"
    " shipped_at, line_item_ids, external_id, source, export_id)"
    " VALUES (:id, :order_id, :tracking_number, :carrier, :shipping_provider_id, :shipped_at,"
    " CAST(:line_item_ids AS jsonb), :external_id, :source, CAST(:export_id AS uuid))"
    " ON CONFLICT (order_id, tracking_number) DO UPDATE SET"
    " carrier = excluded.carrier, shipping_provider_id = excluded.shipping_provider_id,"
    " shipped_at = excluded.shipped_at, line_item_ids = excluded.line_item_ids,"
    " export_id = coalesce(excluded.export_id, shipments.export_id),"
    " status = 'queued', code = NULL, reason = NULL, due_at = now(), attempts = 0,"
    " updated_at = now()"
    " WHERE shipments.status = 'rejected' AND shipments.code = ANY(:fixable)"
    " RETURNING id, (xmax = 0) AS inserted"
)
_EXISTING = text("SELECT id FROM shipments WHERE order_id = :order AND tracking_number = :tn")
_EARLIER = text(
    "SELECT id FROM shipments WHERE order_id = :order AND tracking_number <> :tn"
    " AND status IN ('queued', 'deferred') FOR UPDATE"
)


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool


async def accept(
    session: AsyncSession, data: ShipmentCreated, *, source: str, export_id: str | None = None
) -> Accepted:
    """Store a shipment (flush only); a repeat of a stored (order, tracking number) is a no-op."""
    row = (
        await session.execute(
            _INSERT,
            {
                "id": str(uuid.uuid4()),
                "order_id": data.order_id,
                "tracking_number": data.tracking_number,
                "carrier": data.carrier,
                "shipping_provider_id": data.shipping_provider_id,
                "shipped_at": data.shipped_at,
                "line_item_ids": None
                if data.line_item_ids is None
                else orjson.dumps(data.line_item_ids).decode(),
                "external_id": data.shipment_id,
                "source": source,
                "export_id": export_id,
                "fixable": FIXABLE,
            },
        )
    ).first()
    if row is None:
        existing = await session.scalar(
            _EXISTING, {"order": data.order_id, "tn": data.tracking_number}
        )
        return Accepted(str(existing), duplicate=True)
    shipment_id = str(row.id)
    if row.inserted:
        for (earlier,) in await session.execute(
            _EARLIER, {"order": data.order_id, "tn": data.tracking_number}
        ):
            found = await session.get(Shipment, str(earlier))
            assert found is not None
            await outcomes.supersede(session, found, by=data.tracking_number)
    return Accepted(shipment_id, duplicate=not row.inserted)


async def on_shipment_created(session: AsyncSession, data: ShipmentCreated) -> None:
    """tiktok.shipment-created.v1 (invalid data never gets here: the consumer runner
    dead-letters it, naming the field)."""
    await accept(session, data, source="kafka")


# --- bulk upload (NDJSON or CSV) ---------------------------------------------------------


@dataclass
class LineError:
    line: int
    field: str
    message: str


@dataclass
class Parsed:
    items: list[tuple[int, ShipmentCreated]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def validate(
    payload: Mapping[str, Any], mapping: Mapping[str, str], line: int, out: Parsed
) -> None:
    values = fieldmap.apply(mapping, payload)
    ids = values.get("line_item_ids")
    if isinstance(ids, str):  # a CSV cell: "id1;id2"
        values["line_item_ids"] = [p.strip() for p in ids.replace("|", ";").split(";") if p.strip()]
    try:
        out.items.append((line, ShipmentCreated.model_validate(values)))
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "carrier"
            out.errors.append(LineError(line, loc, err["msg"]))


def _ndjson(raw: bytes) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError:
            yield number, None


def parse_upload(raw: bytes, fmt: str, mapping: Mapping[str, str]) -> Parsed:
    out = Parsed()
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            validate(
                {k: v for k, v in row.items() if k and v not in (None, "")}, mapping, number, out
            )
        return out
    for number, value in _ndjson(raw):
        if not isinstance(value, dict):
            out.errors.append(LineError(number, "<line>", "not a JSON object"))
            continue
        validate(value, mapping, number, out)
    return out
