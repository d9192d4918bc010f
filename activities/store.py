"""Store activities of the channel workflow. Each runs in one transaction and is safe to retry:
rows are keyed by SIDs the workflow generated, and message keys are unique per service."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.message_appends import MessageAppender
from switchboard.store.bindings import BindingTaken, bind, channel_bindings, live_binding
from switchboard.store.contacts import identity_hash, move_to_next_channel
from switchboard.store.conversation_users import implicit_user
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.feed import add_for_channel
from switchboard.store.models import Channel, Contact, Member, Message, utcnow
from workflows import sids
from workflows.messages import (
    AddMember,
    AppendedMessages,
    AppendMessages,
    ChangeChannel,
    ChannelStatus,
    ClaimSuccessor,
    ForwardMessages,
    KnownKeys,
    MemberSpec,
    MemberView,
    OpenChannel,
    OpenedChannel,
    Origin,
    SetChannelStatus,
    SetConversationTimers,
)
from workflows.starter import ChannelClient

P = ParamSpec("P")
R = TypeVar("R")


def finish_even_if_cancelled(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Let a started transaction commit or roll back even when its activity is cancelled (a
    workflow task failing evicts the run and cancels its local activities): a transaction cut
    off mid-way can leave a SQLite connection holding the write lock. Activities are idempotent,
    so finishing one nobody awaits any more is harmless."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.shield(fn(*args, **kwargs))

    return wrapper


def binding_taken(channel_sid: str) -> ApplicationError:
    """The pair is held by a live conversation: the caller's 409 (Twilio's 50416) names it."""
    return ApplicationError(
        f"A binding for this participant and proxy address already exists in Conversation {channel_sid}",
        channel_sid,
        type="BindingTaken",
        non_retryable=True,
    )


@dataclass
class StoreActivities:
    db: Database
    cipher: Cipher
    hasher: KeyedHasher
    channels: ChannelClient
    appender: MessageAppender = field(init=False)

    def __post_init__(self) -> None:
        self.appender = MessageAppender(self.db, self.cipher)

    @activity.defn(name="open_channel")
    @finish_even_if_cancelled
    async def open_channel(self, req: OpenChannel) -> OpenedChannel:
        config = req.config
        async with self.db.write_session() as session:
            channel = await session.get(Channel, config.channel_sid)
            if channel is None:
                return await self._create_channel(session, req)
            status = ChannelStatus(channel.status)
            reopened = False
            if status == ChannelStatus.CLOSED:  # closed for good, whoever asks
                return OpenedChannel(True, 0, channel.messages_count, [], req.attributes, ChannelStatus.CLOSED)
            if status == ChannelStatus.INACTIVE and req.origin != Origin.STATE:
                if req.origin == Origin.CONTACT and not config.long_lived:
                    return OpenedChannel(True, 0, channel.messages_count, [], req.attributes)
                status = channel.status = ChannelStatus.ACTIVE
                reopened = True
                channel.attributes_enc = self.cipher.encrypt(req.attributes, "channel.attributes")
                channel.date_updated = channel.timers_from = utcnow()
                session.add(channel)
            members = (await session.exec(select(Member).where(Member.channel_sid == channel.sid))).all()
            bound = {b.participant_sid for b in await channel_bindings(session, channel.sid)}
            opened = OpenedChannel(
                closed_for_contact=False,
                next_index=0 if channel.last_message_index is None else channel.last_message_index + 1,
                messages_count=channel.messages_count,
                members=[self._member_view(m, bound=m.sid in bound) for m in members],
                attributes=self.cipher.decrypt(channel.attributes_enc, "channel.attributes"),
                status=status,
                reopened=reopened,
            )
            await session.commit()
            return opened

    async def _create_channel(self, session: AsyncSession, req: OpenChannel) -> OpenedChannel:
        config = req.config
        channel = Channel(
            sid=config.channel_sid,
            service_sid=config.service_sid,
            friendly_name_enc=self.cipher.encrypt_optional(config.friendly_name, "channel.friendly_name"),
            unique_name=config.unique_name,
            attributes_enc=self.cipher.encrypt(req.attributes, "channel.attributes"),
            type=config.type,
            created_by=config.created_by,
            flex_flow_sid=config.flex_flow_sid,
            channel_type=config.channel_type,
            long_lived=config.long_lived,
            contact_hash=config.contact_hash,
            timers_from=utcnow(),
        )
        members: list[MemberView] = []
        session.add(channel)
        if config.contact_address is not None and config.contact_hash is not None:
            member = self._member_row(
                AddMember(
                    channel.sid,
                    channel.service_sid,
                    sids.new_sid(sids.MEMBER),
                    MemberSpec(config.contact_address),
                )
            )
            members.append(self._member_view(member))
            channel.members_count = 1
            session.add(member)
            assert config.flex_flow_sid is not None
            if await session.get(Contact, (config.flex_flow_sid, config.contact_hash)) is None:
                session.add(
                    Contact(
                        flex_flow_sid=config.flex_flow_sid,
                        address_hash=config.contact_hash,
                        address_enc=self.cipher.encrypt(config.contact_address, "contact.address"),
                        current_channel_sid=channel.sid,
                    )
                )
        try:
            await session.commit()
        except IntegrityError as exc:
            if config.unique_name is None:
                raise  # not a caller's mistake: let the activity retry
            raise ApplicationError(
                f"channel {channel.sid} could not be created: unique name {config.unique_name!r} is taken",
                type="UniqueNameTaken",
                non_retryable=True,
            ) from exc
        return OpenedChannel(False, 0, 0, members, req.attributes)

    def _member_row(self, req: AddMember) -> Member:
        return Member(
            sid=req.member_sid,
            channel_sid=req.channel_sid,
            service_sid=req.service_sid,
            identity_enc=self.cipher.encrypt(req.spec.identity, "member.identity"),
            identity_hash=identity_hash(self.hasher, req.spec.identity),
            role_sid=req.spec.role_sid,
            attributes_enc=self.cipher.encrypt(req.spec.attributes, "member.attributes"),
        )

    def _member_view(self, member: Member, existing: bool = False, bound: bool = False) -> MemberView:
        return MemberView(member.sid, self.cipher.decrypt(member.identity_enc, "member.identity"), existing, bound)

    @activity.defn(name="append_messages")
    @finish_even_if_cancelled
    async def append_messages(self, req: AppendMessages) -> AppendedMessages:
        """Store new messages at the next indexes; a key already stored answers its stored row.
        Appends of several channels that wait go in one transaction (``message_appends``)."""
        return await self.appender.append(req)

    @activity.defn(name="set_channel_status")
    @finish_even_if_cancelled
    async def set_channel_status(self, req: SetChannelStatus) -> None:
        async with self.db.write_session() as session:
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            channel.status = req.status
            channel.attributes_enc = self.cipher.encrypt(req.attributes, "channel.attributes")
            channel.date_updated = utcnow()
            if req.status == ChannelStatus.ACTIVE:
                channel.timers_from = channel.date_updated  # active again: the timers count anew
            session.add(channel)
            data = {"channel_sid": req.channel_sid, "status": req.status.value}
            await add_for_channel(session, self.cipher, req.channel_sid, "channel.status", data)
            await session.commit()

    @activity.defn(name="change_channel")
    @finish_even_if_cancelled
    async def change_channel(self, req: ChangeChannel) -> None:
        """A REST caller's change to the channel's names, attributes or webhooks."""
        change = req.change
        async with self.db.write_session() as session:
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            if change.friendly_name is not None:
                channel.friendly_name_enc = self.cipher.encrypt(change.friendly_name, "channel.friendly_name")
            if change.unique_name is not None:
                channel.unique_name = change.unique_name or None
            if change.webhooks_json is not None:
                channel.webhooks_json = change.webhooks_json
            if change.attributes is not None:
                channel.attributes_written = True
            channel.attributes_enc = self.cipher.encrypt(req.attributes, "channel.attributes")
            channel.date_updated = utcnow()
            session.add(channel)
            try:
                await session.commit()
            except IntegrityError as exc:
                if not change.unique_name:
                    raise  # not a caller's mistake: let the activity retry
                raise ApplicationError(
                    f"Channel with provided unique name {change.unique_name} already exists",
                    type="UniqueNameTaken",
                    non_retryable=True,
                ) from exc

    @activity.defn(name="set_conversation_timers")
    @finish_even_if_cancelled
    async def set_conversation_timers(self, req: SetConversationTimers) -> None:
        """The conversation's own timers, counting from now."""
        async with self.db.write_session() as session:
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            channel.timer_inactive = req.timers.inactive
            channel.timer_closed = req.timers.closed
            channel.date_updated = channel.timers_from = utcnow()
            session.add(channel)
            await session.commit()

    @activity.defn(name="add_member")
    @finish_even_if_cancelled
    async def add_member(self, req: AddMember) -> MemberView:
        identity_hash_ = identity_hash(self.hasher, req.spec.identity)
        async with self.db.write_session() as session:
            existing = (
                await session.exec(
                    select(Member).where(Member.channel_sid == req.channel_sid, Member.identity_hash == identity_hash_)
                )
            ).first()
            if existing is not None:
                again = existing.sid == req.member_sid  # a retried attempt that was stored
                return self._member_view(existing, existing=not again, bound=again and req.spec.binding is not None)
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            member = self._member_row(req)
            channel.members_count += 1
            channel.date_updated = utcnow()
            session.add(member)
            session.add(channel)
            binding = req.spec.binding
            if binding is not None:
                # An SMS or WhatsApp participant: its pair is bound with it, or neither is stored.
                # Twilio makes no user for an address.
                try:
                    await bind(session, self.cipher, self.hasher, member.sid, req.channel_sid, binding)
                except BindingTaken as exc:
                    raise binding_taken(exc.channel_sid) from exc
            else:
                # Twilio makes the identity's user when it joins (a concurrent join of the same
                # identity fails this commit; the activity's retry finds the user).
                await implicit_user(session, self.cipher, self.hasher, req.service_sid, req.spec.identity)
            data = {"channel_sid": req.channel_sid, "identity": req.spec.identity, "member_sid": member.sid}
            await add_for_channel(session, self.cipher, req.channel_sid, "member.joined", data)
            try:
                await session.commit()
            except IntegrityError as exc:
                if binding is None:
                    raise
                await session.rollback()
                holder = await live_binding(session, self.hasher, binding.address, binding.proxy_address)
                raise binding_taken(holder.channel_sid if holder else "another conversation") from exc
            return self._member_view(member, bound=binding is not None)

    @activity.defn(name="known_message_keys")
    @finish_even_if_cancelled
    async def known_message_keys(self, req: KnownKeys) -> list[str]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(Message.message_key).where(
                    Message.service_sid == req.service_sid, col(Message.message_key).in_(req.keys)
                )
            )
            return list(rows)

    @activity.defn(name="claim_successor_channel")
    @finish_even_if_cancelled
    async def claim_successor_channel(self, req: ClaimSuccessor) -> str:
        """The contact's next channel after ``req.config.channel_sid`` closed (idempotent)."""
        config = req.config
        if config.flex_flow_sid is None or config.contact_hash is None or config.contact_address is None:
            raise ApplicationError("only a contact's channel has a successor", non_retryable=True)
        async with self.db.write_session() as session:
            contact = await session.get(Contact, (config.flex_flow_sid, config.contact_hash))
            if contact is None:
                contact = Contact(
                    flex_flow_sid=config.flex_flow_sid,
                    address_hash=config.contact_hash,
                    address_enc=self.cipher.encrypt(config.contact_address, "contact.address"),
                    current_channel_sid=config.channel_sid,
                )
            if contact.current_channel_sid != config.channel_sid:
                return contact.current_channel_sid
            move_to_next_channel(self.hasher, contact)
            session.add(contact)
            await session.commit()
            return contact.current_channel_sid

    @activity.defn(name="forward_messages")
    @finish_even_if_cancelled
    async def forward_messages(self, req: ForwardMessages) -> None:
        for message in req.messages:
            await self.channels.deliver(req.config, message)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.open_channel,
            self.append_messages,
            self.set_channel_status,
            self.change_channel,
            self.set_conversation_timers,
            self.add_member,
            self.known_message_keys,
            self.claim_successor_channel,
            self.forward_messages,
        ]
