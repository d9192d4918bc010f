"""Wake-ups for the sockets that read feeds, across API replicas, over Redis pub/sub.

The store stays the source of truth: a socket sends what it reads from its feed table, in sequence
order, and resumes from the last sequence its client saw. This module only shortens the wait:
whoever commits feed rows (an API process, or a worker's activities) publishes the keys of the
feeds written to, and every API process holds one subscription that wakes the sockets reading
those feeds at once. A lost wake-up costs latency, never an event: the sockets still poll, less
often while the subscription is up. Without Redis a process wakes its own sockets and the others
poll as before.

The same keys carry invalidations of what API processes keep in memory (``api.lookups``): a
committed change to a Flex Flow publishes ``flexflow:<sid>``, a contact moved to another channel
``contact:<flex flow sid>:<address hash>``; ``FeedWaiters.add_listener`` hears every key, from this
loop's commits and from Redis. The supervisor view listens the same way: ``workspace:<sid>`` for a
change to a workspace's tasks, reservations, queues or workers, ``channel:<sid>`` for a new message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import psycopg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from switchboard.store.models import (
    AddressConfiguration,
    AgentFeedItem,
    Channel,
    Contact,
    CustomerFeedItem,
    FlexFlow,
    Message,
    Reservation,
    Task,
    TaskQueue,
    Worker,
    WorkerChannel,
)
from workflows.messages import ChannelStatus

log = logging.getLogger(__name__)

CHANNEL = "switchboard:feed"
# PostgreSQL's channel for the same wake-ups when there is no Redis (NOTIFY in the transaction that
# wrote the rows, LISTEN in every API process).
PG_CHANNEL = "switchboard_feed"
# NOTIFY payloads must stay under 8,000 bytes: longer key lists go in several notifications.
PG_PAYLOAD_BYTES = 7000
# Where a session keeps the keys of the feeds its transaction wrote to, and its publisher.
KEYS_INFO = "switchboard.feed_keys"
PUBLISHER_INFO = "switchboard.feed_publisher"
# How often sockets look at their feed without Redis, or while the subscription is down.
POLL_SECONDS = 0.2
RECONNECT_SECONDS = (0.2, 5.0)


def agent_key(worker_sid: str) -> str:
    return f"agent:{worker_sid}"


def customer_key(channel_sid: str) -> str:
    return f"customer:{channel_sid}"


# What a contact's channel row gives the webhooks (``api.channels.contact_channel``).
CHANNEL_ANSWERS = ("webhooks_json", "status", "long_lived", "attributes_written", "attributes_enc")


def flex_flow_key(flex_flow_sid: str) -> str:
    return f"flexflow:{flex_flow_sid}"


def contact_key(flex_flow_sid: str, address_hash: str) -> str:
    return f"contact:{flex_flow_sid}:{address_hash}"


def workspace_key(workspace_sid: str) -> str:
    """Woken by every committed change to a workspace's tasks, reservations, queues and workers (and
    their channels): what the supervisor view shows (``api.sockets.supervision``)."""
    return f"workspace:{workspace_sid}"


def channel_key(channel_sid: str) -> str:
    """Woken by every message stored in the channel: what a supervisor monitoring it reads."""
    return f"channel:{channel_sid}"


# The rows whose changes the supervisor view shows.
BOARD_ROWS = (Task, Reservation, Worker, WorkerChannel, TaskQueue)


def board_key(row: object, change: Change) -> str | None:
    if isinstance(row, BOARD_ROWS):
        return workspace_key(row.workspace_sid)
    if isinstance(row, Message) and change == "new":
        return channel_key(row.channel_sid)
    return None


def feed_key(row: object) -> str | None:
    if isinstance(row, AgentFeedItem):
        return agent_key(row.worker_sid)
    if isinstance(row, CustomerFeedItem):
        return customer_key(row.channel_sid)
    return None


Change = Literal["new", "dirty", "deleted"]


def changed_key(row: object, change: Change) -> str | None:
    """The key of a Flex Flow or contact a flush changes: the contact's row, or what its channel
    gives a webhook (the webhooks and attributes a caller set, its status). A new contact on its first channel (sequence 0) and
    a new channel without webhooks change nobody's answer: without them a contact's channel is that
    same first one, running its Flex Flow's integration."""
    if isinstance(row, (FlexFlow, AddressConfiguration)):
        return flex_flow_key(row.sid)  # an address configuration serves addresses as a Flex Flow does
    if isinstance(row, Contact) and not (change == "new" and row.sequence == 0):
        return contact_key(row.flex_flow_sid, row.address_hash)
    if isinstance(row, Channel) and row.flex_flow_sid and row.contact_hash:
        if change == "new":
            changed = row.webhooks_json is not None or row.attributes_written or row.status == ChannelStatus.INACTIVE
        elif change == "dirty":
            changed = any(inspect(row).attrs[name].history.has_changes() for name in CHANNEL_ANSWERS)
        else:
            changed = True
        if changed:
            return contact_key(row.flex_flow_sid, row.contact_hash)
    return None


