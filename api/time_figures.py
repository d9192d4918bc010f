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

from sqlalchemy import ColumnElement, Select, and_, func
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


def picked(ordered: Sequence[Any], percents: Sequence[int]) -> dict[str, int | None]:
    """The nearest-rank ``percents`` of samples in ascending order, in whole seconds."""
    return {f"p{p}": round(ordered[nearest_rank(p, len(ordered)) - 1]) if ordered else None for p in percents}


async def percentiles(
    session: AsyncSession, samples: Select[Any], values: Sequence[Any], count: int, percents: Sequence[int]
) -> list[dict[str, int | None]]:
    """For each of ``values`` (columns of the rows ``samples`` selects, ``count`` of them), its
    nearest-rank ``percents`` in whole seconds, as ``{"p50": …}``."""
    if count == 0:
        return [picked([], percents) for _ in values]
    if count <= FETCHED_SAMPLES:
        rows = (await session.execute(samples.with_only_columns(*values))).all()
        return [picked(sorted(row[i] for row in rows), percents) for i in range(len(values))]
    answers = []
    for value in values:
        ranked = samples.with_only_columns(value).order_by(value).limit(1)
        ranks = {}
        for p in percents:
            found = (await session.execute(ranked.offset(nearest_rank(p, count) - 1))).scalar()
            ranks[f"p{p}"] = whole(found)
        answers.append(ranks)
    return answers


def durations(avg: Any, low: Any, high: Any, total: Any, ranks: dict[str, int | None]) -> dict[str, Any]:
    return {"avg": whole(avg), "min": whole(low), "max": whole(high), "total": round(total or 0), **ranks}


def summary(values: Sequence[Any]) -> dict[str, Any]:
    """``durations`` of samples read, worked out here."""
    ordered = sorted(values)
    average = sum(ordered) / len(ordered) if ordered else None
    low, high = (ordered[0], ordered[-1]) if ordered else (None, None)
    return durations(average, low, high, sum(ordered), picked(ordered, HANDLE_PERCENTILES))


async def handle_time(
    session: AsyncSession, scope: Sequence[ColumnElement[bool] | bool], channel: str | None
) -> dict[str, Any]:
    """The tasks whose ``task.completed`` event is one of ``scope``'s (the window's, narrowed to a
    queue, workflow or workers) and that an agent accepted: ``count``, and for ``talk`` (from the
    reservation's acceptance to the task's wrap-up, or its completion when it had none) and
    ``handle`` (to its completion, wrap-up included) the ``avg``, ``min``, ``max`` and ``total``
    seconds (``null``, and 0 for ``total``, without tasks) and the p50 and p90. Up to
    ``FETCHED_SAMPLES`` tasks, one query reads their durations; above it, one aggregates them and
    one per percentile picks it."""
    done = RoutingEventRow
    # A task is accepted once and wraps up at most once (the router never offers an assigned
    # task again), so each completed task joins one acceptance and at most one wrap-up.
    accepted, wrapped = aliased(RoutingEventRow), aliased(RoutingEventRow)
    talk = seconds_between(session, func.coalesce(col(wrapped.event_date), col(done.event_date)), accepted.event_date)
    handle = seconds_between(session, col(done.event_date), accepted.event_date)
    where = [*scope, col(done.event_type) == "task.completed"]
    if channel is not None:
        where += [col(Task.sid) == col(done.task_sid), col(Task.task_channel_unique_name) == channel]
    tasks = (
        select(talk, handle)
        .select_from(done)
        .join(
            accepted,
            and_(col(accepted.task_sid) == col(done.task_sid), col(accepted.event_type) == "reservation.accepted"),
        )
        .outerjoin(wrapped, and_(col(wrapped.task_sid) == col(done.task_sid), col(wrapped.event_type) == "task.wrapup"))
        .where(*where)
    )
    rows = (await session.execute(tasks.limit(FETCHED_SAMPLES + 1))).all()
    if len(rows) <= FETCHED_SAMPLES:
        return {
            "count": len(rows),
            "talk": summary([row[0] for row in rows]),
            "handle": summary([row[1] for row in rows]),
        }

    def stats(of: Any) -> list[Any]:
        return [func.avg(of), func.min(of), func.max(of), func.sum(of)]

    row = (await session.execute(tasks.with_only_columns(func.count(), *stats(talk), *stats(handle)))).one()
    count = int(row[0])
    ranks = await percentiles(session, tasks, (talk, handle), count, HANDLE_PERCENTILES)
    return {
        "count": count,
        "talk": durations(row[1], row[2], row[3], row[4], ranks[0]),
        "handle": durations(row[5], row[6], row[7], row[8], ranks[1]),
    }
