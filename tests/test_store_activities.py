"""The channel workflow's store activities against a real store (SQLite and PostgreSQL), run in
Temporal's activity test environment."""

from __future__ import annotations

import base64
import secrets
from typing import cast

from temporalio.testing import ActivityEnvironment

from activities.store import StoreActivities
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import Channel, Message, Service
from workflows import sids
from workflows.messages import AppendMessages, InboundMessage, NewMessage
from workflows.starter import ChannelClient


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def test_a_retried_workflow_task_that_batches_other_messages_under_stored_sids(
    empty_database_url: str,
) -> None:
    """A workflow task stored A under the first SID it minted, then its completion was lost; the
    retried task batches B first and mints the same SID for it. B is stored under a fresh SID at
    the next index instead of failing (and retrying) forever, and A is answered as stored."""
    db = Database(empty_database_url)
    try:
        await migrate(db.engine)
        cipher = Cipher.from_setting(f"k1:{key()}")
        service_sid, channel_sid = sids.new_sid(sids.SERVICE), sids.new_sid(sids.CHANNEL)
        async with db.write_session() as session:
            session.add(Service(sid=service_sid, friendly_name="store test"))
            await session.flush()
            session.add(Channel(sid=channel_sid, service_sid=service_sid, attributes_enc=cipher.encrypt("{}", "x")))
            await session.commit()
        activities = StoreActivities(db, cipher, KeyedHasher.from_setting(key()), cast(ChannelClient, None))
        env = ActivityEnvironment()
        first_sid, second_sid = sids.new_sid(sids.MESSAGE), sids.new_sid(sids.MESSAGE)
        a, b = InboundMessage(key="a", author="x", body="A"), InboundMessage(key="b", author="x", body="B")

        first = await env.run(
            activities.append_messages, AppendMessages(channel_sid, service_sid, [NewMessage(first_sid, a)])
        )
        assert [(m.sid, m.index, m.duplicate) for m in first.stored] == [(first_sid, 0, False)]

        retried = AppendMessages(channel_sid, service_sid, [NewMessage(first_sid, b), NewMessage(second_sid, a)])
        second = await env.run(activities.append_messages, retried)
        [stored_b, stored_a] = second.stored
        assert stored_b.sid not in (first_sid, second_sid) and stored_b.index == 1 and not stored_b.duplicate
        assert (stored_a.sid, stored_a.index) == (first_sid, 0)
        assert (second.messages_count, second.last_index) == (2, 1)
        async with db.session() as session:
            row = await session.get(Message, stored_b.sid)
            assert row is not None and cipher.decrypt_optional(row.body_enc, "message.body") == "B"
    finally:
        await db.dispose()
