"""The database statements the API runs for HTTP requests, counted from the tests' process (the
stack runs in it): SQLAlchemy's ``before_cursor_execute``, kept when the statement runs in a
request's own task (the worker's store writes and the API's background work are left out)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def in_request() -> bool:
    """True inside the task uvicorn runs an HTTP request in."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return False
    return task is not None and getattr(task.get_coro(), "__qualname__", "").endswith("run_asgi")


@contextlib.contextmanager
def request_statements() -> Iterator[list[str]]:
    """The statements run by HTTP requests while the block runs, in order."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if in_request():
            statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)