async def publish_on_commit(session: AsyncSession, keys: Iterable[str]) -> None:
    """Publish ``keys`` once ``session``'s transaction commits, with the feed keys it wrote: for
    changes the session does not track row by row (bulk deletes)."""
    publisher: FeedPublisher | None = session.info.get(PUBLISHER_INFO)
    if publisher is None:
        return
    keys = set(keys)
    session.info.setdefault(KEYS_INFO, set()).update(keys)
    if publisher.notifies_in_transaction:
        connection = await session.connection()
        for payload in payloads(keys):
            await connection.execute(
                text("SELECT pg_notify(:channel, :keys)"), {"channel": PG_CHANNEL, "keys": payload}
            )


# The waiters of each event loop of this process: a worker that shares the API's loop (the dev
# stack) wakes the API's sockets without Redis. Other loops (other stacks in tests) are not told.
_waiters_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[FeedWaiters]] = (
    weakref.WeakKeyDictionary()
)


def connect(redis_url: str) -> Redis:
    return Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=30)


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql", "postgres:"))


def libpq_url(database_url: str) -> str:
    """The store's SQLAlchemy URL as psycopg connects to it (no ``+driver``)."""
    scheme, rest = database_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def payloads(keys: Iterable[str]) -> Iterator[str]:
    """Space-separated keys, each payload short enough for one NOTIFY."""
    chunk: list[str] = []
    size = 0
    for key in sorted(keys):
        if chunk and size + len(key) + 1 > PG_PAYLOAD_BYTES:
            yield " ".join(chunk)
            chunk, size = [], 0
        chunk.append(key)
        size += len(key) + 1
    if chunk:
        yield " ".join(chunk)


class FeedPublisher:
    """Tells who reads feeds that a committed transaction wrote to: the sockets on this event loop
    (and any ``add_listener``) at once, and the other processes through Redis (when configured)."""

    def __init__(self, redis_url: str = "", database_url: str = "") -> None:
        self._redis = connect(redis_url) if redis_url else None
        # Without Redis, a PostgreSQL store carries the wake-ups itself: each transaction that
        # writes feed rows notifies their keys, delivered when (and only if) it commits.
        self.notifies_in_transaction = not redis_url and is_postgres(database_url)
        self._listeners: list[Callable[[set[str]], None]] = []
        self._queue: asyncio.Queue[set[str]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._failing = False

    def add_listener(self, listener: Callable[[set[str]], None]) -> None:
        self._listeners.append(listener)

    def publish(self, keys: set[str]) -> None:
        """Called once the transaction committed (from a session event, so not a coroutine):
        Redis is written to by a task that sends whatever piled up meanwhile as one message."""
        loop = asyncio.get_running_loop()
        for waiters in list(_waiters_by_loop.get(loop, ())):
            waiters.wake(keys)
        for listener in self._listeners:
            listener(keys)
        if self._redis is None:
            return
        self._queue.put_nowait(keys)
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send())

    async def _send(self) -> None:
        assert self._redis is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._redis.publish(CHANNEL, " ".join(sorted(set().union(*batch))))
                self._failing = False
            except (RedisError, OSError) as exc:  # the readers' poll picks these up
                # Once per outage, not once per commit.
                log.log(logging.DEBUG if self._failing else logging.WARNING, "feed wake-ups not published: %s", exc)
                self._failing = True
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def flush(self) -> None:
        """Wait until everything published so far was handed to Redis."""
        if self._sender is not None and not self._sender.done():
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._redis is not None:
            await self._redis.aclose()


def session_info(publisher: FeedPublisher | None) -> dict[str, Any]:
    """The ``info`` a session factory gives its sessions so that their commits publish."""
    return {PUBLISHER_INFO: publisher} if publisher is not None else {}


@event.listens_for(Session, "after_flush")
def _collect_feed_keys(session: Session, _flush_context: Any) -> None:
    publisher: FeedPublisher | None = session.info.get(PUBLISHER_INFO)
    if publisher is None:
        return
    keys = {key for key in map(feed_key, session.new) if key is not None}
    changes: tuple[tuple[Change, Iterable[object]], ...] = (
        ("new", session.new),
        ("dirty", session.dirty),
        ("deleted", session.deleted),
    )
    for change, rows in changes:
        keys.update(key for row in rows if (key := changed_key(row, change)) is not None)
        keys.update(key for row in rows if (key := board_key(row, change)) is not None)
    if keys:
        session.info.setdefault(KEYS_INFO, set()).update(keys)
        if publisher.notifies_in_transaction:
            connection = session.connection()
            for payload in payloads(keys):
                connection.execute(text("SELECT pg_notify(:channel, :keys)"), {"channel": PG_CHANNEL, "keys": payload})


