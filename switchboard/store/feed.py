"""Writing the feeds sockets read: each agent's, and each web channel's customer feed. Items are
added in the same transaction as the change they tell of, so a sequence never skips a stored
event.

A socket sends rows in id order and resumes after the last id it sent, so the rows of a feed must
become visible in id order. SQLite has one writer at a time, so they do. PostgreSQL hands out ids
as rows are inserted while transactions commit in any order: a reader could see id 11 committed
while id 10 is still in flight, and skip 10 for good. So on PostgreSQL the transactions that write
feed rows take turns, from their first feed insert to their commit."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.channel_work import working_agents
from switchboard.store.crypto import Cipher
from switchboard.store.models import AgentFeedItem, Channel, CustomerFeedItem

# pg_advisory_xact_lock's key for "writing feed rows" (any constant bigint).
FEED_WRITERS_LOCK_KEY = 0x5357_4645_4544  # "SWFEED"
LOCKED_IN = "switchboard.feed_lock_transaction"

PAYLOAD = "agent_feed.payload"
CUSTOMER_PAYLOAD = "customer_feed.payload"
# Channel types whose customer holds a socket (the others' customers are reached by a provider).
SOCKET_CHANNEL_TYPES = frozenset({"web"})


def chat_ended_reason(by: str) -> str:
    """The reason a task carries when the customer (or the business's backend) ended the chat:
    the customer hears ``chat.ended`` then, not that the agent left."""
    return f"the {by} ended the chat"


def chat_ended_by(reason: str | None) -> str | None:
    """Who ended the chat, from the reason its task carries (``chat_ended_reason``), or None."""
    if reason and reason.startswith("the ") and reason.endswith(" ended the chat"):
        return reason.removeprefix("the ").removesuffix(" ended the chat")
    return None


def feed_item(
    cipher: Cipher, worker_sid: str, kind: str, channel_sid: str | None, data: dict[str, Any]
) -> AgentFeedItem:
    return AgentFeedItem(
        worker_sid=worker_sid,
        kind=kind,
        channel_sid=channel_sid,
        payload_enc=cipher.encrypt(json.dumps(data), PAYLOAD),
    )


def feed_data(cipher: Cipher, item: AgentFeedItem | CustomerFeedItem) -> dict[str, Any]:
    column = PAYLOAD if isinstance(item, AgentFeedItem) else CUSTOMER_PAYLOAD
    data: dict[str, Any] = json.loads(cipher.decrypt(item.payload_enc, column))
    return data


async def add_for_channel(
    session: AsyncSession,
    cipher: Cipher,
    channel_sid: str,
    kind: str,
    *data: dict[str, Any],
    except_worker: str | None = None,
    to_customer: bool = True,
) -> None:
    """Add an item per ``data`` for every agent in the conversation now (but ``except_worker``;
    ``store.channel_work``), and, on a web channel, for its customer (unless ``to_customer`` is
    False), in order. The channel's agents are looked up once."""
    if not data:
        return
    for worker_sid in await working_agents(session, channel_sid):
        if worker_sid != except_worker:
            session.add_all(feed_item(cipher, worker_sid, kind, channel_sid, item) for item in data)
    if to_customer:
        await add_for_customer(session, cipher, channel_sid, kind, *data)


async def add_for_customer(
    session: AsyncSession, cipher: Cipher, channel_sid: str, kind: str, *data: dict[str, Any]
) -> None:
    """Add an item per ``data`` for the channel's customer, when it is a web channel (the others'
    customers hold no socket)."""
    channel = await session.get(Channel, channel_sid)
    if channel is not None and channel.channel_type in SOCKET_CHANNEL_TYPES:
        session.add_all(
            CustomerFeedItem(
                channel_sid=channel_sid, kind=kind, payload_enc=cipher.encrypt(json.dumps(item), CUSTOMER_PAYLOAD)
            )
            for item in data
        )


async def pre_engagement_data(session: AsyncSession, cipher: Cipher, channel_sid: str | None) -> dict[str, Any]:
    """What the customer told the pre-engagement form (from the channel's attributes): agents see
    it with every offer of the conversation."""
    channel = await session.get(Channel, channel_sid) if channel_sid else None
    if channel is None:
        return {}
    attributes = json.loads(cipher.decrypt(channel.attributes_enc, "channel.attributes"))
    data = attributes.get("pre_engagement_data") if isinstance(attributes, dict) else None
    return data if isinstance(data, dict) else {}


@event.listens_for(Session, "before_flush")
def _feed_writers_take_turns(session: Session, _flush_context: Any, _instances: Any) -> None:
    if not any(isinstance(row, AgentFeedItem | CustomerFeedItem) for row in session.new):
        return
    transaction = session.get_transaction()
    if session.info.get(LOCKED_IN) is transaction:
        return  # held until this transaction ends
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_WRITERS_LOCK_KEY})
    session.info[LOCKED_IN] = transaction
