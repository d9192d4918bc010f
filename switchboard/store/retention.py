"""Deleting what must not be kept: messages past their service's retention, and everything of one
contact on request. Both work in bounded batches (each its own transaction) so a large backlog
never holds the database's write lock for long, and both can run again safely: a rerun finds
less to delete, never an error."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, or_, select

from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.fanout import contact_key, publish_on_commit
from switchboard.store.models import (
    AgentFeedItem,
    AuditEvent,
    Channel,
    ChannelAgent,
    ChatRating,
    Contact,
    ConversationBinding,
    ConversationNote,
    ConversationUser,
    CustomerFeedItem,
    DeliveryReceipt,
    FlexInteraction,
    FlexInteractionInvite,
    MediaObject,
    Member,
    Message,
    MessageDelivery,
    Service,
    StudioExecution,
    StudioStep,
    Task,
    UserConversationSetting,
)
from workflows.retention_messages import ServiceRetention

BATCH = 500


async def services_to_sweep(db: Database, default_days: int) -> list[ServiceRetention]:
    """Services whose messages expire: their own RetentionDays, or the deployment's default."""
    async with db.session() as session:
        services = (await session.exec(select(Service))).all()
    due = [ServiceRetention(s.sid, default_days if s.retention_days is None else s.retention_days) for s in services]
    return [s for s in due if s.days > 0]


async def sweep_service(db: Database, service_sid: str, cutoff: datetime) -> dict[str, int]:
    """Delete the service's messages created before ``cutoff``, with their deliveries, and the
    service's media and socket feed items from before it. Channels stay (a live channel goes on
    numbering its messages); so do tasks, which routing reports need."""
    counts: Counter[str] = Counter()
    channels_of_service = select(Channel.sid).where(col(Channel.service_sid) == service_sid)
    while True:
        async with db.write_session() as session:
            batch = (
                await session.exec(
                    select(Message.sid)
                    .where(col(Message.service_sid) == service_sid, col(Message.date_created) < cutoff)
                    .limit(BATCH)
                )
            ).all()
            if not batch:
                break
            counts["deliveries"] += await _delete(session, MessageDelivery, col(MessageDelivery.message_sid).in_(batch))
            await _delete(session, DeliveryReceipt, col(DeliveryReceipt.message_sid).in_(batch))
            counts["messages"] += await _delete(session, Message, col(Message.sid).in_(batch))
            await session.commit()
    async with db.write_session() as session:
        old_in_service = (
            (MediaObject, col(MediaObject.channel_sid).in_(channels_of_service), col(MediaObject.date_created)),
            (
                CustomerFeedItem,
                col(CustomerFeedItem.channel_sid).in_(channels_of_service),
                col(CustomerFeedItem.date_created),
            ),
            (AgentFeedItem, col(AgentFeedItem.channel_sid).in_(channels_of_service), col(AgentFeedItem.date_created)),
            # Internal notes expire with the messages they were written among.
            (
                ConversationNote,
                col(ConversationNote.channel_sid).in_(channels_of_service),
                col(ConversationNote.date_created),
            ),
        )
        for model, in_service, created in old_in_service:
            counts[str(model.__tablename__)] += await _delete(session, model, in_service, created < cutoff)
        await session.commit()
    return dict(counts)


async def contact_channels(db: Database, address_hash: str, identity_hash: str) -> list[str]:
    """Every channel a contact wrote on: opened from its address (SMS, WhatsApp, Messenger,
    custom), or where it is a member by identity (web chat)."""
    async with db.session() as session:
        opened = (await session.exec(select(Channel.sid).where(col(Channel.contact_hash) == address_hash))).all()
        current = (
            await session.exec(select(Contact.current_channel_sid).where(col(Contact.address_hash) == address_hash))
        ).all()
        joined = (
            await session.exec(select(Member.channel_sid).where(col(Member.identity_hash) == identity_hash))
        ).all()
    return sorted({*opened, *current, *joined})