@event.listens_for(Session, "after_commit")
def _publish_feed_keys(session: Session) -> None:
    keys: set[str] | None = session.info.pop(KEYS_INFO, None)
    publisher: FeedPublisher | None = session.info.get(PUBLISHER_INFO)
    if keys and publisher is not None:
        publisher.publish(keys)


@event.listens_for(Session, "after_rollback")
def _forget_feed_keys(session: Session) -> None:
    session.info.pop(KEYS_INFO, None)


class FeedWaiters:
    """One API process's sockets waiting for their feeds, and its one Redis subscription."""

    def __init__(
        self,
        redis_url: str = "",
        fallback_poll_seconds: float = POLL_SECONDS,
        database_url: str = "",
        worker_in_process: bool = False,
    ) -> None:
        self._redis_url = redis_url
        # Without Redis, a PostgreSQL store's notifications (``FeedPublisher``) wake the sockets.
        self._postgres_url = libpq_url(database_url) if not redis_url and is_postgres(database_url) else ""
        self._fallback = fallback_poll_seconds
        # Neither: only this loop's commits wake its sockets, which is all of them when the worker
        # runs on this loop too (the dev stack, on this machine's SQLite).
        self._alone = worker_in_process and not redis_url and not self._postgres_url
        self._waiting: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._listeners: list[Callable[[Iterable[str] | None], None]] = []
        self.subscribed = False

    def add_listener(self, listener: Callable[[Iterable[str] | None], None]) -> None:
        """``listener`` hears every key woken (None: anything may have changed, as when the
        subscription is (re)established after missing messages)."""
        self._listeners.append(listener)
        with contextlib.suppress(RuntimeError):  # no loop yet: ``run`` joins it
            self._join_loop()

    def _join_loop(self) -> None:
        """Be woken by the commits of every publisher on this event loop."""
        _waiters_by_loop.setdefault(asyncio.get_running_loop(), weakref.WeakSet()).add(self)

    @property
    def poll_seconds(self) -> float:
        """How long a socket waits for a wake-up before it looks at its feed anyway."""
        return self._fallback if self.subscribed else POLL_SECONDS

    @property
    def hears_every_commit(self) -> bool:
        """Whether every committed key reaches this process (the subscription is up, or the whole
        stack commits on this loop): a reader may then wait for wake-ups alone, with no poll."""
        return self.subscribed or self._alone

    def _lost(self) -> None:
        """The subscription went down: the readers waiting on it alone look again, and poll."""
        if self.subscribed:
            self.subscribed = False
            self.wake(list(self._waiting))

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever the feed ``key`` may have new rows (the watcher clears it
        before each read, so a wake-up during a read is not lost)."""
        woken = asyncio.Event()
        self._join_loop()
        self._waiting[key].add(woken)
        try:
            yield woken
        finally:
            self._waiting[key].discard(woken)
            if not self._waiting[key]:
                del self._waiting[key]

    def wake(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            for woken in self._waiting.get(key, ()):
                woken.set()
        for listener in self._listeners:
            listener(keys)

    def wake_all(self) -> None:
        for listener in self._listeners:
            listener(None)
        self.wake(list(self._waiting))

    async def run(self) -> None:
        """Hold the subscription (reconnecting with backoff) until cancelled: Redis's, else a
        PostgreSQL store's LISTEN; with neither, return at once."""
        self._join_loop()
        if self._postgres_url:
            await self._listen_to_postgres()
            return
        if not self._redis_url:
            return
        delay = RECONNECT_SECONDS[0]
        while True:
            redis = connect(self._redis_url)
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed = True
                    delay = RECONNECT_SECONDS[0]
                    self.wake_all()  # anything written while we were not listening
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self.wake((data.decode() if isinstance(data, bytes) else str(data)).split())
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost (%s); sockets poll until it is back", exc)
            finally:
                self._lost()
                await redis.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])

    async def _listen_to_postgres(self) -> None:
        delay = RECONNECT_SECONDS[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._postgres_url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.subscribed = True
                    delay = RECONNECT_SECONDS[0]
                    self.wake_all()  # anything written while we were not listening
                    async for notification in conn.notifies():
                        self.wake(notification.payload.split())
            except (psycopg.Error, OSError) as exc:
                log.warning("PostgreSQL LISTEN lost (%s); sockets poll until it is back", exc)
            finally:
                self._lost()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])
