"""Who may reach a channel with an access token: a customer its own channel; an agent (or
supervisor) the channels it joined or holds an open reservation for; an admin any."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.tokens import Grants
from store.models import ChannelAgent, Reservation, Task

OPEN_RESERVATIONS = ("pending", "accepted", "wrapping")


async def may_reach_channel(session: AsyncSession, grants: Grants, channel_sid: str) -> bool:
    if grants.role == "customer":
        return grants.channel_sid == channel_sid
    if grants.role == "admin":
        return True
    if grants.worker_sid is None:
        return False
    if await session.get(ChannelAgent, (channel_sid, grants.worker_sid)) is not None:
        return True
    holding = (
        await session.exec(
            select(Reservation.sid)
            .join(Task, col(Task.sid) == col(Reservation.task_sid))
            .where(
                Reservation.worker_sid == grants.worker_sid,
                Task.channel_sid == channel_sid,
                col(Reservation.reservation_status).in_(OPEN_RESERVATIONS),
            )
        )
    ).first()
    return holding is not None
