"""The channel workflow's steps (``workflows.channel``): opening the channel, storing its pending
messages in order, writing its status, continuing as new with its small state, and describing
itself in the Temporal UI. A base of ``ChannelWorkflow``, which holds the handlers and the run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

from workflows import activity_options, sids
from workflows.channel_changes import channel_attributes
from workflows.channel_handover import Handover
from workflows.channel_inbox import Inbox
from workflows.channel_integration import ConversationIntegration
from workflows.channel_lifecycle import ConversationLifecycle
from workflows.channel_tasks import ChannelTasks
from workflows.event_outbox import STATE_EVENTS_PATCH
from workflows.messages import (
    AppendMessages,
    CarriedState,
    ChannelConfig,
    ChannelInput,
    ChannelStatus,
    InboundMessage,
    MemberView,
    NewMessage,
    OpenChannel,
    OpenedChannel,
    Origin,
    SetChannelStatus,
    StoredMessage,
    conversation_state,
)
from workflows.search_attributes import CHANNEL_STATUS
from workflows.studio.hosting import StudioHost

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities

# Messages stored by one activity call.
APPEND_BATCH = 100


class ChannelSteps:
    config: ChannelConfig
    status: ChannelStatus
    opened: bool
    inbox: Inbox
    handover: Handover
    next_index: int
    messages_count: int
    members: list[MemberView]
    attributes: str
    run_messages: int
    inactivity: timedelta
    last_activity: datetime
    quiet_timer: asyncio.Task[None] | None
    integration: ConversationIntegration
    tasks: ChannelTasks
    studio: StudioHost
    lifecycle: ConversationLifecycle

    async def _open(self, origin: Origin) -> OpenedChannel:
        opened = await workflow.execute_local_activity_method(
            StoreActivities.open_channel, OpenChannel(self.config, origin, self.attributes), **activity_options.STORE
        )
        self.next_index = opened.next_index
        self.messages_count = opened.messages_count
        self.members = opened.members
        self.attributes = opened.attributes
        self.opened = True
        if opened.reopened and workflow.patched(STATE_EVENTS_PATCH):
            # A message reopened the channel a quiet run had left: its state changed with it.
            before = conversation_state(ChannelStatus.INACTIVE, self.config.long_lived)
            await self.integration.events.post_state_change(before, "active", "EVENT")
        return opened

    async def store_pending(self) -> bool:
        """Stores every pending message; answers whether there were any."""
        stored = False
        while self.inbox.pending:
            stored = True
            batch = self.inbox.pending[:APPEND_BATCH]
            appended = await workflow.execute_local_activity_method(
                StoreActivities.append_messages,
                AppendMessages(
                    self.config.channel_sid,
                    self.config.service_sid,
                    [NewMessage(sids.sid_from_uuid(sids.MESSAGE, workflow.uuid4()), m) for m in batch],
                ),
                **activity_options.STORE,
            )
            # Messages that arrived during the activity were appended behind the batch.
            self.inbox.take(len(batch))
            for message, result in zip(batch, appended.stored, strict=True):
                self.inbox.remember(result.key)
                if not result.duplicate:
                    self.run_messages += 1
                    self.integration.on_stored(message, result, self.attributes)
                if result.key in self.inbox.awaited:
                    self.inbox.results[result.key] = result
            self.last_activity = workflow.now()
            self.lifecycle.clock.since = self.last_activity
            self.messages_count = appended.messages_count
            self.next_index = 0 if appended.last_index is None else appended.last_index + 1
            self._describe()
        return stored

    async def set_status(self, status: ChannelStatus, *, store: bool = True, reason: str = "TIMER") -> None:
        """``reason``: why, as Conversations' ``onConversationStateUpdated`` says it: ``API`` (a
        caller), ``TIMER`` (the conversation's timers, the inactivity period) or ``EVENT`` (a
        message reactivated it)."""
        before = conversation_state(self.status, self.config.long_lived)
        self.status = status
        self.attributes = channel_attributes(self.config, status)
        if store:
            await workflow.execute_local_activity_method(
                StoreActivities.set_channel_status,
                SetChannelStatus(self.config.channel_sid, status, self.attributes),
                **activity_options.STORE,
            )
        workflow.upsert_search_attributes([CHANNEL_STATUS.value_set(status.value)])
        self._describe()
        after = conversation_state(status, self.config.long_lived)
        if store and after != before and workflow.patched(STATE_EVENTS_PATCH):
            await self.integration.events.post_state_change(before, after, reason)

    def _should_wake(self) -> bool:
        timer_fired = self.quiet_timer is not None and self.quiet_timer.done()
        return (
            bool(self.inbox.pending)
            or self._may_continue()
            or timer_fired
            or self.integration.stalled
            or bool(self.lifecycle.requests)
        )

    def _may_continue(self) -> bool:
        # An inactive conversation waiting for its closed timer continues once active again.
        return self.status == ChannelStatus.ACTIVE and self._run_budget_spent() and self.integration.can_continue()

    def _run_budget_spent(self) -> bool:
        return self.run_messages >= self.config.run_message_budget or workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self, origin: Origin) -> None:
        # Update callers get their answers in this run; the continuation starts with no handler
        # in flight. A signal landing with the command makes the server retry this task.
        while True:
            await self.store_pending()
            await workflow.wait_condition(
                lambda: bool(self.inbox.pending) or bool(self.lifecycle.requests) or workflow.all_handlers_finished()
            )
            if self.lifecycle.requests and not self.inbox.pending:
                return  # a caller's state change first (its handler waits on the loop): continue later
            if not self.inbox.pending:
                break
        if not self.integration.can_continue():
            return  # storing woke the flow or an integration call: continue later
        workflow.continue_as_new(
            ChannelInput(
                self.config,
                origin,
                CarriedState(
                    next_index=self.next_index,
                    messages_count=self.messages_count,
                    members=self.members,
                    recent_keys=list(self.inbox.recent),
                    pending=self.inbox.pending,
                    open_task_sid=self.tasks.open_task_sid,
                    execution=self.studio.carried(),
                    outbox=self.integration.posts.unsent(),
                    events=self.integration.events.unsent(),
                    timers_from=self.lifecycle.clock.since_timestamp() if self.lifecycle.clock.set else None,
                ),
            )
        )

    def _describe(self) -> None:
        last = self.next_index - 1 if self.next_index else "none"
        details = f"**{self.status.value}** · {self.messages_count} messages · last index {last}"
        if self.handover.successor_sid:
            details += f" · continued on {self.handover.successor_sid}"
        details += self.integration.describe()
        workflow.set_current_details(details)

    async def _send(self, message: InboundMessage) -> StoredMessage | None:
        """A flow's message: stored like any other; None once the channel closed first."""
        self.inbox.awaited.add(message.key)
        self.inbox.accept(message)
        await workflow.wait_condition(lambda: message.key in self.inbox.results or self.handover.active)
        self.inbox.awaited.discard(message.key)
        return self.inbox.results.pop(message.key, None)

    def _touch(self) -> None:
        self.last_activity = workflow.now()
