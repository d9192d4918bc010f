"""What the cumulative statistics' own time figures cost: the wait-time percentiles and the handle
times (``api.time_figures``), against a fresh store holding N tasks that were
each created, offered, accepted, wrapped up and completed inside the window.

Times ``cumulative_figures`` (one workspace answer's figures) as served, with the percentiles
picked in SQL (one ``ORDER BY … LIMIT 1 OFFSET k`` per percentile, as above ``FETCHED_SAMPLES``),
and without the two own fields (the aggregates Twilio's shape needs alone); the median of a few
calls each, and the statements each call runs.

    python -m bench.statistics_times --tasks 5000 [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from sqlalchemy import event, text

from api import statistics as cumulative
from api import time_figures
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import RoutingEventRow, Task
from workflows import sids

CALLS = 5
START = datetime(2026, 1, 1, tzinfo=UTC)


async def fill(db: Database, workspace_sid: str, tasks: int) -> None:
    rng = random.Random(7)
    queue, flow, worker = sids.new_sid(sids.TASK_QUEUE), sids.new_sid(sids.WORKFLOW), sids.new_sid(sids.WORKER)
    async with db.write_session() as session:
        for i in range(tasks):
            sid = sids.new_sid(sids.TASK)
            created = START + timedelta(seconds=i)
            session.add(
                Task(
                    sid=sid,
                    workspace_sid=workspace_sid,
                    workflow_sid=flow,
                    task_channel_unique_name="chat",
                    attributes_enc="{}",
                    task_queue_sid=queue,
                    task_queue_entered_date=created,
                    date_created=created,
                )
            )
            accepted = created + timedelta(seconds=rng.uniform(1, 120))
            wrapped = accepted + timedelta(seconds=rng.uniform(30, 900))
            steps = [
                ("task.created", created),
                ("task-queue.entered", created),
                ("reservation.created", created),
                ("reservation.accepted", accepted),
                ("task.wrapup", wrapped),
                ("task.completed", wrapped + timedelta(seconds=rng.uniform(0, 60))),
            ]
            for kind, when in steps:
                session.add(
                    RoutingEventRow(
                        sid=sids.new_sid(sids.EVENT),
                        workspace_sid=workspace_sid,
                        event_type=kind,
                        description=kind,
                        resource_type=kind.partition(".")[0],
                        resource_sid=sid,
                        task_sid=sid,
                        worker_sid=worker,
                        queue_sid=queue,
                        workflow_sid=flow,
                        event_date=when,
                    )
                )
        await session.commit()
    if db.engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum keeps them
        async with db.engine.begin() as connection:
            await connection.execute(text("ANALYZE task, taskrouter_event"))


async def timed(db: Database, workspace_sid: str) -> tuple[float, int]:
    """The median milliseconds of one workspace's cumulative figures, and its statements."""
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    spent = []
    try:
        for _ in range(CALLS):
            statements = 0
            began = time.perf_counter()
            async with db.session() as session:
                end = START + timedelta(days=1)
                await cumulative.cumulative_figures(session, workspace_sid, START, end, None, None, [])
            spent.append((time.perf_counter() - began) * 1000)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return statistics.median(spent), statements


async def without_own_fields(*_args: Any) -> list[dict[str, Any]]:
    return [{}]


async def no_handle(*_args: Any) -> dict[str, Any]:
    return {}


async def run(database_url: str, tasks: int) -> None:
    db = Database(database_url)
    try:
        await migrate(db.engine)
        workspace_sid = sids.new_sid(sids.WORKSPACE)
        await fill(db, workspace_sid, tasks)
        served = await timed(db, workspace_sid)
        with patch.object(time_figures, "FETCHED_SAMPLES", 0):
            in_sql = await timed(db, workspace_sid)
        with (
            patch.object(cumulative, "percentiles", without_own_fields),
            patch.object(cumulative, "handle_time", no_handle),
        ):
            bare = await timed(db, workspace_sid)
        print(f"{db.engine.dialect.name}, {tasks} tasks in the window:")
        for name, (ms, statements) in (
            ("as served", served),
            ("percentiles ranked in SQL", in_sql),
            ("without the own fields", bare),
        ):
            print(f"  {name:28} {ms:8.1f} ms  {statements} statements")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        asyncio.run(run(url, args.tasks))


if __name__ == "__main__":
    main()
