"""The store's message appends batched across channels (``activities.message_appends``), against
a real store (SQLite and PostgreSQL): appends that wait go in one transaction, each keeps its own
answer, and a failure is one append's alone."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from sqlalchemy import event
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.message_appends import MessageAppender
from activities.store import StoreActivities
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import AgentFeedItem, Channel, ChannelAgent, Message, Reservation, Service, Task
from workflows import sids
from workflows.messages import AppendedMessages, AppendMessages, InboundMessage, NewMessage
from workflows.starter import ChannelClient


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Store:
    db: Database
    cipher: Cipher
    activities: StoreActivities
    service_sid: str
    commits: list[int]

    async def channels(self, count: int) -> list[str]:
        made = [sids.new_sid(sids.CHANNEL) for _ in range(count)]
        async with self.db.write_session() as session:
            for sid in made:
                session.add(
                    Channel(sid=sid, service_sid=self.service_sid, attributes_enc=self.cipher.encrypt("{}", "x"))
                )
            await session.commit()
        return made

    def append(self, channel_sid: str, *keys: str) -> AppendMessages:
        news = [NewMessage(sids.new_sid(sids.MESSAGE), InboundMessage(k, "+15550001", f"body {k}")) for k in keys]
        return AppendMessages(channel_sid, self.service_sid, news)

    async def rows(self, channel_sid: str) -> list[tuple[int, str]]:
        async with self.db.session() as session:
            found = await session.exec(
                select(Message.index, Message.message_key)
                .where(Message.channel_sid == channel_sid)
                .order_by(col(Message.index))
            )
            return list(found)


@pytest.fixture
async def store(empty_database_url: str) -> AsyncIterator[Store]:
    db = Database(empty_database_url)
    await migrate(db.engine)
    cipher = Cipher.from_setting(f"k1:{key()}")
    service_sid = sids.new_sid(sids.SERVICE)
    async with db.write_session() as session:
        session.add(Service(sid=service_sid, friendly_name="appends"))
        await session.commit()
    activities = StoreActivities(db, cipher, KeyedHasher.from_setting(key()), cast(ChannelClient, None))
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda *_: commits.append(1))
    try:
        yield Store(db, cipher, activities, service_sid, commits)
    finally:
        await db.dispose()


async def test_appends_that_wait_share_one_transaction_and_keep_their_own_answers(store: Store) -> None:
    channels = await store.channels(20)
    earlier = await store.activities.append_messages(store.append(channels[0], "first"))
    assert [(m.index, m.duplicate) for m in earlier.stored] == [(0, False)]
    store.commits.clear()

    requests = [store.append(sid, f"k-{n}a", f"k-{n}b") for n, sid in enumerate(channels)]
    requests.append(store.append(channels[1], "first"))  # stored on channel 0 already: its answer
    requests.append(store.append(sids.new_sid(sids.CHANNEL), "orphan"))  # no row: fails alone
    outcomes = await asyncio.gather(*(store.activities.append_messages(r) for r in requests), return_exceptions=True)

    assert len(store.commits) == 1  # all twenty-two waited for one transaction
    *stored, repeat, orphan = outcomes
    assert isinstance(orphan, ApplicationError) and "has no row" in str(orphan)
    assert isinstance(repeat, AppendedMessages)
    [again] = repeat.stored
    assert (again.sid, again.index, again.duplicate) == (earlier.stored[0].sid, 0, True)
    for n, (sid, answer) in enumerate(zip(channels, stored, strict=True)):
        assert isinstance(answer, AppendedMessages)
        first_index = 1 if n == 0 else 0
        assert [(m.index, m.key) for m in answer.stored] == [(first_index, f"k-{n}a"), (first_index + 1, f"k-{n}b")]
        assert (answer.messages_count, answer.last_index) == (first_index + 2, first_index + 1)
        assert await store.rows(sid) == [
            *([(0, "first")] if n == 0 else []),
            *[(m.index, m.key) for m in answer.stored],
        ]
    assert await store.rows(channels[1]) == [(0, "k-1a"), (1, "k-1b")]  # nothing of the repeat


async def test_a_batch_that_fails_is_written_append_by_append(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's transaction failing (say a key stored meanwhile by another worker) costs each
    append its own transaction, not an error: only an append that fails alone fails."""
    channels = await store.channels(3)
    store.commits.clear()
    original = MessageAppender._append_all

    async def fail_batches(self: MessageAppender, session: Any, reqs: list[AppendMessages]) -> Any:
        if len(reqs) > 1:
            raise RuntimeError("the batch's transaction failed")
        return await original(self, session, reqs)

    monkeypatch.setattr(MessageAppender, "_append_all", fail_batches)
    answers = await asyncio.gather(*(store.activities.append_messages(store.append(sid, sid)) for sid in channels))
    assert [[(m.index, m.key) for m in a.stored] for a in answers] == [[(0, sid)] for sid in channels]
    assert len(store.commits) == 3


async def test_a_batch_feeds_each_channels_working_agents(store: Store) -> None:
    """Agents working a channel hear its new messages from the batch, and only theirs."""
    channels = await store.channels(2)
    async with store.db.write_session() as session:
        for n, channel_sid in enumerate(channels):
            task_sid = sids.new_sid(sids.TASK)
            session.add(
                Task(
                    sid=task_sid,
                    workspace_sid="WS" + "0" * 32,
                    workflow_sid="WW" + "0" * 32,
                    task_channel_unique_name="chat",
                    channel_sid=channel_sid,
                    assignment_status="assigned",
                    attributes_enc=store.cipher.encrypt("{}", "task.attributes"),
                )
            )
            worker_sid = f"WK{n:032d}"
            session.add(
                Reservation(
                    sid=sids.new_sid(sids.RESERVATION),
                    workspace_sid="WS" + "0" * 32,
                    task_sid=task_sid,
                    worker_sid=worker_sid,
                    reservation_status="accepted",
                )
            )
            session.add(ChannelAgent(channel_sid=channel_sid, worker_sid=worker_sid))
        await session.commit()
    await asyncio.gather(*(store.activities.append_messages(store.append(sid, f"to-{sid}")) for sid in channels))
    async with store.db.session() as session:
        fed = list(await session.exec(select(AgentFeedItem.worker_sid, AgentFeedItem.channel_sid)))
    assert sorted(fed) == [(f"WK{n:032d}", sid) for n, sid in enumerate(channels)]
