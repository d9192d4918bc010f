"""Switchboard's own time figures of the cumulative statistics against a real store (SQLite and
PostgreSQL), from crafted tasks and events with known waits and handle times: nearest-rank
percentiles of the waits until accepted, and the talk and handle times of the tasks completed in
the window, the same whether the samples are read or each rank is picked by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import time_figures
from api.statistics import cumulative_figures
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import RoutingEventRow, Task
from workflows import sids

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(hours=1))
WS, FLOW = sids.new_sid(sids.WORKSPACE), sids.new_sid(sids.WORKFLOW)
SUPPORT, SALES = sids.new_sid(sids.TASK_QUEUE), sids.new_sid(sids.TASK_QUEUE)
AMY, BOB = sids.new_sid(sids.WORKER), sids.new_sid(sids.WORKER)

# The support chats' waits until accepted (sorted: 1 1 2 3 3 4 5 5 5 6 9).
CHAT_WAITS = (3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5)
# The first five are completed in the window after (talk, wrap-up) seconds; 0 is no wrap-up.
CHAT_HANDLING = ((100, 20), (200, 0), (50, 10), (400, 30), (300, 5))


@dataclass
class Story:
    """One task: created at ``created`` seconds from T0, then each (event, seconds from T0)."""

    channel: str
    queue: str
    worker: str
    created: float
    events: list[tuple[str, float]]


def stories() -> list[Story]:
    told = []
    for i, wait in enumerate(CHAT_WAITS):
        created = 60.0 * i
        events = [("reservation.accepted", created + wait)]
        if i < len(CHAT_HANDLING):
            talk, wrap = CHAT_HANDLING[i]
            if wrap:
                events.append(("task.wrapup", created + wait + talk))
            events.append(("task.completed", created + wait + talk + wrap))
        elif i == 5:  # completed after the window: no handle time
            events.append(("task.completed", 7200.0))
        elif i == 6:  # canceled while an agent held it: not handled to completion
            events.append(("task.canceled", created + wait + 30))
        told.append(Story("chat", SUPPORT, AMY, created, events))
    # Accepted before the window, completed in it without a wrap-up: 840 s of talk and handling.
    told.append(Story("chat", SUPPORT, AMY, -600, [("reservation.accepted", -540), ("task.completed", 300)]))
    # Canceled while waiting: a wait until canceled, not until accepted.
    told.append(Story("chat", SUPPORT, AMY, 100, [("task.canceled", 107)]))
    # Bob's SMS in Sales: waited 100 s, 1000 s of talk.
    told.append(Story("sms", SALES, BOB, 120, [("reservation.accepted", 220), ("task.completed", 1220)]))
    return told


async def craft(db: Database) -> None:
    async with db.write_session() as session:
        for story in stories():
            task_sid = sids.new_sid(sids.TASK)
            created = T0 + timedelta(seconds=story.created)
            session.add(
                Task(
                    sid=task_sid,
                    workspace_sid=WS,
                    workflow_sid=FLOW,
                    task_channel_unique_name=story.channel,
                    attributes_enc="{}",
                    task_queue_sid=story.queue,
                    task_queue_entered_date=created,
                    date_created=created,
                )
            )
            for kind, seconds in [("task.created", story.created), *story.events]:
                session.add(
                    RoutingEventRow(
                        sid=sids.new_sid(sids.EVENT),
                        workspace_sid=WS,
                        event_type=kind,
                        description=kind,
                        resource_type=kind.partition(".")[0],
                        resource_sid=task_sid,
                        task_sid=task_sid,
                        worker_sid=None if kind in ("task.created", "task.canceled") else story.worker,
                        queue_sid=story.queue,
                        workflow_sid=FLOW,
                        event_date=T0 + timedelta(seconds=seconds),
                    )
                )
        await session.commit()


def ranks(p50: int | None, p90: int | None, p95: int | None) -> dict[str, int | None]:
    return {"p50": p50, "p90": p90, "p95": p95}


def times(count: int, talk: tuple[Any, ...], handle: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("avg", "min", "max", "total", "p50", "p90")
    return {"count": count, "talk": dict(zip(keys, talk, strict=True)), "handle": dict(zip(keys, handle, strict=True))}


NONE = times(0, (None, None, None, 0, None, None), (None, None, None, 0, None, None))


@pytest.mark.parametrize("fetched_samples", [time_figures.FETCHED_SAMPLES, 0], ids=["read", "ranked-in-sql"])
async def test_wait_percentiles_and_handle_times_of_a_window(
    empty_database_url: str, fetched_samples: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time_figures, "FETCHED_SAMPLES", fetched_samples)
    db = Database(empty_database_url)
    try:
        await migrate(db.engine)
        await craft(db)

        async def figures(
            channel: str | None = None,
            queue: str | None = None,
            flow: str | None = None,
            workers: list[str] | None = None,
            window: tuple[datetime, datetime] = WINDOW,
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            async with db.session() as session:
                found = await cumulative_figures(session, WS, *window, channel, queue, [], flow, workers)
            return found["switchboard_wait_time_percentiles"], found["switchboard_handle_time"]

        # Every task of the window: 12 waits (the chats' and the SMS's 100); seven tasks completed
        # (talk 50 100 200 300 400 840 1000; handle 60 120 200 305 430 840 1000).
        everything = (
            ranks(4, 9, 100),
            times(7, (413, 50, 1000, 2890, 300, 1000), (422, 60, 1000, 2955, 305, 1000)),
        )
        assert await figures() == everything
        assert await figures(flow=FLOW) == everything
        # The chats: 11 waits; six completed (talk 50 100 200 300 400 840; handle 60 120 200 305 430 840).
        chats = ranks(4, 6, 9), times(6, (315, 50, 840, 1890, 200, 840), (326, 60, 840, 1955, 200, 840))
        assert await figures(channel="chat") == chats
        assert await figures(queue=SUPPORT) == chats
        assert await figures(workers=[AMY]) == chats
        sms = ranks(100, 100, 100), times(1, (1000, 1000, 1000, 1000, 1000, 1000), (1000,) * 6)
        assert await figures(queue=SALES) == sms
        assert await figures(channel="sms", workers=[BOB]) == sms
        # Nothing in scope: no samples.
        assert await figures(queue=SALES, channel="chat") == (ranks(None, None, None), NONE)
        assert await figures(flow=sids.new_sid(sids.WORKFLOW)) == (ranks(None, None, None), NONE)
        assert await figures(window=(T0 - timedelta(days=1), T0 - timedelta(hours=1))) == (
            ranks(None, None, None),
            NONE,
        )
        # The chats of the first ten minutes: the waits of the first ten (1 1 2 3 3 4 5 5 6 9), and
        # five completed (talk 50 100 200 300 840; handle 60 120 200 305 840).
        first = await figures(channel="chat", window=(T0, T0 + timedelta(minutes=10)))
        assert first == (ranks(3, 6, 9), times(5, (298, 50, 840, 1490, 200, 840), (305, 60, 840, 1525, 200, 840)))
    finally:
        await db.dispose()
