"""Canned responses (Switchboard's own resource, ``/v1/Workspaces/{WS}/CannedResponses``): the
checks a body and a shortcut pass when an admin saves them, and which responses an agent's desk
gets (``canned_responses`` on the agent socket).

A body is a Liquid template that must parse (python-liquid, as Studio's). The desk fills the
placeholders it knows (``PLACEHOLDERS``) by plain substitution and leaves every other ``{{ }}`` as
written: nothing in a body is ever executed, on the server or in the browser."""

from __future__ import annotations

import re
from typing import Any

from liquid import Environment
from liquid.exceptions import LiquidError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import AppContext
from api.routing_state import WorkerDirectory
from api.twilio_shape import CONFLICT, TwilioError, invalid
from switchboard.store.models import CannedResponse, TaskQueue, Worker

BODY_MAX_CHARS = 4000
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# What the desk fills in; documented in docs/routing.md#canned-responses.
PLACEHOLDERS = ("customer.name", "customer.first_name", "agent.name", "agent.first_name")

_LIQUID = Environment()


def checked_shortcut(value: str) -> str:
    shortcut = value.strip().lstrip("/").lower()
    if not SHORTCUT.match(shortcut):
        raise invalid("Shortcut", "must be 1 to 32 letters, digits, '-' or '_', starting with a letter or digit")
    return shortcut


def checked_body(value: str) -> str:
    if not value.strip():
        raise invalid("Body", "must not be empty")
    if len(value) > BODY_MAX_CHARS:
        raise invalid("Body", f"must be at most {BODY_MAX_CHARS} characters")
    try:
        _LIQUID.from_string(value)
    except LiquidError as exc:
        raise invalid("Body", f"is not a valid Liquid template ({exc})") from None
    return value


async def checked_queue(session: AsyncSession, workspace_sid: str, queue_sid: str | None) -> str | None:
    """The queue a response is for (an empty value: the whole workspace)."""
    if not queue_sid:
        return None
    queue = await session.get(TaskQueue, queue_sid)
    if queue is None or queue.workspace_sid != workspace_sid:
        raise invalid("TaskQueueSid", f"task queue {queue_sid} is not in workspace {workspace_sid}")
    return queue_sid


def taken(shortcut: str) -> TwilioError:
    return TwilioError(409, f"CannedResponse with Shortcut {shortcut} already exists in this workspace", CONFLICT)


async def for_agent(context: AppContext, workspace_sid: str, worker_sid: str) -> list[dict[str, Any]]:
    """The workspace's responses for everyone, and those of the queues whose TargetWorkers admit
    the worker, by shortcut: as the Workers list's ``TaskQueueSid`` filter decides it
    (``api.routing_state.WorkerDirectory``: the worker's fields and channels, and ``taskrouter.*``
    with ``businessOpen`` by the workspace's business hours)."""
    async with context.db.session() as session:
        rows = (
            await session.exec(
                select(CannedResponse)
                .where(CannedResponse.workspace_sid == workspace_sid)
                .order_by(col(CannedResponse.shortcut))
            )
        ).all()
        queue_sids = {row.task_queue_sid for row in rows if row.task_queue_sid}
        mine: set[str] = set()
        if queue_sids:
            worker = await session.get(Worker, worker_sid)
            queues = (await session.exec(select(TaskQueue).where(col(TaskQueue.sid).in_(queue_sids)))).all()
            if worker is not None:
                directory = await WorkerDirectory.load(context, session, workspace_sid)
                mine = {queue.sid for queue in queues if directory.in_queue(queue, worker)}
    return [
        {
            "sid": row.sid,
            "friendly_name": row.friendly_name,
            "shortcut": row.shortcut,
            "body": row.body,
            "task_queue_sid": row.task_queue_sid,
        }
        for row in rows
        if row.task_queue_sid is None or row.task_queue_sid in mine
    ]
