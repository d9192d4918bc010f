"""Conversations' SMS and WhatsApp participants in the store: binding an address and proxy pair to
one live conversation, finding the conversation an inbound message from the pair belongs to, and
the delivery receipts of the messages sent to them (their statuses, the ``delivery`` summary).

A conversation is live while it is active or inactive; a closed one (a short-lived channel that
closed) or a deleted one no longer holds its pairs: the next binding of the pair releases the old
row, and inbound messages from the pair go where the number's Flex Flow sends them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.contacts import address_hash
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.deliveries import moves_forward
from switchboard.store.models import Channel, ConversationBinding, DeliveryReceipt, utcnow
from workflows.messages import ChannelStatus, MessagingBinding

# Receipt statuses at or past each summary field (a read message was delivered and sent).
SUMMARY = {
    "sent": ("sent", "delivered", "read"),
    "delivered": ("delivered", "read"),
    "read": ("read",),
    "failed": ("failed",),
    "undelivered": ("undelivered",),
}


class BindingTaken(Exception):
    """The address and proxy pair is bound in the live conversation ``channel_sid``."""

    def __init__(self, channel_sid: str) -> None:
        super().__init__(channel_sid)
        self.channel_sid = channel_sid


def holds_bindings(channel: Channel | None) -> bool:
    """An active or inactive conversation holds its pairs; a closed or deleted one does not."""
    if channel is None:
        return False
    if channel.status == ChannelStatus.CLOSED:
        return False
    return channel.status == ChannelStatus.ACTIVE or channel.long_lived


async def live_binding(
    session: AsyncSession, hasher: KeyedHasher, address: str, proxy_address: str
) -> ConversationBinding | None:
    """The binding of the pair in a live conversation, if any."""
    query = select(ConversationBinding).where(
        ConversationBinding.address_hash == address_hash(hasher, address),
        ConversationBinding.proxy_address == proxy_address,
    )
    row = (await session.exec(query)).first()
    if row is None or not holds_bindings(await session.get(Channel, row.channel_sid)):
        return None
    return row


async def bind(
    session: AsyncSession,
    cipher: Cipher,
    hasher: KeyedHasher,
    participant_sid: str,
    channel_sid: str,
    binding: MessagingBinding,
) -> None:
    """Add the participant's binding (the caller commits); raises ``BindingTaken`` when a live
    conversation holds the pair. A stale row of the pair (its conversation closed or deleted) goes."""
    hashed = address_hash(hasher, binding.address)
    query = select(ConversationBinding).where(
        ConversationBinding.address_hash == hashed, ConversationBinding.proxy_address == binding.proxy_address
    )
    existing = (await session.exec(query)).first()
    if existing is not None:
        if holds_bindings(await session.get(Channel, existing.channel_sid)):
            raise BindingTaken(existing.channel_sid)
        await session.delete(existing)
        await session.flush()
    session.add(
        ConversationBinding(
            participant_sid=participant_sid,
            channel_sid=channel_sid,
            binding_type=binding.type,
            address_enc=cipher.encrypt(binding.address, "conversation_binding.address"),
            address_hash=hashed,
            proxy_address=binding.proxy_address,
        )
    )


def binding_of(cipher: Cipher, row: ConversationBinding) -> MessagingBinding:
    return MessagingBinding(
        row.binding_type, cipher.decrypt(row.address_enc, "conversation_binding.address"), row.proxy_address
    )


async def channel_bindings(session: AsyncSession, channel_sid: str) -> list[ConversationBinding]:
    query = select(ConversationBinding).where(ConversationBinding.channel_sid == channel_sid)
    return list((await session.exec(query.order_by(col(ConversationBinding.date_created)))).all())


async def release(session: AsyncSession, participant_sid: str) -> None:
    """The participant left: its pair is free and its messages stop (the caller commits)."""
    await session.exec(delete(ConversationBinding).where(col(ConversationBinding.participant_sid) == participant_sid))


async def release_channel(session: AsyncSession, channel_sid: str) -> None:
    """The conversation is deleted: its pairs and its receipts go (the caller commits)."""
    await session.exec(delete(ConversationBinding).where(col(ConversationBinding.channel_sid) == channel_sid))
    await session.exec(delete(DeliveryReceipt).where(col(DeliveryReceipt.channel_sid) == channel_sid))


async def remove_receipts(session: AsyncSession, message_sids: Sequence[str]) -> None:
    await session.exec(delete(DeliveryReceipt).where(col(DeliveryReceipt.message_sid).in_(list(message_sids))))


def record_receipt(
    receipt: DeliveryReceipt,
    status: str,
    *,
    provider_sid: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
) -> bool:
    """Move the receipt to ``status`` unless that would move it back; answers whether it moved."""
    if provider_sid is not None:
        receipt.provider_sid = provider_sid
    if not moves_forward(receipt.status, status):
        return False
    receipt.status = status
    if error_code is not None or error_message is not None:
        receipt.error_code, receipt.error_message = error_code, error_message
    receipt.date_updated = utcnow()
    return True


async def delivery_summaries(session: AsyncSession, message_sids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Twilio's ``delivery`` of each message sent to SMS or WhatsApp participants: ``total`` and,
    per status, ``all``, ``some`` or ``none`` of its receipts at or past it."""
    if not message_sids:
        return {}
    query = select(DeliveryReceipt).where(col(DeliveryReceipt.message_sid).in_(list(message_sids)))
    statuses: dict[str, list[str]] = defaultdict(list)
    for receipt in (await session.exec(query)).all():
        statuses[receipt.message_sid].append(receipt.status)
    summaries: dict[str, dict[str, Any]] = {}
    for message_sid, found in statuses.items():
        summary: dict[str, Any] = {"total": len(found)}
        for name, reached in SUMMARY.items():
            count = sum(status in reached for status in found)
            summary[name] = "none" if count == 0 else "all" if count == len(found) else "some"
        summaries[message_sid] = summary
    return summaries
