"""The channel workflow's activities as in-memory fakes registered under the same names, for fast
tests of the real workflow on Temporal's time-skipping test server (timers fire at once, races are
arranged rather than waited for)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.channel import ChannelWorkflow
from workflows.messages import (
    AddMember,
    AppendedMessages,
    AppendMessages,
    ChannelConfig,
    ChannelInput,
    ChannelStatus,
    ChatWebhookPosts,
    ClaimSuccessor,
    ConversationEventPosts,
    CreateTask,
    DeliveryFailure,
    EndClosedRouting,
    ForwardMessages,
    InboundMessage,
    KnownKeys,
    MemberView,
    NewMessage,
    OpenChannel,
    OpenedChannel,
    Origin,
    OutboundDelivery,
    PostedWebhooks,
    SetChannelStatus,
    SetConversationTimers,
    StoredMessage,
)

SERVICE = "IS" + "e" * 32
SUCCESSOR = "CH" + "5" * 32
CUSTOMER = "+15550001111"
BUSINESS = "+15005550006"
INACTIVITY = 600.0


@dataclass
class FakeStore:
    """The channel workflow's activities, in memory: what they were asked to do, in order, with
    the store's answers (indexes, duplicate keys) worked out as the real store does."""

    client: Client
    task_queue: str
    messages: dict[str, list[NewMessage]] = field(default_factory=dict)
    opened: list[OpenChannel] = field(default_factory=list)
    appended_keys: list[str] = field(default_factory=list)
    statuses: list[ChannelStatus] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)
    forwarded: list[ForwardMessages] = field(default_factory=list)
    tasks: list[CreateTask] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    posted: list[list[int]] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    # Released by the test: regular activities (posts, deliveries) wait on it.
    outside_world: asyncio.Event = field(default_factory=asyncio.Event)
    # Called as the channel's status is written: the test's way to race the close.
    on_status: Callable[[SetChannelStatus], Awaitable[None]] | None = None
    # Conversations' lifecycle: channels closed for good, timers written, routing ended.
    closed_for_good: set[str] = field(default_factory=set)
    timers: list[SetConversationTimers] = field(default_factory=list)
    routing_ended: list[EndClosedRouting] = field(default_factory=list)
    # When (the test server's skipping time, read from ``now`` where a test sets it) each status
    # and each batch of messages was written.
    now: Callable[[], Awaitable[datetime]] | None = None
    status_times: list[datetime] = field(default_factory=list)
    append_times: list[datetime] = field(default_factory=list)
    # Conversations' post-events the channels posted: (channel SID, event type, its own form).
    events: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.open_channel,
            self.append_messages,
            self.set_channel_status,
            self.add_member,
            self.known_message_keys,
            self.claim_successor_channel,
            self.forward_messages,
            self.create_task,
            self.post_chat_webhooks,
            self.deliver_message,
            self.record_delivery_failure,
            self.set_conversation_timers,
            self.end_closed_routing,
            self.post_conversation_events,
        ]

    def bodies(self, channel_sid: str) -> list[str | None]:
        return [m.message.body for m in self.messages.get(channel_sid, [])]

    def forwarded_to(self, channel_sid: str) -> list[str | None]:
        return [m.body for f in self.forwarded if f.config.channel_sid == channel_sid for m in f.messages]

    @activity.defn(name="open_channel")
    async def open_channel(self, req: OpenChannel) -> OpenedChannel:
        self.opened.append(req)
        config = req.config
        stored = self.messages.setdefault(config.channel_sid, [])
        if config.channel_sid in self.closed_for_good:
            return OpenedChannel(True, 0, len(stored), [], req.attributes, ChannelStatus.CLOSED)
        if config.channel_sid in self.closed and req.origin == Origin.STATE:
            return OpenedChannel(False, len(stored), len(stored), [], req.attributes, ChannelStatus.INACTIVE)
        if config.channel_sid in self.closed:
            if req.origin == Origin.CONTACT and not config.long_lived:
                return OpenedChannel(True, 0, len(stored), [], req.attributes)
            self.closed.discard(config.channel_sid)
        return OpenedChannel(False, len(stored), len(stored), [], req.attributes)

    @activity.defn(name="append_messages")
    async def append_messages(self, req: AppendMessages) -> AppendedMessages:
        channel = self.messages.setdefault(req.channel_sid, [])
        if self.now is not None:
            self.append_times.append(await self.now())
        results: list[StoredMessage] = []
        for new in req.messages:
            self.appended_keys.append(new.message.key)
            earlier = [(i, m) for i, m in enumerate(channel) if m.message.key == new.message.key]
            if earlier:
                index, first = earlier[0]
                results.append(StoredMessage(first.sid, index, new.message.key, duplicate=True))
                continue
            channel.append(new)
            results.append(StoredMessage(new.sid, len(channel) - 1, new.message.key))
        return AppendedMessages(results, len(channel), len(channel) - 1 if channel else None)

    @activity.defn(name="set_channel_status")
    async def set_channel_status(self, req: SetChannelStatus) -> None:
        self.statuses.append(req.status)
        if self.now is not None:
            self.status_times.append(await self.now())
        if req.status == ChannelStatus.CLOSED:
            self.closed_for_good.add(req.channel_sid)
        if req.status == ChannelStatus.INACTIVE:
            self.closed.add(req.channel_sid)
        else:
            self.closed.discard(req.channel_sid)
        if self.on_status is not None:
            await self.on_status(req)

    @activity.defn(name="set_conversation_timers")
    async def set_conversation_timers(self, req: SetConversationTimers) -> None:
        self.timers.append(req)

    @activity.defn(name="end_closed_routing")
    async def end_closed_routing(self, req: EndClosedRouting) -> None:
        self.routing_ended.append(req)

    @activity.defn(name="add_member")
    async def add_member(self, req: AddMember) -> MemberView:
        existing = req.spec.identity in self.members
        if not existing:
            self.members.append(req.spec.identity)
        return MemberView(req.member_sid, req.spec.identity, existing)

    @activity.defn(name="known_message_keys")
    async def known_message_keys(self, req: KnownKeys) -> list[str]:
        stored = {m.message.key for channel in self.messages.values() for m in channel}
        return [key for key in req.keys if key in stored]

    @activity.defn(name="claim_successor_channel")
    async def claim_successor_channel(self, req: ClaimSuccessor) -> str:
        return SUCCESSOR

    @activity.defn(name="forward_messages")
    async def forward_messages(self, req: ForwardMessages) -> None:
        self.forwarded.append(req)

    @activity.defn(name="create_task")
    async def create_task(self, req: CreateTask) -> None:
        self.tasks.append(req)

    @activity.defn(name="post_chat_webhooks")
    async def post_chat_webhooks(self, posts: ChatWebhookPosts) -> PostedWebhooks:
        await self.outside_world.wait()
        self.posted.append(posts.indexes)
        return PostedWebhooks(len(posts.indexes), 0)

    @activity.defn(name="post_conversation_events")
    async def post_conversation_events(self, posts: ConversationEventPosts) -> int:
        self.events.extend((posts.channel_sid, e.event_type, e.form) for e in posts.events)
        return 0

    @activity.defn(name="deliver_message")
    async def deliver_message(self, delivery: OutboundDelivery) -> str:
        await self.outside_world.wait()
        self.delivered.append(delivery.message_sid)
        return "SM" + uuid.uuid4().hex

    @activity.defn(name="record_delivery_failure")
    async def record_delivery_failure(self, failure: DeliveryFailure) -> None:
        raise AssertionError(f"a delivery failed: {failure.error}")


