"""An agent's desk presence: while an agent socket is open, its row in the store
(``store.desks``) says so to every API replica and to the workspace router.

The socket opens its row with a lease, renews it every third of the lease, and ends it when it
closes; each opening and closing signals the router, which reads the rows and moves an agent whose
last desk has been gone ``desk_disconnect_grace_seconds`` to ``desk_disconnect_activity``, its
pending offers going on to others. A replica that dies says nothing: its sockets' leases run out,
and the router, which looks again when a lease would have run out, counts them as gone then."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from api.deps import AppContext
from switchboard.store import desks

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def desk_open(context: AppContext, workspace_sid: str, worker_sid: str) -> AsyncIterator[None]:
    """The agent has this desk open for as long as the block runs."""
    lease = timedelta(seconds=context.settings.desk_presence_lease_seconds)
    async with context.db.write_session() as session:
        desk_id = await desks.open_desk(session, workspace_sid, worker_sid, lease)
    # In the background: the socket does not wait for the router to hear of it.
    renewer = asyncio.create_task(_keep_open(context, workspace_sid, desk_id, lease))
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        try:
            async with context.db.write_session() as session:
                await desks.close_desk(session, desk_id)
        except Exception as exc:  # the lease runs out instead
            log.warning("desk %s of worker %s not closed in the store: %s", desk_id, worker_sid, exc)
        else:
            await _tell_router(context, workspace_sid, closed=True)


async def _keep_open(context: AppContext, workspace_sid: str, desk_id: str, lease: timedelta) -> None:
    await _tell_router(context, workspace_sid, closed=False)
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            async with context.db.write_session() as session:
                await desks.renew_desk(session, desk_id, lease)
        except Exception as exc:  # tried again at the next third; the lease outlasts two misses
            log.warning("desk %s lease not renewed: %s", desk_id, exc)


async def _tell_router(context: AppContext, workspace_sid: str, *, closed: bool) -> None:
    """The router reads the rows when told; a missed word only delays that to its next look."""
    try:
        await context.routing.desk_changed(workspace_sid, closed=closed)
    except Exception as exc:
        log.warning("workspace %s router not told of a desk change: %s", workspace_sid, exc)
