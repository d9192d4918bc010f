"""TaskRouter's cumulative statistics computed from the store, for the statistics routes
(``api.routes.taskrouter.statistics`` and ``worker_statistics``) and the benchmark that times them
(``bench.statistics_times``): the events of a window counted by type, how long tasks waited until
accepted or canceled, Switchboard's own percentiles and handle times (``api.time_figures``), the
post-chat ratings, and how long workers stayed in each activity. The real-time figures live in
``api.routing_state``.

Time in an activity is read from the ``worker.activity.update`` events: a worker's stint in an
activity runs from the change that put it there (or the window's start) to the next change (or
the window's end, and never past now). A worker with no change before the window's end has been in
its current activity since it was created; the time before a worker's first recorded change is
counted only from the window's start when an earlier change is known, since no event records the
activity a worker was created in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.after_chat import rating_figures
from api.time_figures import (
    HANDLE_TIME_FIELD,
    WAIT_PERCENTILES,
    WAIT_PERCENTILES_FIELD,
    handle_time,
    percentiles,
    seconds_between,
)
from switchboard.store.models import ChatRating, Reservation, RoutingEventRow, Task, Worker, WorkspaceActivity, utcnow

ACTIVITY_CHANGE = "worker.activity.update"

# The counters, each the number of events of its type in the window.
RESERVATION_COUNTS = {
    "reservations_created": "reservation.created",
    "reservations_accepted": "reservation.accepted",
    "reservations_rejected": "reservation.rejected",
    "reservations_timed_out": "reservation.timeout",
    "reservations_canceled": "reservation.canceled",
    "reservations_rescinded": "reservation.rescinded",
}
TASK_COUNTS = {
    "tasks_canceled": "task.canceled",
    "tasks_completed": "task.completed",
    "tasks_created": "task.created",
    "tasks_deleted": "task.deleted",
    "tasks_moved": "task-queue.moved",
    "tasks_entered": "task-queue.entered",
    "tasks_timed_out_in_workflow": "workflow.timeout",
}

# Switchboard's own field in the cumulative statistics (Twilio has none): the window's post-chat
# ratings of the web chat, counted, averaged and by value (docs/routing.md).
RATINGS_FIELD = "switchboard_post_chat_ratings"


def durations(avg: Any, low: Any, high: Any, total: Any) -> dict[str, int]:
    return {
        "avg": round(avg or 0),
        "min": round(low or 0),
        "max": round(high or 0),
        "total": round(total or 0),
    }


async def cumulative_figures(
    session: AsyncSession,
    workspace_sid: str,
    start: datetime,
    end: datetime,
    channel: str | None,
    queue_sid: str | None,
    splits: list[int],
    workflow_sid: str | None = None,
    worker_sids: list[str] | None = None,
) -> dict[str, Any]:
    """The window's events counted by type, the waits of the tasks accepted or canceled in it
    (from the task's creation, and for a queue from its entering the queue) with the percentiles
    of those accepted, and the handle times of the tasks completed in it; with ``worker_sids``,
    only the events (and reservations) of those workers."""
    event = RoutingEventRow
    scope: list[ColumnElement[bool] | bool] = [
        col(event.workspace_sid) == workspace_sid,
        col(event.event_date) >= start,
        col(event.event_date) <= end,
    ]
    if queue_sid is not None:
        scope.append(col(event.queue_sid) == queue_sid)
    if workflow_sid is not None:
        scope.append(col(event.workflow_sid) == workflow_sid)
    if worker_sids is not None:
        scope.append(col(event.worker_sid).in_(worker_sids))
    counted = select(event.event_type, func.count()).where(*scope)
    if channel is not None:
        counted = counted.join(Task, col(Task.sid) == col(event.task_sid)).where(
            col(Task.task_channel_unique_name) == channel
        )
    counts = dict((await session.exec(counted.group_by(col(event.event_type)))).all())
    figures: dict[str, Any] = {
        name: counts.get(kind, 0) for name, kind in {**RESERVATION_COUNTS, **TASK_COUNTS}.items()
    }
    # The router emits no event when a task's end cancels its pending reservation: the
    # reservations themselves say how many were canceled in the window.
    canceled_offers = (
        select(func.count())
        .select_from(Reservation)
        .join(Task, col(Task.sid) == col(Reservation.task_sid))
        .where(
            col(Reservation.workspace_sid) == workspace_sid,
            col(Reservation.reservation_status) == "canceled",
            col(Reservation.date_updated) >= start,
            col(Reservation.date_updated) <= end,
        )
    )
    if queue_sid is not None:
        canceled_offers = canceled_offers.where(col(Task.task_queue_sid) == queue_sid)
    if workflow_sid is not None:
        canceled_offers = canceled_offers.where(col(Task.workflow_sid) == workflow_sid)
        # A task enters its workflow when it is created.
        figures["tasks_entered"] = figures["tasks_created"]
    if channel is not None:
        canceled_offers = canceled_offers.where(col(Task.task_channel_unique_name) == channel)
    if worker_sids is not None:
        canceled_offers = canceled_offers.where(col(Reservation.worker_sid).in_(worker_sids))
    figures["reservations_canceled"] += (await session.exec(canceled_offers)).one()
    rated: list[ColumnElement[bool] | bool] = [
        col(ChatRating.workspace_sid) == workspace_sid,
        col(ChatRating.date_created) >= start,
        col(ChatRating.date_created) <= end,
    ]
    if queue_sid is not None:
        rated.append(col(Task.task_queue_sid) == queue_sid)
    if workflow_sid is not None:
        rated.append(col(Task.workflow_sid) == workflow_sid)
    if channel is not None:
        rated.append(col(Task.task_channel_unique_name) == channel)
    figures[RATINGS_FIELD] = await rating_figures(session, *rated)

    joined = [*scope, col(Task.sid) == col(event.task_sid)]
    if channel is not None:
        joined.append(col(Task.task_channel_unique_name) == channel)
    waited = seconds_between(session, col(event.event_date), col(Task.date_created))
    in_queue = seconds_between(session, col(event.event_date), col(Task.task_queue_entered_date))
    accepted = col(event.event_type) == "reservation.accepted"
    canceled = col(event.event_type) == "task.canceled"

    def stats(of: Any, when: Any) -> list[Any]:
        value = case((when, of))
        return [func.avg(value), func.min(value), func.max(value), func.sum(value)]

    def count(when: Any) -> Any:
        return func.sum(case((when, 1), else_=0))

    split_columns = [
        count(and_(kind, waited >= limit) if above else and_(kind, waited < limit))
        for limit in splits
        for kind in (accepted, canceled)
        for above in (True, False)
    ]
    tallies = [count(accepted), *split_columns]  # the number of waits until accepted, then the splits
    row = (
        await session.exec(
            select(*stats(waited, accepted), *stats(waited, canceled), *stats(in_queue, accepted), *tallies)
            .select_from(event)
            .join(Task, col(Task.sid) == col(event.task_sid))
            .where(*joined, accepted | canceled)
        )
    ).one()
    figures["wait_duration_until_accepted"] = durations(*row[0:4])
    figures["wait_duration_until_canceled"] = durations(*row[4:8])
    figures["wait_duration_in_queue_until_accepted"] = durations(*row[8:12])
    figures["avg_task_acceptance_time"] = figures["wait_duration_until_accepted"]["avg"]
    waits = select(func.count()).select_from(event).join(Task, col(Task.sid) == col(event.task_sid))
    waits = waits.where(*joined, accepted)  # the samples of wait_duration_until_accepted
    [ranked] = await percentiles(session, waits, [waited], int(row[12] or 0), WAIT_PERCENTILES)
    figures[WAIT_PERCENTILES_FIELD] = ranked
    figures[HANDLE_TIME_FIELD] = await handle_time(session, scope, channel)
    split_counts = [int(value or 0) for value in row[13:]]
    figures["split_by_wait_time"] = (
        {
            str(limit): {
                "above": {"reservations_accepted": split_counts[i * 4], "tasks_canceled": split_counts[i * 4 + 2]},
                "below": {"reservations_accepted": split_counts[i * 4 + 1], "tasks_canceled": split_counts[i * 4 + 3]},
            }
            for i, limit in enumerate(splits)
        }
        if splits
        else None
    )
    return figures


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def changed_to(row: RoutingEventRow) -> str | None:
    activity = json.loads(row.data_json or "{}").get("worker_activity_sid")
    return activity if isinstance(activity, str) else None


async def activity_durations(
    session: AsyncSession, workspace_sid: str, start: datetime, end: datetime, workers: Sequence[Worker]
) -> list[dict[str, Any]]:
    """Each activity of the workspace with the min, average, max and total seconds of the
    ``workers``' stints in it within the window (two queries: the changes in the window, and each
    worker's last change before it)."""
    end = min(end, utcnow())
    sids = [w.sid for w in workers]
    changes = select(RoutingEventRow).where(
        RoutingEventRow.workspace_sid == workspace_sid,
        RoutingEventRow.event_type == ACTIVITY_CHANGE,
        col(RoutingEventRow.worker_sid).in_(sids),
    )
    during = (
        await session.exec(
            changes.where(col(RoutingEventRow.event_date) > start, col(RoutingEventRow.event_date) <= end).order_by(
                col(RoutingEventRow.id)
            )
        )
    ).all()
    last_before = (
        select(func.max(RoutingEventRow.id))
        .where(
            RoutingEventRow.workspace_sid == workspace_sid,
            RoutingEventRow.event_type == ACTIVITY_CHANGE,
            col(RoutingEventRow.worker_sid).in_(sids),
            col(RoutingEventRow.event_date) <= start,
        )
        .group_by(col(RoutingEventRow.worker_sid))
    )
    before = (await session.exec(select(RoutingEventRow).where(col(RoutingEventRow.id).in_(last_before)))).all()
    at_start = {row.worker_sid: changed_to(row) for row in before}
    timeline: dict[str, list[tuple[datetime, str | None]]] = {}
    for row in during:
        timeline.setdefault(row.worker_sid or "", []).append((aware(row.event_date), changed_to(row)))
    stints: dict[str, list[float]] = {}
    for worker in workers:
        created = aware(worker.date_created)
        if created >= end:
            continue
        steps = timeline.get(worker.sid, [])
        if worker.sid in at_start:
            current: str | None = at_start[worker.sid]
        elif not steps:
            current = worker.activity_sid  # never changed (in the store's events): as created
        else:
            current = None  # changed first inside the window, from an activity no event records
        since = max(start, created)
        for when, activity in [*steps, (end, None)]:
            if current is not None and when > since:
                stints.setdefault(current, []).append((when - since).total_seconds())
            since, current = max(when, since), activity
    activities = await session.exec(
        select(WorkspaceActivity)
        .where(WorkspaceActivity.workspace_sid == workspace_sid)
        .order_by(col(WorkspaceActivity.date_created), col(WorkspaceActivity.sid))
    )
    durations = []
    for kind in activities:
        spent = stints.get(kind.sid, [])
        durations.append(
            {
                "sid": kind.sid,
                "friendly_name": kind.friendly_name,
                "avg": round(sum(spent) / len(spent)) if spent else 0,
                "min": round(min(spent)) if spent else 0,
                "max": round(max(spent)) if spent else 0,
                "total": round(sum(spent)),
            }
        )
    return durations
