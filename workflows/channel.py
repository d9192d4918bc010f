"""The channel entity workflow: one per chat channel, workflow id = channel SID.

Messages arrive as the ``deliver`` signal (webhooks, via signal-with-start) or the ``post_message``
update (REST, via update-with-start, which answers with the stored message). The run assigns each
new message the next ``index`` and stores it through a local activity; the store's unique message
keys make provider retries harmless. After ``inactivity_seconds`` without a message the channel
closes itself. Messages racing that close are handled inside the run: a long-lived channel reopens,
a short-lived one hands them to the contact's next channel. A message arriving after the run ended
starts a new run (same workflow id), which does the same.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows import sids
from workflows.messages import (
    AddMember,
    AppendedMessages,
    AppendMessages,
    CarriedState,
    ChannelConfig,
    ChannelInput,
    ChannelState,
    ChannelStatus,
    ClaimSuccessor,
    ForwardMessages,
    InboundMessage,
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
from workflows.search_attributes import CHANNEL_STATUS

# Keys of recently stored messages kept in memory, to drop fast retries without an activity.
RECENT_KEYS = 256
# Messages stored by one activity call.
APPEND_BATCH = 100

STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    # A message must never be dropped because the database blinked: retry until it is stored.
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}


class ChannelClosedError(ApplicationError):
    def __init__(self, channel_sid: str, successor_sid: str | None) -> None:
        where = f"; the contact's conversation continues on {successor_sid}" if successor_sid else ""
        super().__init__(f"channel {channel_sid} is closed{where}", type="ChannelClosed", non_retryable=True)


def contact_attributes(config: ChannelConfig, status: ChannelStatus) -> str:
    """Flex's attributes of a channel a contact opened."""
    return json.dumps(
        {
            "from": config.contact_address,
            "channel_type": config.channel_type,
            "status": status.value,
            "long_lived": config.long_lived,
        }
    )