@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of the test's own: runs an earlier test left open cannot hold its clock."""
    binary = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(binary))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def store(skipping: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeStore]:
    """The fakes, serving a worker."""
    # The test server cannot register the channel's custom search attributes.
    monkeypatch.setattr(workflow, "upsert_search_attributes", lambda _updates: None)
    fakes = FakeStore(skipping.client, "channel-edges")
    async with Worker(
        skipping.client,
        task_queue=fakes.task_queue,
        workflows=[ChannelWorkflow],
        activities=fakes.activities(),
    ):
        yield fakes


def channel_config(**fields: Any) -> ChannelConfig:
    values: dict[str, Any] = {
        "channel_sid": "CH" + uuid.uuid4().hex,
        "service_sid": SERVICE,
        "channel_type": "sms",
        "long_lived": False,
        "inactivity_seconds": INACTIVITY,
        "run_message_budget": 1000,
        "contact_address": CUSTOMER,
    }
    values.update(fields)
    return ChannelConfig(**values)


def customer_says(key: str, body: str) -> InboundMessage:
    return InboundMessage(key=key, author=CUSTOMER, body=body)


async def open_channel(store: FakeStore, config: ChannelConfig, first: InboundMessage) -> WorkflowHandle[Any, Any]:
    """A contact's first message, as a webhook delivers it (signal-with-start)."""
    return await store.client.start_workflow(
        ChannelWorkflow.run,
        ChannelInput(config, Origin.CONTACT),
        id=config.channel_sid,
        task_queue=store.task_queue,
        start_signal="deliver",
        start_signal_args=[first],
    )


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (in real time: time skipping stays locked meanwhile) until ``check`` holds."""
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")
