"""Recording where a message stands with its provider, and telling the channel's agents: the same
for the delivery activity and for the provider's status callbacks."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import Cipher
from switchboard.store.feed import add_for_channel
from switchboard.store.models import Message, MessageDelivery, utcnow

# How far along a status is: a late callback never moves a message back.
PROGRESS = {"accepted": 1, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL_FAILURES = frozenset({"failed", "undelivered"})


def moves_forward(current: str, new: str) -> bool:
    if new in FINAL_FAILURES:
        return current not in ("delivered", "read") and current not in FINAL_FAILURES
    if current in FINAL_FAILURES:
        return False
    return PROGRESS.get(new, 0) > PROGRESS.get(current, 0)


async def record_status(
    session: AsyncSession,
    cipher: Cipher,
    delivery: MessageDelivery,
    status: str,
    *,
    provider_sid: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
) -> bool:
    """Move ``delivery`` to ``status`` (unless that would move it back) and add the change to the
    agents' feeds; the caller commits. Answers whether the status changed."""
    if provider_sid is not None:
        delivery.provider_sid = provider_sid
    if not moves_forward(delivery.status, status):
        session.add(delivery)
        return False
    delivery.status = status
    if error_code is not None or error_message is not None:
        delivery.error_code, delivery.error_message = error_code, error_message
    delivery.date_updated = utcnow()
    session.add(delivery)
    message = await session.get(Message, delivery.message_sid)
    data = {
        "channel_sid": delivery.channel_sid,
        "sid": delivery.message_sid,
        "index": message.index if message else None,
        "status": delivery.status,
        "error_code": delivery.error_code,
        "error_message": delivery.error_message,
    }
    await add_for_channel(session, cipher, delivery.channel_sid, "message.status", data, to_customer=False)
    return True
