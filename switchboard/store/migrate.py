"""Schema migrations: every process (API, worker, dev stack) brings the database to Alembic's head
revision as it starts, and operators can do it ahead with ``switchboard migrate``.

Processes starting together take turns: on PostgreSQL under an advisory lock held by the
migrating transaction, on SQLite under a lock file beside the database. A database that
``create_all`` made before migrations existed has no version table: its missing tables are added
(as ``create_all`` did), and if it then matches the models it is stamped at the head revision
(the models' schema)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from switchboard.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock's key for "migrating Switchboard's schema" (any constant bigint).
ADVISORY_LOCK_KEY = 0x5357_4954_4348  # "SWITCH"


class SchemaMismatch(RuntimeError):
    """A database without migration history whose tables differ from the models."""


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None
    stamped: bool = False


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file; ``connection`` is the one to migrate on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_differences(connection: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, SQLModel.metadata)
    return differences


def upgrade_on(connection: Connection, revision: str = "head") -> MigrationResult:
    """Upgrade on ``connection`` (whose transaction the caller commits), stamping a database that
    create_all made first."""
    before = current_revision(connection)
    tables = set(inspect(connection).get_table_names())
    stamped = False
    if before is None and tables & set(SQLModel.metadata.tables):
        SQLModel.metadata.create_all(connection)
        differences = schema_differences(connection)
        if differences:
            raise SchemaMismatch(
                "the database has Switchboard tables but no migration history, and they differ from "
                f"the models: {differences}"
            )
        # create_all made the models' schema, which is the head revision's.
        command.stamp(alembic_config(connection), "head")
        stamped = True
    command.upgrade(alembic_config(connection), revision)
    return MigrationResult(before, current_revision(connection), stamped)


def _lock_file(path: Path) -> int:
    """Open and exclusively lock ``path`` (blocking); answers the descriptor to close."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


@asynccontextmanager
async def sqlite_migration_lock(database: str | None) -> AsyncIterator[None]:
    """Hold ``<database>.migrate.lock`` (in-memory databases need none)."""
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Blocking wait in a thread: the holder may be this very event loop (the dev stack's API
    # and worker start together).
    fd = await asyncio.to_thread(_lock_file, path)
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def migrate(engine: AsyncEngine, revision: str = "head") -> MigrationResult:
    """Bring ``engine``'s database to ``revision``, one process at a time."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            result = await conn.run_sync(upgrade_on, revision)
    else:
        async with sqlite_migration_lock(engine.url.database), engine.begin() as conn:
            result = await conn.run_sync(upgrade_on, revision)
    if result.before != result.after or result.stamped:
        log.info(
            "database schema %s -> %s%s", result.before, result.after, " (stamped from create_all)" * result.stamped
        )
    return result
