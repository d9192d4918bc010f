"""The agent socket's internal notes and a customer's past (``docs/agent-socket.md``): writing a
note, the notes among a history page, a contact's earlier conversations, and finding a contact by
its exact address or identity. Who may is ``api.access``'s."""

from __future__ import annotations

from typing import Any

from api.access import may_find_contacts, may_note, may_reach_channel
from api.contacts import found_conversations, readable
from api.deps import AppContext
from api.sockets.session import CommandError, text_field
from api.tokens import Grants
from api.twilio_shape import message_body_problem
from switchboard.store.models import Channel
from switchboard.store.notes import add_note, notes_for_page
from switchboard.store.past import contact_channels, contact_hash_of, conversations_of


async def write_note(
    context: AppContext, grants: Grants, worker_sid: str, author: str, frame: dict[str, Any]
) -> dict[str, Any]:
    """``add_note``: a note on a conversation the caller may read; the customer never sees it."""
    channel_sid, body = text_field(frame, "channel_sid"), frame.get("body")
    assert channel_sid is not None
    if not isinstance(body, str) or not body.strip():
        raise CommandError(400, "add_note: 'body' must be non-empty text")
    if (problem := message_body_problem(body)) is not None:
        raise CommandError(400, f"add_note: {problem}")
    async with context.db.write_session() as session:
        if not await may_note(session, grants, channel_sid):
            raise CommandError(403, f"channel {channel_sid} is not one of this agent's channels")
        channel = await session.get(Channel, channel_sid)
        if channel is None:
            raise CommandError(404, f"channel {channel_sid} does not exist")
        return await add_note(session, context.cipher, channel, worker_sid, author, body)


async def with_notes(context: AppContext, page: dict[str, Any], frame: dict[str, Any]) -> dict[str, Any]:
    """A ``history`` page with the notes written among its messages (``notes``, oldest first)."""
    messages = page["messages"]
    before = frame.get("before_index")
    async with context.db.session() as session:
        notes = await notes_for_page(
            session,
            context.cipher,
            page["channel_sid"],
            messages[0]["index"] if messages else None,
            before if isinstance(before, int) else None,
            bool(page["has_more"]),
        )
    return {**page, "notes": notes}


async def contact_history(context: AppContext, grants: Grants, frame: dict[str, Any]) -> dict[str, Any]:
    """``contact_history``: the conversations of the customer of a channel the caller may read,
    latest first, those the caller may open (``history``) only."""
    channel_sid = text_field(frame, "channel_sid")
    assert channel_sid is not None
    async with context.db.session() as session:
        if not await may_reach_channel(session, grants, channel_sid, watch=True):
            raise CommandError(403, f"channel {channel_sid} is not one of this agent's channels")
        contact_hash = await contact_hash_of(session, channel_sid)
        channels = await contact_channels(session, contact_hash) if contact_hash else []
        if not any(c.sid == channel_sid for c in channels):
            channel = await session.get(Channel, channel_sid)
            channels += [channel] if channel is not None else []
        conversations = await conversations_of(session, context.cipher, await readable(session, grants, channels))
    return {"channel_sid": channel_sid, "conversations": conversations}


async def find_contact(context: AppContext, grants: Grants, frame: dict[str, Any]) -> dict[str, Any]:
    """``find_contact``: a contact's conversations by exact ``address`` or ``identity`` (keyed
    hash lookup), for supervisors (their service's) and admins."""
    if not may_find_contacts(grants):
        raise CommandError(403, "finding contacts is for supervisors and admins")
    address = text_field(frame, "address", required=False)
    identity = text_field(frame, "identity", required=False)
    if (address is None) == (identity is None):
        raise CommandError(400, "find_contact: give one of 'address' or 'identity'")
    return {"conversations": await found_conversations(context, grants, address, identity)}
