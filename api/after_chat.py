"""After the chat: the customer's post-chat rating (the customer socket's ``rate_chat``) and the
agent's wrap-up disposition (``disposition`` on the agent socket's ``wrapup`` and ``complete``).

A rating belongs to one task of the customer's own channel (the token's): the one the customer
names, or the channel's latest; only once that interaction ended (wrap-up, completed or
canceled). It is stored once per task: a resent rating answers the stored one. A disposition is
one of ``SWITCHBOARD_WRAPUP_DISPOSITIONS`` and lands in the task's attributes as
``conversations.outcome``, where Flex Insights reads a conversation's outcome."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from api.conversations import channel_task
from api.deps import AppContext
from api.routing_calls import routed
from api.sockets.session import CommandError, text_field
from switchboard.store.channel_work import LIVE_TASK_STATUSES
from switchboard.store.models import ChatRating, Task
from workflows.routing.messages import TaskChange

RATINGS = range(1, 6)
COMMENT_MAX = 1000
# A task whose interaction has not ended yet: nothing to rate.
NOT_ENDED = ("pending", "reserved", "assigned")


def rating_answer(row: ChatRating, duplicate: bool) -> dict[str, Any]:
    return {"channel_sid": row.channel_sid, "task_sid": row.task_sid, "rating": row.rating, "duplicate": duplicate}


async def rate_chat(context: AppContext, channel_sid: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Store the customer's rating of an ended interaction of their channel (once per task)."""
    rating = frame.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
        raise CommandError(400, "rate_chat: 'rating' must be a whole number from 1 to 5")
    comment = frame.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise CommandError(400, f"rate_chat: 'comment' must be a string of at most {COMMENT_MAX} characters")
    named = text_field(frame, "task_sid", required=False)
    async with context.db.session() as session:
        if named is None:
            task = await channel_task(session, channel_sid)
        else:
            task = await session.get(Task, named)
            if task is not None and task.channel_sid != channel_sid:
                task = None  # another channel's task is not the customer's to rate
        if task is None:
            raise CommandError(404, f"rate_chat: no conversation {named or ''} of this chat to rate".replace("  ", " "))
        stored = await session.get(ChatRating, task.sid)
    if stored is not None:
        return rating_answer(stored, True)
    if task.assignment_status in NOT_ENDED:
        raise CommandError(409, "rate_chat: the conversation has not ended yet")
    text = comment.strip() if comment else ""
    row = ChatRating(
        task_sid=task.sid,
        channel_sid=channel_sid,
        workspace_sid=task.workspace_sid,
        rating=rating,
        comment_enc=context.cipher.encrypt(text, "chat_rating.comment") if text else None,
    )
    try:
        async with context.db.write_session() as session:
            session.add(row)
            await session.commit()
    except IntegrityError:  # rated at the same moment from another socket: the first one stands
        async with context.db.session() as session:
            first = await session.get(ChatRating, task.sid)
        assert first is not None
        return rating_answer(first, True)
    return rating_answer(row, False)


async def rating_figures(session: Any, *where: Any) -> dict[str, Any]:
    """How many ratings the rows ``where`` selects (joined with their tasks), their average and
    how many of each value: one aggregate query."""
    grouped = await session.exec(
        select(ChatRating.rating, func.count())
        .join(Task, col(Task.sid) == col(ChatRating.task_sid))
        .where(*where)
        .group_by(col(ChatRating.rating))
    )
    distribution = {str(value): 0 for value in RATINGS}
    for value, count in grouped:
        distribution[str(value)] = count
    total = sum(distribution.values())
    average = sum(int(v) * n for v, n in distribution.items()) / total if total else None
    return {"count": total, "average": round(average, 2) if average is not None else None, "distribution": distribution}


# --- the wrap-up disposition ------------------------------------------------------------------


def chosen_disposition(context: AppContext, frame: dict[str, Any]) -> str | None:
    """The command's ``disposition``, if any; a 400 naming the field when it is not one of the
    configured list."""
    if frame.get("disposition") is None:
        return None
    choice = text_field(frame, "disposition")
    allowed = context.settings.wrapup_disposition_list
    if choice not in allowed:
        listed = ", ".join(allowed) or "none are configured"
        raise CommandError(400, f"{frame.get('command')}: 'disposition' must be one of the configured list ({listed})")
    return choice


async def record_disposition(context: AppContext, workspace_sid: str, task_sid: str, disposition: str) -> None:
    """Set the task's ``conversations.outcome`` (its other attributes kept) while the task is
    still live, through its workspace's router as every attribute change goes."""
    async with context.db.session() as session:
        task = await session.get(Task, task_sid)
    if task is None or task.assignment_status not in LIVE_TASK_STATUSES:
        raise CommandError(409, "the task has ended: its disposition can no longer be set")
    attributes = json.loads(context.cipher.decrypt(task.attributes_enc, "task.attributes") or "{}")
    conversations = attributes.get("conversations")
    attributes["conversations"] = {**(conversations if isinstance(conversations, dict) else {}), "outcome": disposition}
    change = TaskChange(task_sid, None, None, json.dumps(attributes))
    await routed(context.routing.change_task(workspace_sid, change))
