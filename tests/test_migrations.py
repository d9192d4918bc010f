"""Alembic migrations on SQLite and PostgreSQL: an empty database upgraded to head matches the
models exactly, downgrades to nothing and back, processes starting together migrate once, and a
database that create_all made before migrations existed is stamped, not recreated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel
from typer.testing import CliRunner

from switchboard import cli
from switchboard.store.db import Database
from switchboard.store.migrate import (
    VERSION_TABLE,
    SchemaMismatch,
    alembic_config,
    current_revision,
    head_revision,
    migrate,
    schema_differences,
)


def tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def downgrade_to_base(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


async def test_upgrade_matches_the_models_and_downgrades_to_nothing(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        result = await migrate(db.engine)
        assert (result.before, result.after, result.stamped) == (None, head_revision(), False)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
            assert await conn.run_sync(tables) == {*SQLModel.metadata.tables, VERSION_TABLE}
        async with db.engine.begin() as conn:
            await conn.run_sync(downgrade_to_base)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(tables) == {VERSION_TABLE}
            assert await conn.run_sync(current_revision) is None
        again = await migrate(db.engine)
        assert (again.before, again.after) == (None, head_revision())
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
    finally:
        await db.dispose()


async def test_processes_starting_together_migrate_once(empty_database_url: str) -> None:
    databases = [Database(empty_database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(db.engine) for db in databases))
        assert sorted(r.before or "" for r in results) == ["", *[head_revision() or ""] * 3]
        assert {r.after for r in results} == {head_revision()}
        async with databases[0].engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
    finally:
        for db in databases:
            await db.dispose()


async def test_a_create_all_database_is_stamped_and_keeps_its_rows(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        older = [t for name, t in SQLModel.metadata.tables.items() if name != "media"]
        async with db.engine.begin() as conn:
            # As an older version left it: every table but one added since, and some rows.
            await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=older))
            await conn.execute(
                text(
                    "INSERT INTO service (sid, friendly_name, date_created, date_updated) "
                    "VALUES ('IS1', 'kept', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        result = await migrate(db.engine)
        assert (result.before, result.after, result.stamped) == (None, head_revision(), True)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
            assert (await conn.execute(text("SELECT friendly_name FROM service"))).scalars().all() == ["kept"]
    finally:
        await db.dispose()


async def test_a_foreign_schema_is_refused_not_stamped(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE service (sid VARCHAR(34) PRIMARY KEY)"))
        with pytest.raises(SchemaMismatch, match="differ from the models"):
            await migrate(db.engine)
        async with db.engine.connect() as conn:
            assert VERSION_TABLE not in await conn.run_sync(tables)
    finally:
        await db.dispose()


def test_switchboard_migrate_for_operators(tmp_path: Path) -> None:
    env = {"SWITCHBOARD_DATA_DIR": str(tmp_path), "SWITCHBOARD_DATABASE_URL": ""}

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli.app, ["migrate", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert run("--show") == f"database at no revision; latest is {head_revision()}\n"
    assert run() == f"database at {head_revision()} (was empty)\n"
    assert run() == f"database at {head_revision()} (was {head_revision()})\n"
    assert run("--show") == f"database at {head_revision()}; latest is {head_revision()}\n"
    assert (tmp_path / "switchboard.db").exists()
