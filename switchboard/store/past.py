"""A contact's conversations: every channel opened from the same address (its keyed hash: a
contact moves to a new channel SID when one closes or is deleted) or joined by the same identity,
each with its interactions (tasks), their dates and outcomes. Stored text stays encrypted: contacts
are found by the keyed hash of their exact address or identity, never by searching plaintext."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.contacts import address_hash, identity_hash
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.feed import chat_ended_by
from switchboard.store.models import Channel, Member, Reservation, Task, Worker
from switchboard.store.notes import utc_text
from workflows.routing.messages import HANDED_OVER

# At most this many of a contact's channels are listed (the latest).
MAX_CONVERSATIONS = 50
# Reservations whose worker had the conversation.
HANDLED = ("accepted", "wrapping", "completed")


def outcome_of(attributes: dict[str, Any]) -> str | None:
    """The wrap-up disposition a task carries (``conversations.outcome``), if any."""
    conversations = attributes.get("conversations")
    outcome = conversations.get("outcome") if isinstance(conversations, dict) else None
    return outcome if isinstance(outcome, str) and outcome else None


def ended_by(task: Task) -> str | None:
    """Who ended the interaction: the customer or the system (the chat ended), else the agent who
    completed the task."""
    by = chat_ended_by(task.reason)
    if by is None and task.assignment_status == "completed":
        return "agent"
    return by


async def contact_hash_of(session: AsyncSession, channel_sid: str) -> str | None:
    channel = await session.get(Channel, channel_sid)
    return channel.contact_hash if channel is not None else None


async def conversations_of(session: AsyncSession, cipher: Cipher, channels: Sequence[Channel]) -> list[dict[str, Any]]:
    """``channels`` (latest first) with their interactions, oldest first."""
    sids = [c.sid for c in channels]
    tasks = (
        await session.exec(
            select(Task).where(col(Task.channel_sid).in_(sids)).order_by(col(Task.date_created), col(Task.sid))
        )
    ).all()
    handlers = (
        await session.exec(
            select(Reservation.task_sid, Worker.friendly_name)
            .join(Worker, col(Worker.sid) == col(Reservation.worker_sid))
            .where(
                col(Reservation.task_sid).in_([t.sid for t in tasks]), col(Reservation.reservation_status).in_(HANDLED)
            )
            .order_by(col(Reservation.date_created))
        )
    ).all()
    agents: dict[str, list[str]] = {}
    for task_sid, name in handlers:
        if name not in agents.setdefault(task_sid, []):
            agents[task_sid].append(name)
    interactions: dict[str, list[dict[str, Any]]] = {}
    # A transfer hands the interaction on to a new task: its legs make one interaction, the
    # last task's, begun when the first was and handled by all their agents.
    legs: dict[str, tuple[str, list[str]]] = {}
    for task in tasks:
        channel_sid = task.channel_sid or ""
        began, before = legs.pop(channel_sid, (utc_text(task.date_created), []))
        handled = before + [name for name in agents.get(task.sid, []) if name not in before]
        if task.reason == HANDED_OVER:
            legs[channel_sid] = (began, handled)
            continue
        attributes = json.loads(cipher.decrypt(task.attributes_enc, "task.attributes"))
        interactions.setdefault(channel_sid, []).append(
            {
                "task_sid": task.sid,
                "date_created": began,
                "date_updated": utc_text(task.date_updated),
                "assignment_status": task.assignment_status,
                "ended_by": ended_by(task),
                "outcome": outcome_of(attributes if isinstance(attributes, dict) else {}),
                "agents": handled,
            }
        )
    return [
        {
            "channel_sid": channel.sid,
            "service_sid": channel.service_sid,
            "channel_type": channel.channel_type,
            "friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
            "status": channel.status,
            "date_created": utc_text(channel.date_created),
            "date_updated": utc_text(channel.date_updated),
            "interactions": interactions.get(channel.sid, []),
        }
        for channel in channels
    ]


async def contact_channels(session: AsyncSession, contact_hash: str) -> list[Channel]:
    """The contact's channels, latest first."""
    query = (
        select(Channel)
        .where(col(Channel.contact_hash) == contact_hash)
        .order_by(col(Channel.date_created).desc(), col(Channel.sid))
        .limit(MAX_CONVERSATIONS)
    )
    return list((await session.exec(query)).all())


async def channels_found(
    session: AsyncSession, hasher: KeyedHasher, *, address: str | None = None, identity: str | None = None
) -> list[Channel]:
    """The channels of the contact at the exact ``address`` (opened from it), or of ``identity``
    (opened by it, as a web chat's customer, or joined as a member), latest first."""
    value = address if address is not None else identity
    assert value is not None
    opened = col(Channel.contact_hash) == address_hash(hasher, value)
    condition = opened
    if identity is not None:
        joined = select(Member.channel_sid).where(col(Member.identity_hash) == identity_hash(hasher, identity))
        condition = or_(opened, col(Channel.sid).in_(joined))
    query = (
        select(Channel)
        .where(condition)
        .order_by(col(Channel.date_created).desc(), col(Channel.sid))
        .limit(MAX_CONVERSATIONS)
    )
    return list((await session.exec(query)).all())
