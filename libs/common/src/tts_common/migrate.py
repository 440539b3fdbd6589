"""Alembic glue: each service keeps its own migrations; this runs them.

Services call `migrate(url, migrations_dir, service)` from their `migrate` command and
tests call `await migrate_async(...)`; each service's `migrations/env.py` is two lines
calling `run_env(service)`. Never `create_all`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


def _config(database_url: str, migrations_dir: Path, service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["service"] = service
    return cfg


async def ensure_database(database_url: str) -> bool:
    """Create the URL's database when missing (needs CREATEDB); True when created."""
    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError("the database URL names no database")
    admin = create_async_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if exists:
                return False
            safe = name.replace('"', '""')
            await conn.execute(text(f'CREATE DATABASE "{safe}"'))
            return True
    finally:
        await admin.dispose()


def migrate(database_url: str, migrations_dir: Path, service: str, revision: str = "head") -> None:
    """Create the database if needed and upgrade it to `revision` (blocking)."""
    asyncio.run(ensure_database(database_url))
    command.upgrade(_config(database_url, migrations_dir, service), revision)


def downgrade(
    database_url: str, migrations_dir: Path, service: str, revision: str = "base"
) -> None:
    command.downgrade(_config(database_url, migrations_dir, service), revision)


async def migrate_async(database_url: str, migrations_dir: Path, service: str) -> None:
    """Same as `migrate` from async code (alembic's env runs its own event loop)."""
    await ensure_database(database_url)
    await asyncio.to_thread(command.upgrade, _config(database_url, migrations_dir, service), "head")


def run_env(service: str) -> None:
    """Body of every service's migrations/env.py."""
    from alembic import context

    cfg = context.config
    url = cfg.attributes.get("database_url") or os.environ.get("TTS_DATABASE_URL")
    if not url:
        raise SystemExit("TTS_DATABASE_URL is not set")
    version_table = f"alembic_version_{service.replace('-', '_')}"

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        return

    def _run(connection: object) -> None:
        context.configure(connection=connection, version_table=version_table)  # type: ignore[arg-type]
        with context.begin_transaction():
            context.run_migrations()

    async def _online() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(_run)
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(_online())


def split_sql(script: str) -> list[str]:
    """asyncpg prepares each statement: one command per execute (no `;` inside bodies).

    `--` comments are dropped first, so a `;` in a comment cannot split a statement (a
    migration therefore writes no `--` inside a string literal).
    """
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [part.strip() for part in code.split(";") if part.strip()]


def upgrade_outbox_inbox() -> None:
    """Migration step creating the outbox and inbox tables (every service's 0001)."""
    from alembic import op

    from tts_common.outbox import OUTBOX_INBOX_DDL

    for statement in split_sql(OUTBOX_INBOX_DDL):
        op.execute(statement)


def downgrade_outbox_inbox() -> None:
    from alembic import op

    from tts_common.outbox import OUTBOX_INBOX_DROP_DDL

    for statement in split_sql(OUTBOX_INBOX_DROP_DDL):
        op.execute(statement)
