"""A feed's rows become visible in sequence order on both stores: a socket that sent sequence n
never gets a row below n later, so resuming after n misses nothing."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import AgentFeedItem


def row(worker_sid: str, kind: str) -> AgentFeedItem:
    return AgentFeedItem(worker_sid=worker_sid, kind=kind, channel_sid=None, payload_enc="x")


async def visible(db: Database, worker_sid: str) -> list[tuple[int | None, str]]:
    async with db.session() as session:
        query = select(AgentFeedItem).where(AgentFeedItem.worker_sid == worker_sid).order_by(col(AgentFeedItem.id))
        return [(r.id, r.kind) for r in (await session.exec(query)).all()]


async def test_a_later_writer_waits_for_the_earlier_ones_commit(empty_database_url: str) -> None:
    # Two handles on the store, as two processes would have (each queues its own SQLite writers).
    first_process, second_process = Database(empty_database_url), Database(empty_database_url)
    try:
        await migrate(first_process.engine)
        async with first_process.session() as slow:
            slow.add(row("WK1", "earlier"))
            await slow.flush()  # its id is taken; its commit is not there yet

            async def quick_writer() -> None:
                async with second_process.session() as quick:
                    quick.add(row("WK1", "later"))
                    await quick.commit()

            later = asyncio.create_task(quick_writer())
            await asyncio.wait([later], timeout=0.5)  # time enough to commit, had it not to wait
            # A reader now must not see the later row without the earlier one: it would send it,
            # and the earlier row, committed next with a smaller id, would never be sent.
            assert await visible(second_process, "WK1") == []
            await slow.commit()
        await later
        rows = await visible(second_process, "WK1")
        assert [kind for _, kind in rows] == ["earlier", "later"]
    finally:
        await first_process.dispose()
        await second_process.dispose()
