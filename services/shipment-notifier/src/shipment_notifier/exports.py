"""Shipment exports: create, read, change, delete, and the export file (YAML) applied whole.

Services here take the request's session and only flush (the entrypoint commits). An export
file is one YAML document shaped like `ExportIn`; applying it creates the export it names or
updates it, idempotently (the same file twice changes nothing the second time).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import AppError, BadRequest, Conflict, NotFound

from shipment_notifier import fieldmap
from shipment_notifier.carriers import CarrierRule
from shipment_notifier.models import ShipmentExport

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
MAX_FILE_BYTES = 1024 * 1024


def _check_mapping(value: dict[str, str]) -> dict[str, str]:
    problems = fieldmap.validate_mapping(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


class ExportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection_id: str | None = Field(default=None, description="the auth-broker connection")
    active: bool = False
    feedback_enabled: bool = Field(default=True, description="keep feedback records")
    carriers: list[CarrierRule] = Field(default_factory=list)
    field_mapping: dict[str, str] = Field(
        default_factory=dict, description="shipment field → path in the OMS payload"
    )

    _mapping = field_validator("field_mapping")(_check_mapping)


class ExportIn(ExportSettings):
    name: str = Field(pattern=NAME_PATTERN)


class ExportPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    connection_id: str | None = None
    active: bool | None = None
    feedback_enabled: bool | None = None
    carriers: list[CarrierRule] | None = None
    field_mapping: dict[str, str] | None = None

    @field_validator("field_mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_mapping(value)


class ExportOut(ExportIn):
    id: str
    version: int
    created_at: datetime
    updated_at: datetime


def to_out(export: ShipmentExport) -> ExportOut:
    return ExportOut(
        id=export.id,
        name=export.name,
        connection_id=export.connection_id,
        active=export.active,
        feedback_enabled=export.feedback_enabled,
        carriers=[CarrierRule.model_validate(c) for c in export.carriers],
        field_mapping=export.field_mapping,
        version=export.version,
        created_at=export.created_at,
        updated_at=export.updated_at,
    )


def _columns(body: BaseModel, *, exclude_unset: bool) -> dict[str, Any]:
    values = body.model_dump(mode="json", exclude_unset=exclude_unset)
    return values


async def _flush(session: AsyncSession, export: ShipmentExport) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if "shipment_exports_active_connection" in text:
            raise Conflict(
                f"connection {export.connection_id} already has an active shipment export; "
                "deactivate it first",
                code="connection_has_active_export",
            ) from None
        raise Conflict(
            f"a shipment export named {export.name!r} exists", code="name_taken"
        ) from None
    await session.refresh(export)


async def create(session: AsyncSession, body: ExportIn) -> ExportOut:
    export = ShipmentExport(id=str(uuid.uuid4()), **_columns(body, exclude_unset=False))
    session.add(export)
    await _flush(session, export)
    return to_out(export)


async def get(session: AsyncSession, export_id: str) -> ShipmentExport:
    try:
        uuid.UUID(export_id)
    except ValueError:
        raise NotFound(f"no shipment export {export_id}", code="export_not_found") from None
    export = await session.get(ShipmentExport, export_id)
    if export is None:
        raise NotFound(f"no shipment export {export_id}", code="export_not_found")
    return export


async def list_all(session: AsyncSession) -> list[ExportOut]:
    rows = await session.scalars(select(ShipmentExport).order_by(ShipmentExport.name))
    return [to_out(e) for e in rows]


async def update(session: AsyncSession, export_id: str, patch: ExportPatch) -> ExportOut:
    export = await get(session, export_id)
    changes = _columns(patch, exclude_unset=True)
    if any(getattr(export, k) != v for k, v in changes.items()):
        for key, value in changes.items():
            setattr(export, key, value)
        export.version += 1
        await _flush(session, export)
    return to_out(export)


async def delete(session: AsyncSession, export_id: str) -> None:
    export = await get(session, export_id)
    await session.delete(export)
    await session.flush()


async def active_for_connection(session: AsyncSession, connection_id: str) -> ShipmentExport | None:
    found: ShipmentExport | None = await session.scalar(
        select(ShipmentExport).where(
            ShipmentExport.connection_id == connection_id, ShipmentExport.active.is_(True)
        )
    )
    return found


async def active_connections(session: AsyncSession) -> list[tuple[str, str]]:
    """(export id, connection id) of every active export with a connection."""
    rows = await session.execute(
        select(ShipmentExport.id, ShipmentExport.connection_id).where(
            ShipmentExport.active.is_(True), ShipmentExport.connection_id.is_not(None)
        )
    )
    return [(str(r[0]), str(r[1])) for r in rows]


# --- the export file ---------------------------------------------------------------------


def parse_file(raw: bytes) -> ExportIn:
    """One YAML document → `ExportIn`; refused with every problem (path in the file, what)."""
    if len(raw) > MAX_FILE_BYTES:
        raise BadRequest(f"an export file is at most {MAX_FILE_BYTES} bytes", code="file_too_large")
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadRequest(f"not a YAML document: {exc}", code="invalid_export_file") from None
    if not isinstance(document, dict):
        raise BadRequest(
            "the export file must be a mapping (name: ..., carriers: ...)",
            code="invalid_export_file",
        )
    try:
        return ExportIn.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise AppError(
            "the export file is invalid: " + "; ".join(problems),
            code="invalid_export_file",
            status_code=422,
        ) from None


async def apply_file(session: AsyncSession, raw: bytes) -> tuple[ExportOut, bool]:
    """Create or update the export the file names; (the export, whether anything changed)."""
    body = parse_file(raw)
    existing = await session.scalar(select(ShipmentExport).where(ShipmentExport.name == body.name))
    if existing is None:
        return await create(session, body), True
    before = existing.version
    out = await update(session, existing.id, ExportPatch(**body.model_dump(exclude={"name"})))
    return out, out.version != before


def dump_file(export: ExportOut) -> str:
    """The export as a file `apply_file` accepts unchanged."""
    body = ExportIn.model_validate(export.model_dump(include=set(ExportIn.model_fields)))
    return yaml.safe_dump(body.model_dump(mode="json", exclude_none=True), sort_keys=False)
