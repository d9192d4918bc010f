"""Writing the feeds sockets read: each agent's, and each web channel's customer feed. Items are
added in the same transaction as the change they tell of, so a sequence never skips a stored
event."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.crypto import Cipher
from store.models import AgentFeedItem, Channel, ChannelAgent, CustomerFeedItem

PAYLOAD = "agent_feed.payload"
CUSTOMER_PAYLOAD = "customer_feed.payload"
# Channel types whose customer holds a socket (the others' customers are reached by a provider).
SOCKET_CHANNEL_TYPES = frozenset({"web"})


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


async def channel_agents(session: AsyncSession, channel_sid: str) -> list[str]:
    rows = await session.exec(select(ChannelAgent.worker_sid).where(ChannelAgent.channel_sid == channel_sid))
    return list(rows)


async def add_for_channel(
    session: AsyncSession,
    cipher: Cipher,
    channel_sid: str,
    kind: str,
    *data: dict[str, Any],
    except_worker: str | None = None,
    to_customer: bool = True,
) -> None:
    """Add an item per ``data`` for every agent of the channel (but ``except_worker``), and, on a
    web channel, for its customer (unless ``to_customer`` is False), in order. The channel's
    agents are looked up once."""
    if not data:
        return
    for worker_sid in await channel_agents(session, channel_sid):
        if worker_sid != except_worker:
            session.add_all(feed_item(cipher, worker_sid, kind, channel_sid, item) for item in data)
    if to_customer:
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
