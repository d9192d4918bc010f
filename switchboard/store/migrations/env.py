"""Alembic's environment: the SQLModel metadata, and the connection ``store.migrate`` hands over
(which holds the migration lock). Run from the ``alembic`` command line (new revisions with
``alembic revision --autogenerate``), it connects to the configured database itself."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from switchboard.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from switchboard.store.db import sync_url

config = context.config
target_metadata = SQLModel.metadata


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from switchboard.settings import Settings

        url = Settings().resolved_database_url
    return sync_url(url)


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it: later revisions' ALTERs run in batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        run_on(given)
    else:
        engine = create_engine(database_url(), poolclass=NullPool)
        with engine.begin() as connection:
            run_on(connection)
        engine.dispose()
