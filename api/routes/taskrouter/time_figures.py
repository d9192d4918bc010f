"""Switchboard's own time figures in the cumulative statistics (Twilio's shapes have no field for
them; docs/routing.md): nearest-rank percentiles of the window's waits until accepted, and the
talk and handle times of the tasks completed in the window.

A percentile is the value at rank ``ceil(p * n / 100)`` of the ``n`` samples in ascending order
(``null`` without samples). Up to ``FETCHED_SAMPLES`` samples, one query reads the durations
column and Python picks the ranks; above it, one ``ORDER BY … LIMIT 1 OFFSET rank - 1`` query per
percentile picks each in the database, so a long window never loads its samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.models import RoutingEventRow, Task

WAIT_PERCENTILES_FIELD = "switchboard_wait_time_percentiles"
HANDLE_TIME_FIELD = "switchboard_handle_time"
WAIT_PERCENTILES = (50, 90, 95)
HANDLE_PERCENTILES = (50, 90)
# Up to this many samples a percentile reads them all (a column of numbers: cheaper than one
# sorted query per percentile); above it, the database picks each rank.
FETCHED_SAMPLES = 5000


def seconds_between(session: AsyncSession, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as SQL this store's database runs."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def nearest_rank(percent: int, count: int) -> int:
    """The 1-based rank of the ``percent``-th percentile of ``count`` samples."""
    return max(1, -(-percent * count // 100))


def whole(value: Any) -> int | None:
    return None if value is None else round(value)


async def percentiles(
    session: AsyncSession, samples: Select[Any], values: Sequence[Any], count: int, percents: Sequence[int]
) -> list[dict[str, int | None]]:
    """For each of ``values`` (columns of the rows ``samples`` selects, ``count`` of them), its
    nearest-rank ``percents`` in whole seconds, as ``{"p50": …}``."""
    if count == 0:
        return [{f"p{p}": None for p in percents} for _ in values]
    if count <= FETCHED_SAMPLES:
        rows = (await session.execute(samples.with_only_columns(*values))).all()
        columns = [sorted(row[i] for row in rows if row[i] is not None) for i in range(len(values))]
        return [
            {f"p{p}": round(column[nearest_rank(p, len(column)) - 1]) if column else None for p in percents}
            for column in columns
        ]
    answers = []
    for value in values:
        ranked = samples.with_only_columns(value).where(value.is_not(None)).order_by(value).limit(1)
        picked = {}
        for p in percents:
            found = (await session.execute(ranked.offset(nearest_rank(p, count) - 1))).scalar()
            picked[f"p{p}"] = whole(found)
        answers.append(picked)
    return answers


async def handle_time(
    session: AsyncSession, scope: Sequence[ColumnElement[bool] | bool], channel: str | None
) -> dict[str, Any]:
    """The tasks whose ``task.completed`` event is one of ``scope``'s (the window's, narrowed to a
    queue, workflow or workers) and that an agent accepted: ``count``, and for ``talk`` (from the
    reservation's acceptance to the task's wrap-up, or its completion when it had none) and
    ``handle`` (to its completion, wrap-up included) the ``avg``, ``min``, ``max`` and ``total``
    seconds (``null``, and 0 for ``total``, without tasks) and the p50 and p90."""
    done = RoutingEventRow

    def when(event_type: str, pick: Any) -> Any:
        other = aliased(RoutingEventRow)
        return (
            sql_select(pick(other.event_date))
            .where(col(other.task_sid) == col(done.task_sid), col(other.event_type) == event_type)
            .correlate(done)
            .scalar_subquery()
        )

    accepted_at = when("reservation.accepted", func.max)
    wrapped_at = when("task.wrapup", func.min)
    talk = seconds_between(session, func.coalesce(wrapped_at, col(done.event_date)), accepted_at)
    handle = seconds_between(session, col(done.event_date), accepted_at)
    where = [*scope, col(done.event_type) == "task.completed", accepted_at.is_not(None)]
    if channel is not None:
        where += [col(Task.sid) == col(done.task_sid), col(Task.task_channel_unique_name) == channel]
    tasks = select(func.count()).select_from(done).where(*where)

    def stats(of: Any) -> list[Any]:
        return [func.avg(of), func.min(of), func.max(of), func.sum(of)]

    row = (await session.execute(tasks.add_columns(*stats(talk), *stats(handle)))).one()
    count = int(row[0])
    ranks = await percentiles(session, tasks, (talk, handle), count, HANDLE_PERCENTILES)

    def figures(avg: Any, low: Any, high: Any, total: Any, ranked: dict[str, int | None]) -> dict[str, Any]:
        return {"avg": whole(avg), "min": whole(low), "max": whole(high), "total": round(total or 0), **ranked}

    return {
        "count": count,
        "talk": figures(row[1], row[2], row[3], row[4], ranks[0]),
        "handle": figures(row[5], row[6], row[7], row[8], ranks[1]),
    }
