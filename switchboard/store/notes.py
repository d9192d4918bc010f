"""Internal notes on a conversation: stored encrypted in their own table, told live to the agents
on the channel (an agent feed item, never a customer's), and read with the channel's history. Being
no chat message, a note reaches no customer socket, provider, webhook, Studio flow or Chat REST
list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import Cipher
from switchboard.store.feed import add_for_channel
from switchboard.store.models import Channel, ConversationNote, Message
from workflows import sids

NOTE_PREFIX = "NT"
NOTE_EVENT = "note"
AUTHOR = "conversation_note.author"
BODY = "conversation_note.body"


def utc_text(value: datetime) -> str:
    """A stored time as the API writes times (SQLite hands back naive UTC datetimes)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def note_data(cipher: Cipher, note: ConversationNote) -> dict[str, Any]:
    """A note as the ``note`` event and ``history`` show it."""
    return {
        "channel_sid": note.channel_sid,
        "sid": note.sid,
        "author": cipher.decrypt(note.author_enc, AUTHOR),
        "body": cipher.decrypt(note.body_enc, BODY),
        "date_created": utc_text(note.date_created),
    }


async def add_note(
    session: AsyncSession, cipher: Cipher, channel: Channel, worker_sid: str | None, author: str, body: str
) -> dict[str, Any]:
    """Store a note and tell the agents working the channel now (the customer's feed never)."""
    note = ConversationNote(
        sid=sids.new_sid(NOTE_PREFIX),
        channel_sid=channel.sid,
        service_sid=channel.service_sid,
        worker_sid=worker_sid,
        author_enc=cipher.encrypt(author, AUTHOR),
        body_enc=cipher.encrypt(body, BODY),
    )
    session.add(note)
    data = note_data(cipher, note)
    await add_for_channel(session, cipher, channel.sid, NOTE_EVENT, data, to_customer=False)
    await session.commit()
    return data


async def _message_date(session: AsyncSession, channel_sid: str, index: int) -> datetime | None:
    query = select(Message.date_created).where(Message.channel_sid == channel_sid, Message.index == index)
    return (await session.exec(query)).first()


async def notes_for_page(
    session: AsyncSession,
    cipher: Cipher,
    channel_sid: str,
    first_index: int | None,
    before_index: int | None,
    has_more: bool,
) -> list[dict[str, Any]]:
    """The notes that fall among a page of the channel's history (by time): after the page's first
    message when earlier pages exist, before the message the page ends before, if any."""
    query = select(ConversationNote).where(ConversationNote.channel_sid == channel_sid)
    if has_more and first_index is not None:
        since = await _message_date(session, channel_sid, first_index)
        if since is not None:
            query = query.where(col(ConversationNote.date_created) >= since)
    if before_index is not None:
        until = await _message_date(session, channel_sid, before_index)
        if until is not None:
            query = query.where(col(ConversationNote.date_created) < until)
    rows = (await session.exec(query.order_by(col(ConversationNote.date_created), col(ConversationNote.sid)))).all()
    return [note_data(cipher, row) for row in rows]
