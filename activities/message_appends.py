"""The channel workflows' message writes, batched across channels: appends that arrive while a
write transaction runs wait for it and then go together in the next one, whose statements cover
all of them (one read of the channels, one of the keys already stored, one of the agents to tell,
the inserts, the channels' totals). At a trickle an append goes alone and waits for nobody; under
load the cost is per batch, not per message.

Each append keeps its own rules: a key already stored answers its stored row, a SID stored for
another message is replaced, and a channel without a row fails that append alone. When a batch's
transaction fails (a key stored meanwhile by another worker, a lost connection), each of its
appends is written on its own, so one failure is one append's to retry, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from switchboard.observability import count_messages_in
from switchboard.store.channel_work import working_agents_of
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.feed import CUSTOMER_PAYLOAD, SOCKET_CHANNEL_TYPES, feed_item
from switchboard.store.media_links import viewer_media
from switchboard.store.models import Channel, CustomerFeedItem, Message, utcnow
from workflows import sids
from workflows.messages import AppendedMessages, AppendMessages, NewMessage, StoredMessage

log = logging.getLogger(__name__)

# Appends written in one transaction at most: bounds how long one holds the write lock.
MAX_BATCH = 64


def message_data(channel_sid: str, new: NewMessage, index: int) -> dict[str, Any]:
    """A stored message as agents' sockets show it."""
    message = new.message
    return {
        "channel_sid": channel_sid,
        "sid": new.sid,
        "index": index,
        "from": message.author,
        "body": message.body,
        "attributes": message.attributes,
        "media": viewer_media(new.sid, [m.record() for m in message.media]),
        # The sender's own idempotency key (after the prefix the edge added): a client matches
        # the message it is waiting for.
        "key": message.key.rsplit(":", 1)[-1],
    }


@dataclass
class _Written:
    """One append's outcome in a batch: its answer, or the error it alone fails with."""

    result: AppendedMessages | None = None
    error: ApplicationError | None = None
    channel_type: str = ""
    stored_keys: tuple[str, ...] = ()


@dataclass
class _Waiting:
    req: AppendMessages
    done: asyncio.Future[AppendedMessages]


