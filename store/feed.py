"""Writing agents' feeds: the items a change adds, in the same transaction as the change, so an
agent's sequence never skips a stored event."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.crypto import Cipher
from store.models import AgentFeedItem, ChannelAgent

PAYLOAD = "agent_feed.payload"


def feed_item(
    cipher: Cipher, worker_sid: str, kind: str, channel_sid: str | None, data: dict[str, Any]
) -> AgentFeedItem:
    return AgentFeedItem(
        worker_sid=worker_sid,
        kind=kind,
        channel_sid=channel_sid,
        payload_enc=cipher.encrypt(json.dumps(data), PAYLOAD),
    )


def feed_data(cipher: Cipher, item: AgentFeedItem) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cipher.decrypt(item.payload_enc, PAYLOAD))
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
) -> None:
    """Add an item per ``data`` for every agent of the channel (but ``except_worker``), in order;
    the channel's agents are looked up once."""
    if not data:
        return
    for worker_sid in await channel_agents(session, channel_sid):
        if worker_sid != except_worker:
            session.add_all(feed_item(cipher, worker_sid, kind, channel_sid, item) for item in data)
