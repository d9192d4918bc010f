"""Which agents have a desk open, counted over every API replica (``store.models.desks``).

A socket opens a row with a lease, renews it while it stays open and ends it when it closes; a
replica that dies leaves a lease that runs out. ``sweep`` is the one reading of those rows: an
agent is present while one of its rows is live; one whose rows all ended at least the grace period
ago has *departed* (its rows are removed as it is reported, so it is reported once)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.models import DeskConnection, utcnow


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def open_desk(session: AsyncSession, workspace_sid: str, worker_sid: str, lease: timedelta) -> str:
    """A new open desk of ``worker_sid``; its id, to renew and close it by."""
    desk_id = uuid.uuid4().hex
    session.add(
        DeskConnection(id=desk_id, workspace_sid=workspace_sid, worker_sid=worker_sid, live_until=utcnow() + lease)
    )
    await session.commit()
    return desk_id


async def renew_desk(session: AsyncSession, desk_id: str, lease: timedelta) -> None:
    await session.exec(
        update(DeskConnection).where(col(DeskConnection.id) == desk_id).values(live_until=utcnow() + lease)
    )
    await session.commit()


async def close_desk(session: AsyncSession, desk_id: str) -> None:
    """The desk is gone now (its row stays until the router has counted it: ``sweep``)."""
    await session.exec(update(DeskConnection).where(col(DeskConnection.id) == desk_id).values(live_until=utcnow()))
    await session.commit()


@dataclass
class DeskSweep:
    # Agents still on record: when to look again (present: its earliest lease end; absent: when
    # its last desk went), each to be looked at again ``grace`` after that.
    present: dict[str, datetime] = field(default_factory=dict)
    absent: dict[str, datetime] = field(default_factory=dict)
    # Agents whose last desk went at least ``grace`` ago.
    departed: list[str] = field(default_factory=list)


async def sweep(session: AsyncSession, workspace_sid: str, grace: timedelta) -> DeskSweep:
    """Where the workspace's agents stand; rows ended ``grace`` ago or more are removed."""
    now = utcnow()
    rows = (await session.exec(select(DeskConnection).where(DeskConnection.workspace_sid == workspace_sid))).all()
    by_worker: dict[str, list[DeskConnection]] = {}
    for row in rows:
        by_worker.setdefault(row.worker_sid, []).append(row)
    result = DeskSweep()
    spent: list[str] = []
    for worker_sid, desks in sorted(by_worker.items()):
        ends = {desk.id: _aware(desk.live_until) for desk in desks}
        live = [end for end in ends.values() if end > now]
        spent.extend(desk_id for desk_id, end in ends.items() if end + grace <= now)
        if live:
            result.present[worker_sid] = min(live)
        elif max(ends.values()) + grace <= now:
            result.departed.append(worker_sid)
        else:
            result.absent[worker_sid] = max(ends.values())
    if spent:
        await session.exec(delete(DeskConnection).where(col(DeskConnection.id).in_(spent)))
        await session.commit()
    return result
