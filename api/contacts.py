"""A contact's conversations as a caller may see them (the agent socket's ``contact_history`` and
``find_contact``, REST's ``/v1/Contacts``): only the channels ``api.access`` lets it read."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api.access import may_reach_channel
from api.deps import AppContext
from api.tokens import Grants
from switchboard.store.models import Channel
from switchboard.store.past import channels_found, conversations_of


async def readable(session: AsyncSession, grants: Grants, channels: list[Channel]) -> list[Channel]:
    return [c for c in channels if await may_reach_channel(session, grants, c.sid, watch=True)]


async def found_conversations(
    context: AppContext, grants: Grants, address: str | None, identity: str | None
) -> list[dict[str, Any]]:
    """The conversations of the contact at ``address`` or ``identity`` that ``grants`` may read."""
    async with context.db.session() as session:
        channels = await channels_found(session, context.hasher, address=address, identity=identity)
        return await conversations_of(session, context.cipher, await readable(session, grants, channels))
