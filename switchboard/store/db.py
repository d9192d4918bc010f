"""Engine and sessions. SQLite (the embedded default) runs in WAL mode with a busy timeout so the
API and worker processes can write to one file; PostgreSQL URLs are used as given.

A SQLite file is its owner's alone (0600, whatever the umask): it is made so before SQLite first
opens it, and SQLite gives its WAL and shared-memory files the database file's mode. (Its values
are encrypted, but the file also holds SIDs, timestamps and keyed hashes of addresses.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store import feed, models  # noqa: F401  (the tables on SQLModel.metadata; feed writers' turns)
from switchboard.store.fanout import FeedPublisher, session_info

log = logging.getLogger(__name__)
OWNER_ONLY = 0o600
# SQLite's companions of a database file (``-journal`` outside WAL mode).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def owner_only_sqlite_files(database: Path) -> None:
    """Create ``database`` (and its directory, 0700) readable and writable by its owner only if it
    does not exist; narrow it and its side files to that if an older version left them open."""
    if not database.exists():
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
    for path in (database, *(database.with_name(database.name + side) for side in SQLITE_SIDE_FILES)):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(OWNER_ONLY)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's file: say so, and go on as before
            log.warning("%s is readable by others and not ours to change (chmod 600 it)", path)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            owner_only_sqlite_files(Path(database))
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


async def create_tables(engine: AsyncEngine) -> None:
    """Bring the schema to the latest migration (see ``store.migrate``)."""
    from switchboard.store.migrate import migrate

    await migrate(engine)


def sync_url(url: str) -> str:
    """The same database through a blocking driver (Alembic's command line)."""
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, feed_publisher: FeedPublisher | None = None) -> None:
        self.engine = create_engine(url)
        # Commits that write feed rows tell ``feed_publisher`` (sockets' wake-ups, store.fanout).
        self.feed_publisher = feed_publisher
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, info=session_info(feed_publisher)
        )
        # SQLite has one writer at a time. Queueing this process's writers here is fair and
        # cheap; left to SQLite, hundreds of them spin in its busy handler and time out.
        self._write_lock = asyncio.Lock() if url.startswith("sqlite") else None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a short write transaction (never hold it across a network call)."""
        if self._write_lock is None:
            async with self.session() as session:
                yield session
            return
        async with self._write_lock, self.session() as session:
            yield session

    async def dispose(self) -> None:
        if self.feed_publisher is not None:
            await self.feed_publisher.close()
        await self.engine.dispose()
