"""Who works a conversation now. An agent joins a channel for good when it accepts a task on it
(``ChannelAgent``), but works it only while it holds that task: once the task is completed, or
handed over by a transfer, the channel is still readable to the agent (its history, earlier
interactions) but it is no longer the agent's to write in, and its live events no longer reach the
agent's feed. A returning customer's next task, once accepted, makes the channel the agent's again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from switchboard.store.models import Channel, ChannelAgent, Reservation, Task
from workflows.routing.messages import HANDED_OVER

# Reservation states in which an agent may act on the conversation (answer an offer's customer,
# type, mark read) and those in which it is in the conversation (it accepted and has not finished).
ACTING_RESERVATIONS = ("pending", "accepted", "wrapping")
WORKING_RESERVATIONS = ("accepted", "wrapping")
# Tasks an agent may still be offered or be working on: they still need their workflow, queue and
# channel.
LIVE_TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")


def still_held(statuses: Sequence[str]) -> ColumnElement[bool]:
    """A reservation in ``statuses`` on a task its worker still holds (not handed over by a
    transfer); for queries joining ``Reservation`` and ``Task``."""
    return col(Reservation.reservation_status).in_(statuses) & or_(
        col(Task.reason).is_(None), col(Task.reason) != HANDED_OVER
    )


def holders(channel_sid: str, statuses: Sequence[str]) -> SelectOfScalar[str]:
    """Workers with a reservation in ``statuses`` on a task of the channel they still hold."""
    return (
        select(Reservation.worker_sid)
        .join(Task, col(Task.sid) == col(Reservation.task_sid))
        .where(Task.channel_sid == channel_sid, still_held(statuses))
    )


async def working_agents(session: AsyncSession, channel_sid: str) -> list[str]:
    """The agents in the conversation now: joined, and still holding its accepted task."""
    return (await working_agents_of(session, [channel_sid])).get(channel_sid, [])


async def working_agents_of(session: AsyncSession, channel_sids: Sequence[str]) -> dict[str, list[str]]:
    """``working_agents`` of several channels in one read: channel SID -> its agents."""
    if not channel_sids:
        return {}
    rows = await session.exec(
        select(ChannelAgent.channel_sid, ChannelAgent.worker_sid)
        .distinct()
        .join(Task, col(Task.channel_sid) == col(ChannelAgent.channel_sid))
        .join(
            Reservation,
            (col(Reservation.task_sid) == col(Task.sid))
            & (col(Reservation.worker_sid) == col(ChannelAgent.worker_sid)),
        )
        .where(col(ChannelAgent.channel_sid).in_(list(channel_sids)), still_held(WORKING_RESERVATIONS))
    )
    agents: dict[str, list[str]] = {}
    for channel_sid, worker_sid in rows:
        agents.setdefault(channel_sid, []).append(worker_sid)
    return agents


async def worked_channels(session: AsyncSession, worker_sid: str) -> list[str]:
    """The conversations the worker is in now (joined, still holding the accepted task)."""
    rows = await session.exec(
        select(ChannelAgent.channel_sid)
        .distinct()
        .join(Task, col(Task.channel_sid) == col(ChannelAgent.channel_sid))
        .join(Reservation, col(Reservation.task_sid) == col(Task.sid))
        .where(
            ChannelAgent.worker_sid == worker_sid,
            Reservation.worker_sid == worker_sid,
            still_held(WORKING_RESERVATIONS),
        )
    )
    return list(rows)


async def may_act(session: AsyncSession, worker_sid: str, channel_sid: str) -> bool:
    """Whether the worker holds a task of the channel: offered, accepted or wrapping up."""
    query = holders(channel_sid, ACTING_RESERVATIONS).where(Reservation.worker_sid == worker_sid).limit(1)
    return (await session.exec(query)).first() is not None


async def has_joined(session: AsyncSession, worker_sid: str, channel_sid: str) -> bool:
    """Whether the worker ever accepted a task of the channel (it may read the channel)."""
    return await session.get(ChannelAgent, (channel_sid, worker_sid)) is not None


async def serves_contact(session: AsyncSession, worker_sid: str, contact_hash: str) -> bool:
    """Whether the worker holds a task (offered, accepted or wrapping up) on any channel of the
    contact whose keyed address hash is ``contact_hash``: it is serving that customer now."""
    query = (
        select(Reservation.sid)
        .join(Task, col(Task.sid) == col(Reservation.task_sid))
        .join(Channel, col(Channel.sid) == col(Task.channel_sid))
        .where(
            col(Channel.contact_hash) == contact_hash,
            Reservation.worker_sid == worker_sid,
            still_held(ACTING_RESERVATIONS),
        )
        .limit(1)
    )
    return (await session.exec(query)).first() is not None
