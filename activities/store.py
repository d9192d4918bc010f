"""Store activities of the channel workflow. Each runs in one transaction and is safe to retry:
rows are keyed by SIDs the workflow generated, and message keys are unique per service."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from switchboard.observability import count_messages_in
from switchboard.store.contacts import identity_hash, move_to_next_channel
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.feed import add_for_channel
from switchboard.store.media_links import viewer_media
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
    NewMessage,
    OpenChannel,
    OpenedChannel,
    Origin,
    SetChannelStatus,
    StoredMessage,
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


def message_data(channel_sid: str, new: NewMessage, index: int) -> dict[str, Any]:
    """A stored message as agents' sockets show it."""
    message = new.message
    return {
        "channel_sid": channel_sid,
        "sid": new.sid,
        "index": index,
        "from": message.author,
        "body": message.body,
        "attributes": message.attributes,
        "media": viewer_media(new.sid, [m.record() for m in message.media]),
        # The sender's own idempotency key (after the prefix the edge added): a client matches
        # the message it is waiting for.
        "key": message.key.rsplit(":", 1)[-1],
    }


@dataclass
class StoreActivities:
    db: Database
    cipher: Cipher
    hasher: KeyedHasher
    channels: ChannelClient

    @activity.defn(name="open_channel")
    @finish_even_if_cancelled
    async def open_channel(self, req: OpenChannel) -> OpenedChannel:
        config = req.config
        async with self.db.write_session() as session:
            channel = await session.get(Channel, config.channel_sid)
            if channel is None:
                return await self._create_channel(session, req)
            if channel.status == ChannelStatus.INACTIVE:
                if req.origin == Origin.CONTACT and not config.long_lived:
                    return OpenedChannel(True, 0, channel.messages_count, [], req.attributes)
                channel.status = ChannelStatus.ACTIVE
                channel.attributes_enc = self.cipher.encrypt(req.attributes, "channel.attributes")
                channel.date_updated = utcnow()
                session.add(channel)
            members = (await session.exec(select(Member).where(Member.channel_sid == channel.sid))).all()
            opened = OpenedChannel(
                closed_for_contact=False,
                next_index=0 if channel.last_message_index is None else channel.last_message_index + 1,
                messages_count=channel.messages_count,
                members=[self._member_view(m) for m in members],
                attributes=self.cipher.decrypt(channel.attributes_enc, "channel.attributes"),
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

    def _member_view(self, member: Member, existing: bool = False) -> MemberView:
        return MemberView(member.sid, self.cipher.decrypt(member.identity_enc, "member.identity"), existing)

    @activity.defn(name="append_messages")
    @finish_even_if_cancelled
    async def append_messages(self, req: AppendMessages) -> AppendedMessages:
        """Store new messages at the next indexes; a key already stored answers its stored row."""
        keys = {m.message.key for m in req.messages}
        async with self.db.write_session() as session:
            # The row lock orders appends to one channel on PostgreSQL; SQLite has one writer.
            channel = (
                await session.exec(select(Channel).where(Channel.sid == req.channel_sid).with_for_update())
            ).first()
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            # One read for both: keys already stored (answered as stored), and SIDs already stored
            # for other messages. The workflow mints SIDs in batch order; when a workflow task's
            # completion is lost after its append committed, the retried task may batch different
            # messages, and one would get a SID stored for another. That message gets a fresh SID
            # (the workflow records the result, so replay agrees).
            key_of = {m.sid: m.message.key for m in req.messages}
            rows = await session.exec(
                select(Message.sid, Message.index, Message.message_key, Message.service_sid).where(
                    or_(
                        (col(Message.service_sid) == req.service_sid) & col(Message.message_key).in_(list(keys)),
                        col(Message.sid).in_(list(key_of)),
                    )
                )
            )
            found: dict[str, tuple[str, int]] = {}
            taken: set[str] = set()
            for sid, stored_index, key, service_sid in rows:
                if service_sid == req.service_sid and key in keys:
                    found[key] = (sid, stored_index)
                if key_of.get(sid, key) != key:
                    taken.add(sid)
            first_index = 0 if channel.last_message_index is None else channel.last_message_index + 1
            index = first_index
            results: list[StoredMessage] = []
            fed: list[dict[str, Any]] = []
            stored_keys: list[str] = []
            for new in req.messages:
                message = new.message
                if message.key in found:
                    sid, stored_index = found[message.key]
                    # The same SID means an earlier attempt of this very call committed.
                    results.append(StoredMessage(sid, stored_index, message.key, duplicate=sid != new.sid))
                    continue
                if new.sid in taken:
                    new = replace(new, sid=sids.new_sid(sids.MESSAGE))
                session.add(self._message_row(req, new, index))
                fed.append(message_data(req.channel_sid, new, index))
                stored_keys.append(message.key)
                found[message.key] = (new.sid, index)
                results.append(StoredMessage(new.sid, index, message.key))
                index += 1
            # Agents working on the channel hear its new messages, in the same transaction.
            await add_for_channel(session, self.cipher, req.channel_sid, "message", *fed)
            if index > first_index:
                channel.messages_count += index - first_index
                channel.last_message_index = index - 1
                channel.date_updated = utcnow()
                session.add(channel)
            totals = AppendedMessages(results, channel.messages_count, channel.last_message_index)
            channel_type = channel.channel_type
            # A key stored concurrently by another channel fails the commit; the retry finds it.
            await session.commit()
        count_messages_in(channel_type, stored_keys)
        return totals

    def _message_row(self, req: AppendMessages, new: NewMessage, index: int) -> Message:
        message = new.message
        media = [m.record() for m in message.media]
        return Message(
            sid=new.sid,
            channel_sid=req.channel_sid,
            service_sid=req.service_sid,
            index=index,
            message_key=message.key,
            author_enc=self.cipher.encrypt(message.author, "message.author"),
            body_enc=self.cipher.encrypt_optional(message.body, "message.body"),
            attributes_enc=self.cipher.encrypt(message.attributes, "message.attributes"),
            media_enc=self.cipher.encrypt(json.dumps(media), "message.media") if media else None,
            type="media" if media else "text",
        )

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
                return self._member_view(existing, existing=existing.sid != req.member_sid)
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                raise ApplicationError(f"channel {req.channel_sid} has no row", non_retryable=True)
            member = self._member_row(req)
            channel.members_count += 1
            channel.date_updated = utcnow()
            session.add(member)
            session.add(channel)
            data = {"channel_sid": req.channel_sid, "identity": req.spec.identity, "member_sid": member.sid}
            await add_for_channel(session, self.cipher, req.channel_sid, "member.joined", data)
            await session.commit()
            return self._member_view(member)

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
            self.add_member,
            self.known_message_keys,
            self.claim_successor_channel,
            self.forward_messages,
        ]