@workflow.defn
class ChannelWorkflow:
    @workflow.init
    def __init__(self, input: ChannelInput) -> None:
        self.config = input.config
        carried = input.carried
        self.status = ChannelStatus.ACTIVE
        self.opened = carried is not None
        self.pending: list[InboundMessage] = list(carried.pending) if carried else []
        self.pending_keys = {m.key for m in self.pending}
        self.next_index = carried.next_index if carried else 0
        self.messages_count = carried.messages_count if carried else 0
        self.members: list[MemberView] = list(carried.members) if carried else []
        self.recent: OrderedDict[str, None] = OrderedDict.fromkeys(carried.recent_keys if carried else [])
        self.attributes = self._attributes_for(ChannelStatus.ACTIVE)
        self.run_messages = 0
        # Results of messages an update caller is waiting for.
        self.awaited: set[str] = set()
        self.results: dict[str, StoredMessage] = {}
        # Set once this run knows its channel is closed and only hands messages on.
        self.handing_over = False
        self.successor_sid: str | None = None
        self.inactivity = timedelta(seconds=self.config.inactivity_seconds)
        # When the channel last stored a message (or opened): the inactivity clock starts here.
        self.last_activity = workflow.now()
        self.quiet_timer: asyncio.Task[None] | None = None

    # --- handlers ---------------------------------------------------------------------------

    @workflow.signal
    def deliver(self, message: InboundMessage) -> None:
        self._accept(message)

    @workflow.update
    async def post_message(self, message: InboundMessage) -> StoredMessage:
        self.awaited.add(message.key)
        self._accept(message)
        await workflow.wait_condition(lambda: message.key in self.results or self.handing_over)
        if message.key in self.results:
            return self.results[message.key]
        raise ChannelClosedError(self.config.channel_sid, self.successor_sid)

    @post_message.validator
    def _validate_post_message(self, message: InboundMessage) -> None:
        if self.handing_over:
            raise ChannelClosedError(self.config.channel_sid, self.successor_sid)
        if message.body is None and not message.media:
            raise ApplicationError("a message needs a body or media", type="InvalidMessage")

    @workflow.update
    async def add_member(self, spec: MemberSpec) -> MemberView:
        await workflow.wait_condition(lambda: self.opened or self.handing_over)
        if self.handing_over:
            raise ChannelClosedError(self.config.channel_sid, self.successor_sid)
        member: MemberView = await workflow.execute_local_activity(
            "add_member",
            AddMember(
                self.config.channel_sid,
                self.config.service_sid,
                sids.sid_from_uuid(sids.MEMBER, workflow.uuid4()),
                spec,
            ),
            result_type=MemberView,
            **STORE_OPTIONS,
        )
        if not member.existing:
            self.members.append(member)
        return member

    @workflow.update
    async def wait_open(self) -> ChannelState:
        """Answers once the channel row exists: REST creation waits on it."""
        await workflow.wait_condition(lambda: self.opened or self.handing_over)
        return self.state()

    @workflow.query
    def state(self) -> ChannelState:
        return ChannelState(
            channel_sid=self.config.channel_sid,
            status=self.status,
            messages_count=self.messages_count,
            last_index=self.next_index - 1 if self.next_index else None,
            members=self.members,
            attributes=self.attributes,
            run_messages=self.run_messages,
            pending=len(self.pending),
            successor_sid=self.successor_sid,
        )

    # --- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ChannelInput) -> None:
        if not self.opened:
            opened = await self._open(input.origin)
            if opened.closed_for_contact:
                await self._set_status(ChannelStatus.INACTIVE, store=False)
                await self._hand_over_until_quiet()
                return
        self._describe()
        while True:
            await self._store_pending()
            if self._run_budget_spent():
                await self._continue_as_new(input.origin)
            # One durable timer per quiet period rather than one per message: when it fires
            # early (messages came meanwhile) it is re-armed for the remainder.
            if self.quiet_timer is None or self.quiet_timer.done():
                remaining = self.last_activity + self.inactivity - workflow.now()
                if remaining > timedelta(0):
                    self.quiet_timer = asyncio.create_task(asyncio.sleep(remaining.total_seconds()))
                    continue
            else:
                await workflow.wait_condition(self._should_wake)
                continue
            await self._set_status(ChannelStatus.INACTIVE)
            if self.config.long_lived:
                # Messages that raced the close reopen the same channel.
                if await self._quiet_after_close():
                    return
                await self._set_status(ChannelStatus.ACTIVE)
                continue
            await self._hand_over_until_quiet()
            return

    # --- steps ------------------------------------------------------------------------------

    def _accept(self, message: InboundMessage) -> None:
        if message.key in self.recent or message.key in self.pending_keys:
            return
        self.pending.append(message)
        self.pending_keys.add(message.key)

    def _attributes_for(self, status: ChannelStatus) -> str:
        if self.config.contact_address is not None:
            return contact_attributes(self.config, status)
        return self.config.attributes or "{}"

    def _remember(self, key: str) -> None:
        self.recent[key] = None
        self.recent.move_to_end(key)
        while len(self.recent) > RECENT_KEYS:
            self.recent.popitem(last=False)

    def _take_pending(self, limit: int) -> list[InboundMessage]:
        batch = self.pending[:limit]
        del self.pending[:limit]
        for message in batch:
            self.pending_keys.discard(message.key)
        return batch

    async def _open(self, origin: Origin) -> OpenedChannel:
        opened: OpenedChannel = await workflow.execute_local_activity(
            "open_channel",
            OpenChannel(self.config, origin, self.attributes),
            result_type=OpenedChannel,
            **STORE_OPTIONS,
        )
        self.next_index = opened.next_index
        self.messages_count = opened.messages_count
        self.members = opened.members
        self.attributes = opened.attributes
        self.opened = True
        return opened

    async def _store_pending(self) -> None:
        while self.pending:
            batch = self.pending[:APPEND_BATCH]
            appended: AppendedMessages = await workflow.execute_local_activity(
                "append_messages",
                AppendMessages(
                    self.config.channel_sid,
                    self.config.service_sid,
                    [NewMessage(sids.sid_from_uuid(sids.MESSAGE, workflow.uuid4()), m) for m in batch],
                ),
                result_type=AppendedMessages,
                **STORE_OPTIONS,
            )
            # Messages that arrived during the activity were appended behind the batch.
            self._take_pending(len(batch))
            for result in appended.stored:
                self._remember(result.key)
                if not result.duplicate:
                    self.run_messages += 1
                if result.key in self.awaited:
                    self.results[result.key] = result
            self.last_activity = workflow.now()
            self.messages_count = appended.messages_count
            self.next_index = 0 if appended.last_index is None else appended.last_index + 1
            self._describe()

    async def _set_status(self, status: ChannelStatus, *, store: bool = True) -> None:
        self.status = status
        self.attributes = self._attributes_for(status)
        if store:
            await workflow.execute_local_activity(
                "set_channel_status",
                SetChannelStatus(self.config.channel_sid, status, self.attributes),
                **STORE_OPTIONS,
            )
        workflow.upsert_search_attributes([CHANNEL_STATUS.value_set(status.value)])
        self._describe()

    async def _quiet_after_close(self) -> bool:
        """After the close: True once nothing is pending and every handler finished (the run may
        end), False as soon as a message is pending."""
        await workflow.wait_condition(lambda: bool(self.pending) or workflow.all_handlers_finished())
        return not self.pending

    async def _hand_over_until_quiet(self) -> None:
        """The channel is closed for contacts: pass every pending message to the contact's next
        channel until no message and no handler is left, then the run may end."""
        self.handing_over = True
        while not await self._quiet_after_close():
            await self._hand_over(self._take_pending(APPEND_BATCH))

    async def _hand_over(self, batch: list[InboundMessage]) -> None:
        # REST callers addressed this channel explicitly; their update is refused instead.
        batch = [m for m in batch if m.key not in self.awaited]
        if not batch:
            return
        known: list[str] = await workflow.execute_local_activity(
            "known_message_keys",
            KnownKeys(self.config.service_sid, [m.key for m in batch]),
            result_type=list[str],
            **STORE_OPTIONS,
        )
        fresh = [m for m in batch if m.key not in set(known)]
        if not fresh:
            return
        if self.successor_sid is None:
            self.successor_sid = await workflow.execute_local_activity(
                "claim_successor_channel", ClaimSuccessor(self.config), result_type=str, **STORE_OPTIONS
            )
        successor = replace(self.config, channel_sid=self.successor_sid)
        await workflow.execute_local_activity("forward_messages", ForwardMessages(successor, fresh), **STORE_OPTIONS)
        for message in fresh:
            self._remember(message.key)
        self._describe()

    def _should_wake(self) -> bool:
        timer_fired = self.quiet_timer is not None and self.quiet_timer.done()
        return bool(self.pending) or self._run_budget_spent() or timer_fired

    def _run_budget_spent(self) -> bool:
        return self.run_messages >= self.config.run_message_budget or workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self, origin: Origin) -> None:
        # Update callers get their answers in this run; the continuation starts with no handler
        # in flight. A signal landing with the command makes the server retry this task.
        while True:
            await self._store_pending()
            await workflow.wait_condition(lambda: bool(self.pending) or workflow.all_handlers_finished())
            if not self.pending:
                break
        workflow.continue_as_new(
            ChannelInput(
                self.config,
                origin,
                CarriedState(
                    next_index=self.next_index,
                    messages_count=self.messages_count,
                    members=self.members,
                    recent_keys=list(self.recent),
                    pending=self.pending,
                ),
            )
        )

    def _describe(self) -> None:
        last = self.next_index - 1 if self.next_index else "none"
        details = f"**{self.status.value}** · {self.messages_count} messages · last index {last}"
        if self.successor_sid:
            details += f" · continued on {self.successor_sid}"
        workflow.set_current_details(details)
