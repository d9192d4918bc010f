"""Which channel a customer address talks on. Channel SIDs of contacts are derived from the Flex
Flow, the address hash and the contact's channel sequence number, so every webhook for the same
contact computes the same SID and Temporal's workflow id uniqueness does the locking."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import KeyedHasher
from switchboard.store.models import Contact, utcnow
from workflows import sids


def address_hash(hasher: KeyedHasher, address: str) -> str:
    return hasher.digest("address", address)


def identity_hash(hasher: KeyedHasher, identity: str) -> str:
    return hasher.digest("identity", identity)


def worker_identity(friendly_name: str, attributes: dict[str, Any]) -> str:
    """The chat identity of an agent: Flex's ``contact_uri`` (``client:alice``), else the worker's
    name."""
    uri = attributes.get("contact_uri")
    if isinstance(uri, str) and uri:
        return uri.removeprefix("client:")
    return friendly_name


def contact_channel_sid(hasher: KeyedHasher, flex_flow_sid: str, contact_hash: str, sequence: int) -> str:
    return sids.CHANNEL + hasher.digest("channel", flex_flow_sid, contact_hash, str(sequence))[:32]


async def current_channel_sid(session: AsyncSession, hasher: KeyedHasher, flex_flow_sid: str, contact_hash: str) -> str:
    contact = await session.get(Contact, (flex_flow_sid, contact_hash))
    if contact is not None:
        return contact.current_channel_sid
    return contact_channel_sid(hasher, flex_flow_sid, contact_hash, 0)


def move_to_next_channel(hasher: KeyedHasher, contact: Contact) -> str:
    """The contact's next channel (after the current one closed or was deleted): its SID, which
    every webhook for the contact then computes alike."""
    contact.sequence += 1
    contact.current_channel_sid = contact_channel_sid(
        hasher, contact.flex_flow_sid, contact.address_hash, contact.sequence
    )
    contact.date_updated = utcnow()
    return contact.current_channel_sid


async def retire_contact_channel(
    session: AsyncSession, hasher: KeyedHasher, flex_flow_sid: str, contact_hash: str, channel_sid: str
) -> None:
    """A deleted channel is never its contact's again: their next message opens a new channel
    (a new SID, as at Twilio) instead of bringing the deleted one back."""
    contact = await session.get(Contact, (flex_flow_sid, contact_hash))
    if contact is not None and contact.current_channel_sid == channel_sid:
        move_to_next_channel(hasher, contact)
        session.add(contact)