class MessageAppender:
    """Writes ``AppendMessages`` requests, batching those that wait."""

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, req: AppendMessages) -> AppendedMessages:
        done: asyncio.Future[AppendedMessages] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(req, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return await done

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._write_batch(batch)
        except BaseException as stopped:  # the worker is shutting down: nobody is left waiting
            for waiting in self._waiting:
                _settle(waiting.done, exception=stopped)
            self._waiting = []
            raise

    async def _write_batch(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._write([w.req for w in batch])
        except Exception as exc:  # the batch's transaction failed: each append on its own
            if len(batch) == 1:
                _settle(batch[0].done, exception=exc)
                return
            log.info("a batch of %d appends failed (%s); writing them one by one", len(batch), exc)
            for waiting in batch:
                try:
                    [outcome] = await self._write([waiting.req])
                except Exception as alone:
                    _settle(waiting.done, exception=alone)
                else:
                    _settle_with(waiting.done, outcome)
            return
        except BaseException as stopped:
            for waiting in batch:
                _settle(waiting.done, exception=stopped)
            raise
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _settle_with(waiting.done, outcome)

    async def _write(self, reqs: list[AppendMessages]) -> list[_Written]:
        async with self.db.write_session() as session:
            outcomes = await self._append_all(session, reqs)
            # A key stored concurrently by another worker fails the commit; the retry finds it.
            await session.commit()
        for outcome in outcomes:
            if outcome.stored_keys:
                count_messages_in(outcome.channel_type, list(outcome.stored_keys))
        return outcomes

    async def _append_all(self, session: AsyncSession, reqs: list[AppendMessages]) -> list[_Written]:
        channel_sids = sorted({r.channel_sid for r in reqs})
        # The row locks order appends to one channel on PostgreSQL (taken in SID order, so two
        # batches never wait on each other in a cycle); SQLite has one writer.
        channels = {
            c.sid: c
            for c in await session.exec(select(Channel).where(col(Channel.sid).in_(channel_sids)).with_for_update())
        }
        found, taken = await self._stored(session, reqs)
        agents = await working_agents_of(session, [sid for sid in channel_sids if sid in channels])
        outcomes = []
        for req in reqs:
            channel = channels.get(req.channel_sid)
            if channel is None:
                error = ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
                outcomes.append(_Written(error=error))
                continue
            outcomes.append(self._append(session, req, channel, found[req.service_sid], taken, agents))
        return outcomes

    async def _stored(
        self, session: AsyncSession, reqs: list[AppendMessages]
    ) -> tuple[dict[str, dict[str, tuple[str, int]]], set[str]]:
        """One read for every append: keys already stored per service (answered as stored), and
        SIDs already stored for other messages. A workflow mints SIDs in batch order; when a
        workflow task's completion is lost after its append committed, the retried task may batch
        different messages, and one would get a SID stored for another. That message gets a fresh
        SID (the workflow records the result, so replay agrees)."""
        keys: dict[str, set[str]] = defaultdict(set)
        key_of: dict[str, str] = {}
        for req in reqs:
            for new in req.messages:
                keys[req.service_sid].add(new.message.key)
                key_of[new.sid] = new.message.key
        by_service = [
            (col(Message.service_sid) == service) & col(Message.message_key).in_(list(wanted))
            for service, wanted in keys.items()
        ]
        rows = await session.exec(
            select(Message.sid, Message.index, Message.message_key, Message.service_sid).where(
                or_(*by_service, col(Message.sid).in_(list(key_of)))
            )
        )
        found: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
        taken: set[str] = set()
        for sid, stored_index, key, service_sid in rows:
            if key in keys.get(service_sid, ()):
                found[service_sid][key] = (sid, stored_index)
            if key_of.get(sid, key) != key:
                taken.add(sid)
        return found, taken

    def _append(
        self,
        session: AsyncSession,
        req: AppendMessages,
        channel: Channel,
        found: dict[str, tuple[str, int]],
        taken: set[str],
        agents: dict[str, list[str]],
    ) -> _Written:
        """Store one append's new messages at the channel's next indexes (``found``: keys of its
        service already stored, this batch's included)."""
        first_index = 0 if channel.last_message_index is None else channel.last_message_index + 1
        index = first_index
        results: list[StoredMessage] = []
        fed: list[dict[str, Any]] = []
        stored_keys: list[str] = []
        for new in req.messages:
            message = new.message
            if message.key in found:
                sid, stored_index = found[message.key]
                # The same SID means an earlier attempt of this very call committed.
                results.append(StoredMessage(sid, stored_index, message.key, duplicate=sid != new.sid))
                continue
            if new.sid in taken:
                new = replace(new, sid=sids.new_sid(sids.MESSAGE))
            taken.add(new.sid)
            session.add(self._message_row(req, new, index))
            fed.append(message_data(req.channel_sid, new, index))
            stored_keys.append(message.key)
            found[message.key] = (new.sid, index)
            results.append(StoredMessage(new.sid, index, message.key))
            index += 1
        # Agents working on the channel hear its new messages, and a web customer's socket too, in
        # the same transaction.
        for worker_sid in agents.get(req.channel_sid, []):
            session.add_all(feed_item(self.cipher, worker_sid, "message", req.channel_sid, item) for item in fed)
        if channel.channel_type in SOCKET_CHANNEL_TYPES:
            session.add_all(
                CustomerFeedItem(
                    channel_sid=req.channel_sid,
                    kind="message",
                    payload_enc=self.cipher.encrypt(json.dumps(item), CUSTOMER_PAYLOAD),
                )
                for item in fed
            )
        if index > first_index:
            channel.messages_count += index - first_index
            channel.last_message_index = index - 1
            # A new message is the conversation's activity: its timers count from it.
            channel.date_updated = channel.timers_from = utcnow()
            session.add(channel)
        totals = AppendedMessages(results, channel.messages_count, channel.last_message_index)
        return _Written(totals, None, channel.channel_type, tuple(stored_keys))

    def _message_row(self, req: AppendMessages, new: NewMessage, index: int) -> Message:
        message = new.message
        media = [m.record() for m in message.media]
        return Message(
            sid=new.sid,
            channel_sid=req.channel_sid,
            service_sid=req.service_sid,
            index=index,
            message_key=message.key,
            author_enc=self.cipher.encrypt(message.author, "message.author"),
            body_enc=self.cipher.encrypt_optional(message.body, "message.body"),
            attributes_enc=self.cipher.encrypt(message.attributes, "message.attributes"),
            media_enc=self.cipher.encrypt(json.dumps(media), "message.media") if media else None,
            type="media" if media else "text",
        )


def _settle_with(done: asyncio.Future[AppendedMessages], outcome: _Written) -> None:
    if outcome.error is not None:
        _settle(done, exception=outcome.error)
    else:
        assert outcome.result is not None
        _settle(done, result=outcome.result)


def _settle(
    done: asyncio.Future[AppendedMessages],
    *,
    result: AppendedMessages | None = None,
    exception: BaseException | None = None,
) -> None:
    if done.done():  # its caller gave up (cancelled); the write stands
        return
    if exception is not None:
        done.set_exception(exception)
    else:
        assert result is not None
        done.set_result(result)