async def erase_channels(
    db: Database, cipher: Cipher, channel_sids: Sequence[str], address_hash: str, identity_hash: str | None = None
) -> dict[str, int]:
    """Delete the channels and all they hold, the contact rows of the address and the users of
    the identity (``identity_hash``) with their settings. Tasks stay for routing's reports, with
    their attributes (the customer's name, pre-engagement answers) emptied."""
    counts: Counter[str] = Counter()
    for channel_sid in channel_sids:
        async with db.write_session() as session:
            executions = select(StudioExecution.sid).where(col(StudioExecution.channel_sid) == channel_sid)
            messages = select(Message.sid).where(col(Message.channel_sid) == channel_sid)
            interactions = select(FlexInteraction.channel_sid).where(
                col(FlexInteraction.conversation_sid) == channel_sid
            )
            await _delete(session, DeliveryReceipt, col(DeliveryReceipt.channel_sid) == channel_sid)
            counts["studio_steps"] += await _delete(session, StudioStep, col(StudioStep.execution_sid).in_(executions))
            for model, condition in (
                (StudioExecution, col(StudioExecution.channel_sid) == channel_sid),
                (
                    MessageDelivery,
                    or_(
                        col(MessageDelivery.channel_sid) == channel_sid, col(MessageDelivery.message_sid).in_(messages)
                    ),
                ),
                (Message, col(Message.channel_sid) == channel_sid),
                (MediaObject, col(MediaObject.channel_sid) == channel_sid),
                (CustomerFeedItem, col(CustomerFeedItem.channel_sid) == channel_sid),
                (AgentFeedItem, col(AgentFeedItem.channel_sid) == channel_sid),
                (ConversationNote, col(ConversationNote.channel_sid) == channel_sid),
                (ChannelAgent, col(ChannelAgent.channel_sid) == channel_sid),
                (Member, col(Member.channel_sid) == channel_sid),
                # Flex interactions on the conversation (their routing holds the customer's name).
                (FlexInteractionInvite, col(FlexInteractionInvite.channel_sid).in_(interactions)),
                (FlexInteraction, col(FlexInteraction.conversation_sid) == channel_sid),
                (Channel, col(Channel.sid) == channel_sid),
            ):
                counts[str(model.__tablename__)] += await _delete(session, model, condition)
            rated = select(ChatRating).where(col(ChatRating.channel_sid) == channel_sid)
            for rating in (await session.exec(rated)).all():
                rating.comment_enc = None  # the customer's words go; the number stays for the statistics
                session.add(rating)
                counts["rating_comments_erased"] += 1
            for task in (await session.exec(select(Task).where(col(Task.channel_sid) == channel_sid))).all():
                task.attributes_enc = cipher.encrypt("{}", "task.attributes")
                session.add(task)
                counts["tasks_scrubbed"] += 1
            await session.commit()
    async with db.write_session() as session:
        flows = (
            await session.exec(select(Contact.flex_flow_sid).where(col(Contact.address_hash) == address_hash))
        ).all()
        # API processes forget the contact's channel (a bulk delete is not tracked row by row).
        await publish_on_commit(session, (contact_key(flow, address_hash) for flow in flows))
        counts["contacts"] += await _delete(session, Contact, col(Contact.address_hash) == address_hash)
        if identity_hash is not None:
            users = select(ConversationUser.sid).where(col(ConversationUser.identity_hash) == identity_hash)
            await _delete(session, UserConversationSetting, col(UserConversationSetting.user_sid).in_(users))
            counts["users"] += await _delete(
                session, ConversationUser, col(ConversationUser.identity_hash) == identity_hash
            )
        # The address's SMS and WhatsApp participations in conversations (its bindings).
        counts["bindings"] += await _delete(
            session, ConversationBinding, col(ConversationBinding.address_hash) == address_hash
        )
        await session.commit()
    return {kind: n for kind, n in counts.items() if n}


async def audit(db: Database, sid: str, event_type: str, actor: str, subject: str, details: dict[str, Any]) -> None:
    """Record what was done, once per ``sid`` (a retried activity records nothing twice)."""
    async with db.write_session() as session:
        if await session.get(AuditEvent, sid) is not None:
            return
        details_json = json.dumps(details, sort_keys=True)
        session.add(AuditEvent(sid=sid, event_type=event_type, actor=actor, subject=subject, details=details_json))
        await session.commit()


def cutoff_for(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def _delete(session: Any, model: Any, *conditions: Any) -> int:
    result = await session.exec(delete(model).where(*conditions))
    return int(result.rowcount or 0)
