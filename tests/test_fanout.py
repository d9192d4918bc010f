"""Feed wake-ups over Redis pub/sub: commits that write feed rows publish their feeds' keys (and
nothing else does), a process's one subscription wakes exactly the sockets concerned, and two API
replicas on one store, with the poll set out of reach, carry a conversation between a customer on
one and an agent on the other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from switchboard.settings import Settings
from switchboard.store.db import Database
from switchboard.store.fanout import POLL_SECONDS, FeedPublisher, FeedWaiters, agent_key, customer_key
from switchboard.store.migrate import migrate
from switchboard.store.models import AgentFeedItem, CustomerFeedItem, Service
from tests.helpers.sockets import as_agent, as_customer, command, event, frame, open_session, sign_in
from tests.helpers.stack import REDIS_URL, StackFactory, free_port, second_api

pytestmark = pytest.mark.store_backends

# Sockets wait this long between reads when nothing wakes them: out of any test's reach.
NEVER = 3600.0


def agent_row(worker_sid: str) -> AgentFeedItem:
    return AgentFeedItem(worker_sid=worker_sid, kind="typing", channel_sid=None, payload_enc="x")


async def test_commits_that_write_feed_rows_publish_their_feeds(tmp_path: Path) -> None:
    heard: list[set[str]] = []
    publisher = FeedPublisher()
    publisher.add_listener(heard.append)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'feeds.db'}", publisher)
    try:
        await migrate(db.engine)
        async with db.session() as session:
            session.add(agent_row("WK1"))
            await session.flush()  # rows of several flushes: one wake-up, after the commit
            session.add(CustomerFeedItem(channel_sid="CH1", kind="typing", payload_enc="x"))
            session.add(agent_row("WK2"))
            assert heard == []
            await session.commit()
        assert heard == [{agent_key("WK1"), agent_key("WK2"), customer_key("CH1")}]

        async with db.session() as session:
            session.add(agent_row("WK3"))
            await session.flush()
            await session.rollback()
            session.add(Service(sid="IS1", friendly_name="no feed here"))
            await session.commit()
        assert heard == [{agent_key("WK1"), agent_key("WK2"), customer_key("CH1")}]
    finally:
        await db.dispose()


async def test_one_subscription_wakes_exactly_the_sockets_concerned() -> None:
    waiters = FeedWaiters(REDIS_URL, fallback_poll_seconds=NEVER)
    assert waiters.poll_seconds == POLL_SECONDS  # not subscribed yet: poll as without Redis
    subscription = asyncio.create_task(waiters.run())
    publisher = FeedPublisher(REDIS_URL)
    mine, other = agent_key("WK" + uuid.uuid4().hex), customer_key("CH" + uuid.uuid4().hex)
    try:
        await until(lambda: waiters.subscribed)
        assert waiters.poll_seconds == NEVER
        with waiters.watch(mine) as woken, waiters.watch(other) as not_woken, waiters.watch(mine) as also_woken:
            publisher.publish({mine})
            await publisher.flush()
            async with asyncio.timeout(30):
                await woken.wait()
                await also_woken.wait()
            assert not not_woken.is_set()
    finally:
        subscription.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscription
        await publisher.close()
    assert not waiters.subscribed


async def test_without_redis_writers_on_the_same_loop_wake_its_sockets() -> None:
    waiters = FeedWaiters()
    await waiters.run()  # no subscription to hold
    assert waiters.poll_seconds == POLL_SECONDS
    # An API alone hears only its own commits; with the worker on its loop (the dev stack), all.
    assert not waiters.hears_every_commit
    assert FeedWaiters(worker_in_process=True).hears_every_commit
    # With Redis, or a PostgreSQL store, only while subscribed (other processes may write).
    assert not FeedWaiters(REDIS_URL, worker_in_process=True).hears_every_commit
    assert not FeedWaiters(database_url="postgresql+psycopg://x/y", worker_in_process=True).hears_every_commit
    key = agent_key("WK" + uuid.uuid4().hex)

    async def publish_on_another_loop() -> None:
        FeedPublisher().publish({key})

    with waiters.watch(key) as woken:
        # Another stack's loop (tests run several in one process) is not this one's business.
        await asyncio.to_thread(asyncio.run, publish_on_another_loop())
        assert not woken.is_set()
        # The dev stack's worker shares the API's loop: its commits wake the sockets at once.
        FeedPublisher().publish({key})
        assert woken.is_set()


async def test_without_redis_postgresql_carries_the_wake_ups_between_processes(postgres_url: str) -> None:
    """On PostgreSQL a commit that writes feed rows notifies their keys in its own transaction
    (nothing on a rollback), and every API process listens: sockets wake without Redis and
    without polling, whichever process wrote."""
    url = Settings(database_url=postgres_url).resolved_database_url
    waiters = FeedWaiters(fallback_poll_seconds=NEVER, database_url=url)
    assert waiters.poll_seconds == POLL_SECONDS  # not listening yet
    listening = asyncio.create_task(waiters.run())
    writer = Database(url, FeedPublisher(database_url=url))
    mine, rolled_back = "WK" + uuid.uuid4().hex, "WK" + uuid.uuid4().hex
    try:
        await migrate(writer.engine)
        await until(lambda: waiters.subscribed)
        assert waiters.poll_seconds == NEVER
        with waiters.watch(agent_key(mine)) as woken, waiters.watch(agent_key(rolled_back)) as not_woken:

            async def write_on_another_loop() -> None:  # as another process would: not this loop's waiters
                other = Database(url, FeedPublisher(database_url=url))
                try:
                    async with other.session() as session:
                        session.add(agent_row(rolled_back))
                        await session.flush()
                        await session.rollback()
                    async with other.session() as session:
                        session.add(agent_row(mine))
                        await session.commit()
                finally:
                    await other.dispose()

            await asyncio.to_thread(asyncio.run, write_on_another_loop())
            async with asyncio.timeout(30):
                await woken.wait()
            assert not not_woken.is_set()
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await writer.dispose()
    assert not waiters.subscribed


async def test_redis_down_costs_wake_ups_not_commits(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[set[str]] = []
    publisher = FeedPublisher(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    publisher.add_listener(heard.append)
    with caplog.at_level(logging.DEBUG, logger="switchboard.store.fanout"):
        for worker in ("WK1", "WK2"):
            publisher.publish({agent_key(worker)})  # no exception reaches the committing code
            await publisher.flush()
    await publisher.close()
    assert heard == [{agent_key("WK1")}, {agent_key("WK2")}]  # this process's sockets still woke
    levels = [r.levelno for r in caplog.records if "not published" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG]  # one warning per outage


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A Redis server of the test's own, to stop and start again."""
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 (the subscription has no event to wait on)
            await asyncio.sleep(0.01)


