"""Which channel a customer address talks on. Channel SIDs of contacts are derived from the Flex
Flow, the address hash and the contact's channel sequence number, so every webhook for the same
contact computes the same SID and Temporal's workflow id uniqueness does the locking."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import KeyedHasher
from switchboard.store.models import Contact
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
