"""Imports files: one YAML document declares order imports (docs/orders.md, "Imports").

```yaml
imports:
  - name: us-shop                 # the key `apply` matches on
    connection_id: 3f0c…          # the auth-broker connection (the shop)
    description: US shop
    statuses: [AWAITING_SHIPMENT] # empty or absent: every status
    created_within_days: 7        # whole days, or absent for no limit
    updated_within_days: 3
    poll_interval_seconds: 300
    active: true
    push:                         # optional OMS push destination
      url: https://oms.example.com/tiktok
      secret_env: OMS_PUSH_SECRET # the secret from this variable (or `secret:` inline)
```

`parse` validates the whole file and lists every problem (where, what to fix); `apply`
creates the imports it names and updates those whose fields differ, so applying a file twice
changes nothing the second time. Run it with `order-ingest imports apply -f FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from order_ingest import imports
from order_ingest.imports import Days, ImportIn, ImportPatch, Statuses

MAX_FILE_BYTES = 1024 * 1024


class PushSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str | None = None
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_secret(self) -> PushSection:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give exactly one of secret or secret_env")
        return self


class ImportSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    connection_id: str = Field(min_length=1, max_length=200)
    description: str = ""
    statuses: Statuses = Field(default_factory=list)
    created_within_days: Days = None
    updated_within_days: Days = None
    poll_interval_seconds: float = Field(default=300.0, ge=0.2, le=86400)
    active: bool = True
    push: PushSection | None = None


class ImportsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    imports: list[ImportSection]


class FileProblems(ValueError):
    """The file is refused; `problems` says where and why (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse(raw: bytes | str, env: Mapping[str, str] | None = None) -> list[ImportIn]:
    """The imports the file declares, validated whole (every problem listed)."""
    if len(raw) > MAX_FILE_BYTES:
        raise FileProblems([f"the file exceeds {MAX_FILE_BYTES} bytes"])
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise FileProblems([f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    try:
        parsed = ImportsFile.model_validate(document)
    except ValidationError as exc:
        raise FileProblems(
            [
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in exc.errors(include_input=False)
            ]
        ) from None
    env = os.environ if env is None else env
    problems: list[str] = []
    names: set[str] = set()
    out: list[ImportIn] = []
    for n, section in enumerate(parsed.imports):
        if section.name in names:
            problems.append(f"imports.{n}.name: {section.name!r} appears twice")
        names.add(section.name)
        body = section.model_dump(exclude={"push"})
        if section.push is not None:
            secret = section.push.secret
            if section.push.secret_env is not None:
                secret = env.get(section.push.secret_env)
                if not secret:
                    problems.append(
                        f"imports.{n}.push.secret_env: the variable "
                        f"{section.push.secret_env} is not set"
                    )
                    continue
            body["push"] = {"url": section.push.url, "secret": secret}
        try:
            out.append(ImportIn.model_validate(body))
        except ValidationError as exc:
            problems.extend(
                f"imports.{n}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False)
            )
    if problems:
        raise FileProblems(problems)
    return out


@dataclass
class Applied:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def apply(session: AsyncSession, declared: list[ImportIn]) -> Applied:
    """Create or update each declared import by name; flush only."""
    result = Applied()
    for body in declared:
        assert body.name is not None
        row = (
            await session.execute(
                text("SELECT id, push_secret FROM order_imports WHERE name = :n FOR UPDATE"),
                {"n": body.name},
            )
        ).one_or_none()
        if row is None:
            await imports.create(session, body)
            result.created.append(body.name)
            continue
        current = await imports.get(session, str(row.id))
        same = (
            current.connection_id == body.connection_id
            and current.description == body.description
            and current.statuses == body.statuses
            and current.created_within_days == body.created_within_days
            and current.updated_within_days == body.updated_within_days
            and current.poll_interval_seconds == body.poll_interval_seconds
            and current.active == body.active
            and current.push_url == (str(body.push.url) if body.push else None)
            and row.push_secret == (body.push.secret if body.push else None)
        )
        if same:
            result.unchanged.append(body.name)
            continue
        patch = ImportPatch.model_validate(body.model_dump(mode="json"))
        await imports.update(session, current.id, patch)
        result.updated.append(body.name)
    return result