async def test_a_lost_subscription_polls_then_comes_back_and_wakes_everyone() -> None:
    port = free_port()
    redis = start_redis(port)
    waiters = FeedWaiters(f"redis://127.0.0.1:{port}/0", fallback_poll_seconds=NEVER)
    subscription = asyncio.create_task(waiters.run())
    try:
        with waiters.watch(agent_key("WK1")) as woken:
            await until(lambda: waiters.subscribed)
            assert waiters.hears_every_commit
            woken.clear()
            redis.terminate()
            redis.wait()
            await until(lambda: not waiters.subscribed)
            assert waiters.poll_seconds == POLL_SECONDS  # sockets poll while nothing can wake them
            # Readers that waited for wake-ups alone (the supervisor's board) are told to look again.
            assert woken.is_set() and not waiters.hears_every_commit
            woken.clear()
            redis = start_redis(port)
            await until(lambda: waiters.subscribed)
            # Whatever was written while the subscription was down: every socket reads again.
            assert woken.is_set() and waiters.poll_seconds == NEVER and waiters.hears_every_commit
    finally:
        subscription.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscription
        redis.terminate()
        redis.wait()


def test_a_customer_and_an_agent_on_different_replicas_converse(make_stack: StackFactory) -> None:
    one = make_stack(desk_dev_sign_in=True, redis_url=REDIS_URL, feed_fallback_poll_seconds=NEVER)
    settings = one.settings.model_copy(update={"api_port": free_port()})
    with second_api(settings) as two:
        agent = sign_in(one, "ines")
        session = open_session(two, "Bo")
        channel_sid = session["channel_sid"]

        async def converse() -> int:
            async with as_agent(one, agent["token"]) as desk, as_customer(two, session["token"]) as chat:
                await frame(desk, lambda f: f["type"] == "ready")
                await frame(chat, lambda f: f["type"] == "ready")
                await command(desk, "a1", "set_activity", activity="Available")
                # Written by the worker (behind replica one), heard on replica two and back.
                sent = await command(chat, "c1", "send_message", body="Hello from replica two", key="k1")
                await frame(chat, event("message", sid=sent["sid"]))
                offered = await frame(desk, event("reservation.created"))
                await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
                await frame(chat, event("member.joined", identity="ines"))
                # Written by replica one itself, heard on replica two, and the reverse.
                await command(desk, "a3", "typing", channel_sid=channel_sid)
                await frame(chat, event("typing", identity="ines"))
                await command(chat, "c2", "typing")
                await frame(desk, event("typing", identity=session["identity"]))
                answer = await command(desk, "a4", "send_message", channel_sid=channel_sid, body="Hi Bo", key="d1")
                heard = await frame(chat, event("message", sid=answer["sid"]))
                second = await command(chat, "c3", "send_message", body="Thanks", key="k2")
                reached = await frame(desk, event("message", sid=second["sid"]))
                assert reached["data"]["body"] == "Thanks" and heard["data"]["body"] == "Hi Bo"
                return int((await frame(chat, event("message", sid=second["sid"])))["sequence"])

        last_seen = asyncio.run(converse())

        async def resume_on_the_other_replica() -> None:
            async with as_agent(one, agent["token"]) as desk:
                await frame(desk, lambda f: f["type"] == "ready")
                for n in range(2):
                    await command(
                        desk, f"b{n}", "send_message", channel_sid=channel_sid, body=f"later {n}", key=f"l{n}"
                    )
                async with as_customer(one, session["token"], resume_after=last_seen) as chat:
                    await frame(chat, lambda f: f["type"] == "ready")
                    missed = [await frame(chat, lambda f: f["type"] == "event") for _ in range(2)]
                    assert [m["data"]["body"] for m in missed] == ["later 0", "later 1"]
                    await command(desk, "b2", "send_message", channel_sid=channel_sid, body="now", key="l2")
                    after = await frame(chat, lambda f: f["type"] == "event")
                    assert after["data"]["body"] == "now"  # nothing twice, nothing skipped

        asyncio.run(resume_on_the_other_replica())
