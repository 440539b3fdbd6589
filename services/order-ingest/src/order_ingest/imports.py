"""Order imports: the CRUD service behind `/v1/order-imports` and the imports file.

An import is Productsup's "TikTok Shop Order Import" data source: a connection (the shop),
an order status filter (empty = every status), the earliest creation and update time in
whole days, a poll interval, an active flag and an optional OMS push destination. The push
secret is stored as given and never returned: answers say `push_secret_set`.
Functions take the caller's session and only flush (docs/architecture.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import Conflict, NotFound

from order_ingest.models import STATUSES

MAX_DAYS = 36500
DAYS_PROBLEM = (
    f"must be a whole non-negative number of days (e.g. 7, at most {MAX_DAYS}), "
    "or null for no limit"
)


def _whole_days(value: Any) -> Any:
    """Productsup's "a digit" fields: 7 or "7"; 1.5, -1, "7d" or true are refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(DAYS_PROBLEM)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value <= MAX_DAYS:
        return value
    raise ValueError(DAYS_PROBLEM)


Days = Annotated[int | None, BeforeValidator(_whole_days)]
Status = Annotated[str, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]


def _statuses(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("must be a list of TikTok order statuses")
    out: list[str] = []
    for item in value:
        name = str(item).strip().upper()
        if name not in STATUSES:
            raise ValueError(f"unknown order status {item!r}; known: {', '.join(STATUSES)}")
        if name not in out:
            out.append(name)
    return out


Statuses = Annotated[list[str], BeforeValidator(_statuses)]
# An auth-broker connection id (a UUID there; any id of these characters is accepted).
ConnectionId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable: no NUL or control characters
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]


def _storable(value: Any) -> bool:
    """Can PostgreSQL store this text? (no NUL, no lone surrogate: neither is UTF-8 text)"""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


class Storable(BaseModel):
    """Refuses text PostgreSQL cannot store (a 422 naming the problem, never a 500)."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if not _storable(data):
            raise ValueError("text may not contain NUL characters or lone surrogates")
        return data


class Push(Storable):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    secret: str = Field(
        min_length=16, max_length=512, pattern=r"^[^\x00]+$", description="HMAC key; never returned"
    )


class ImportIn(Storable):
    model_config = ConfigDict(extra="forbid")

    connection_id: ConnectionId
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: Text = ""
    statuses: Statuses = Field(default_factory=list, description="empty = every status")
    created_within_days: Days = Field(default=None, description="earliest creation, in days")
    updated_within_days: Days = Field(default=None, description="earliest update, in days")
    poll_interval_seconds: float = Field(default=300.0, ge=0.2, le=86400)
    active: bool = True
    push: Push | None = None


class ImportPatch(Storable):
    model_config = ConfigDict(extra="forbid")

    connection_id: ConnectionId | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: Text | None = None
    statuses: Statuses | None = None
    created_within_days: Days = None
    updated_within_days: Days = None
    poll_interval_seconds: float | None = Field(default=None, ge=0.2, le=86400)
    active: bool | None = None
    push: Push | None = None


class ImportOut(BaseModel):
    id: str
    name: str | None
    connection_id: str
    description: str
    statuses: list[str]
    created_within_days: int | None
    updated_within_days: int | None
    poll_interval_seconds: float
    active: bool
    push_url: str | None
    push_secret_set: bool
    shop_id: str | None
    watermark: int | None = Field(description="highest update_time a finished pass saw")
    next_poll_at: datetime
    version: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    "id, name, connection_id, description, statuses, created_within_days, updated_within_days,"
    " poll_interval_seconds, active, push_url, push_secret IS NOT NULL AS push_secret_set,"
    " shop_id, watermark, next_poll_at, version, created_at, updated_at"
)


def out(row: Any) -> ImportOut:
    data = dict(row._mapping)
    data["id"] = str(data["id"])
    data["statuses"] = list(data["statuses"] or [])
    return ImportOut(**data)


def _values(body: ImportIn | ImportPatch, fields: set[str]) -> dict[str, Any]:
    values = {k: getattr(body, k) for k in fields if k != "push"}
    if "push" in fields:
        push = body.push
        values["push_url"] = str(push.url) if push else None
        values["push_secret"] = push.secret if push else None
    return values


async def _unique_name(session: AsyncSession, name: str | None, own: str | None) -> None:
    if name is None:
        return
    row = await session.execute(text("SELECT id FROM order_imports WHERE name = :n"), {"n": name})
    found = row.scalar()
    if found is not None and str(found) != own:
        raise Conflict(f"an import named {name!r} exists already", code="import_name_taken")


async def create(session: AsyncSession, body: ImportIn, import_id: str | None = None) -> ImportOut:
    await _unique_name(session, body.name, None)
    values = _values(body, set(ImportIn.model_fields))
    values["id"] = import_id or str(uuid.uuid4())
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    row = await session.execute(
        text(f"INSERT INTO order_imports ({names}) VALUES ({params}) RETURNING {_COLUMNS}"),
        values,
    )
    await session.flush()
    return out(row.one())


async def get(session: AsyncSession, import_id: str) -> ImportOut:
    row = await session.execute(
        text(f"SELECT {_COLUMNS} FROM order_imports WHERE id = CAST(:id AS uuid)"),
        {"id": _uuid(import_id)},
    )
    found = row.one_or_none()
    if found is None:
        raise NotFound(f"no order import {import_id}", code="import_not_found")
    return out(found)


async def list_imports(session: AsyncSession) -> list[ImportOut]:
    rows = await session.execute(
        text(f"SELECT {_COLUMNS} FROM order_imports ORDER BY created_at, id")
    )
    return [out(r) for r in rows]


async def update(session: AsyncSession, import_id: str, patch: ImportPatch) -> ImportOut:
    """Apply the fields the patch names (`"push": null` removes the destination)."""
    await get(session, import_id)
    fields = set(patch.model_fields_set)
    if "name" in fields:
        await _unique_name(session, patch.name, import_id)
    values = _values(patch, fields)
    if "statuses" in values and values["statuses"] is None:
        values["statuses"] = []
    if not values:
        return await get(session, import_id)
    sets = ", ".join(f"{k} = :{k}" for k in values)
    # A filter or connection change starts the next incremental pass afresh.
    reset = (
        ", watermark = NULL"
        if fields & {"connection_id", "created_within_days", "updated_within_days", "statuses"}
        else ""
    )
    shop = ", shop_id = NULL" if "connection_id" in fields else ""
    row = await session.execute(
        text(
            f"UPDATE order_imports SET {sets}{reset}{shop}, version = version + 1, "
            f"updated_at = now() WHERE id = CAST(:id AS uuid) RETURNING {_COLUMNS}"
        ),
        {**values, "id": import_id},
    )
    await session.flush()
    return out(row.one())


async def delete(session: AsyncSession, import_id: str) -> None:
    row = await session.execute(
        text("DELETE FROM order_imports WHERE id = CAST(:id AS uuid) RETURNING id"),
        {"id": _uuid(import_id)},
    )
    if row.one_or_none() is None:
        raise NotFound(f"no order import {import_id}", code="import_not_found")
    await session.flush()


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"no order import {value}", code="import_not_found") from None
