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
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import activity_options, sids
from workflows.channel_changes import apply_change, channel_attributes
from workflows.channel_handover import Handover
from workflows.channel_inbox import Inbox
from workflows.channel_integration import ConversationIntegration
from workflows.channel_lifecycle import ConversationLifecycle
from workflows.channel_steps import ChannelSteps
from workflows.messages import (
    AddMember,
    ChannelChange,
    ChannelInput,
    ChannelState,
    ChannelStatus,
    ConversationUpdate,
    InboundMessage,
    MemberSpec,
    MemberView,
    OutboundStart,
    StoredMessage,
)
from workflows.studio.messages import EndExecution, ExecutionStarted, StartExecution

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities


@workflow.defn
class ChannelWorkflow(ChannelSteps):
    @workflow.init
    def __init__(self, input: ChannelInput) -> None:
        self.config = input.config
        carried = input.carried
        self.status = ChannelStatus.ACTIVE
        self.opened = carried is not None
        self.inbox = Inbox(carried)
        self.handover = Handover(self.config, self.inbox, self._describe)
        self.next_index = carried.next_index if carried else 0
        self.messages_count = carried.messages_count if carried else 0
        self.members: list[MemberView] = list(carried.members) if carried else []
        self.attributes = channel_attributes(self.config, ChannelStatus.ACTIVE)
        self.run_messages = 0
        self.inactivity = timedelta(seconds=self.config.inactivity_seconds)
        # When the channel last stored a message (or opened): the inactivity clock starts here.
        self.last_activity = workflow.now()
        self.quiet_timer: asyncio.Task[None] | None = None
        self.integration = ConversationIntegration(
            self.config,
            carried,
            send=self._send,
            changed=self._describe,
            touched=self._touch,
            run_budget_spent=self._run_budget_spent,
            members=lambda: self.members,
        )
        # Shorthands for the integration's parts the handlers use.
        self.tasks, self.studio = self.integration.tasks, self.integration.studio
        self.integration.delivery.bound = lambda: any(m.bound for m in self.members)
        # Conversations' state and timers.
        self.lifecycle = ConversationLifecycle(self, carried)

    # --- handlers ---------------------------------------------------------------------------

    @workflow.signal
    def deliver(self, message: InboundMessage) -> None:
        self.inbox.accept(message)

    @workflow.signal
    def task_ended(self, task_sid: str) -> None:
        """The routing task of this conversation wrapped up, completed or was canceled: the
        interaction is over (the channel stays, and closes once quiet); the next customer message
        starts a new one."""
        if self.tasks.open_task_sid == task_sid:
            self.tasks.open_task_sid = None
            self.last_activity = workflow.now()
            self._describe()

    @workflow.signal
    def task_opened(self, task_sid: str) -> None:
        """A task made for the conversation outside the channel (a Flex interaction's invite)
        now holds it, as the channel's own task would: the latest one, when a transfer's invite
        follows a task still with an agent. Its end comes as ``task_ended``."""
        self.tasks.open_task_sid = task_sid
        self._describe()

    @workflow.signal
    def follow_task(self, old_task_sid: str, new_task_sid: str) -> None:
        """A transfer: the conversation now belongs to ``new_task_sid`` (the old task wraps up
        without ending the interaction)."""
        if self.tasks.open_task_sid == old_task_sid:
            self.tasks.open_task_sid = new_task_sid
            self._describe()

    @workflow.update
    async def post_message(self, message: InboundMessage) -> StoredMessage:
        self.inbox.awaited.add(message.key)
        self.inbox.accept(message)
        await workflow.wait_condition(lambda: message.key in self.inbox.results or self.handover.active)
        if message.key in self.inbox.results:
            return self.inbox.results[message.key]
        raise self.handover.closed()

    @post_message.validator
    def _validate_post_message(self, message: InboundMessage) -> None:
        if self.handover.active:
            raise self.handover.closed()
        if message.body is None and not message.media:
            raise ApplicationError("a message needs a body or media", type="InvalidMessage")
        if message.requires_task is not None and message.requires_task != self.tasks.open_task_sid:
            raise ApplicationError(
                f"the conversation is no longer with task {message.requires_task}",
                type="ConversationTaken",
                non_retryable=True,
            )

    @workflow.update
    async def add_member(self, spec: MemberSpec) -> MemberView:
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if self.handover.active:
            raise self.handover.closed()
        member = await workflow.execute_local_activity_method(
            StoreActivities.add_member,
            AddMember(
                self.config.channel_sid,
                self.config.service_sid,
                sids.sid_from_uuid(sids.MEMBER, workflow.uuid4()),
                spec,
            ),
            **activity_options.STORE,
        )
        if not member.existing:
            self.members.append(member)
        return member

    @workflow.update
    async def change(self, change: ChannelChange) -> ChannelState:
        """A REST caller changes the channel's names, attributes or webhooks (``apply_change``)."""
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if self.handover.active:
            raise self.handover.closed()
        self.attributes = await apply_change(self.config, self.status, change)
        return self.state()

    @workflow.update
    async def update_conversation(self, update: ConversationUpdate) -> ChannelState:
        """A REST caller sets the conversation's state (active, inactive, closed) or its timers:
        the run applies it between message writes, so every message is stored before a close or
        refused after it."""
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if self.handover.active:
            raise self.handover.closed()
        await self.lifecycle.request(update)
        return self.state()

    @update_conversation.validator
    def _validate_update_conversation(self, update: ConversationUpdate) -> None:
        if self.handover.active:
            raise self.handover.closed()
        if update.state not in (None, "active", "inactive", "closed"):
            raise ApplicationError(f"no such state: {update.state}", type="InvalidState", non_retryable=True)

    @workflow.update
    async def wait_open(self, begin_interaction: bool = False) -> ChannelState:
        """Answers once the channel row exists: REST creation waits on it. With
        ``begin_interaction`` a ``task`` integration that does not wait for the first message
        creates its task now, as Flex's channel creation does."""
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if begin_interaction and self.handover.active:
            await self.handover.refuse()
        integration = self.config.integration
        if (
            begin_interaction
            and integration is not None
            and integration.type == "task"
            and not integration.creation_on_message
        ):
            self.tasks.start_for_integration()
            await workflow.wait_condition(lambda: self.tasks.creation is None)
        return self.state()

    @workflow.update
    async def begin_outbound(self, start: OutboundStart) -> ChannelState:
        """An agent reaches out: the interaction's task is created now and offered to that agent
        (a customer's reply then goes to the agent, not to the flow). A conversation already with
        an agent, a flow or a task being created keeps what it has."""
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if self.handover.active:
            await self.handover.refuse()
        if self.tasks.open_task_sid is None and self.tasks.creation is None and not self.studio.running:
            _task, error = await self.tasks.create(
                start.workspace_sid,
                start.workflow_sid,
                start.task_channel,
                start.attributes,
                0,
                86400,
                only_worker=start.worker_sid,
            )
            if error:
                raise ApplicationError(error, type="TaskNotCreated", non_retryable=True)
        return self.state()

    @workflow.update
    async def start_execution(self, start: StartExecution) -> ExecutionStarted:
        """Studio's REST trigger: runs the flow on this contact's channel."""
        await workflow.wait_condition(lambda: self.opened or self.handover.active)
        if self.handover.active:
            await self.handover.refuse()
        return await self.studio.start(start)

    @workflow.update
    async def end_execution(self, end: EndExecution) -> bool:
        """``Status=ended``: stops the execution wherever it is."""
        return await self.studio.end(end)

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
            pending=len(self.inbox.pending),
            successor_sid=self.handover.successor_sid,
            open_task_sid=self.tasks.open_task_sid,
            execution_sid=self.studio.execution.execution_sid if self.studio.execution else None,
            execution_step=self.studio.step,
        )

    # --- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ChannelInput) -> None:
        if not self.opened:
            opened = await self._open(input.origin)
            if opened.closed_for_contact:
                # Closed for good (any caller), or a short-lived channel that went quiet (a contact).
                self.handover.final = opened.status == ChannelStatus.CLOSED
                await self.set_status(
                    ChannelStatus.CLOSED if self.handover.final else ChannelStatus.INACTIVE, store=False
                )
                await self.handover.until_quiet()
                return
            if opened.status == ChannelStatus.INACTIVE:
                # Opened to change its state: it stays inactive until the change or a message.
                self.status = ChannelStatus.INACTIVE
                self.attributes = channel_attributes(self.config, self.status)
        self.integration.resume()
        self._describe()
        while True:
            stored = await self.store_pending()
            if self.lifecycle.applies():
                if stored and self.status == ChannelStatus.INACTIVE:
                    await self.set_status(ChannelStatus.ACTIVE, reason="EVENT")  # a message reactivates it
                if await self.lifecycle.apply_requests() or self.lifecycle.closed_due():
                    await self.lifecycle.close()
                    return
            self.integration.resume_posts()
            if self._may_continue():
                await self._continue_as_new(input.origin)
            # One durable timer per quiet period rather than one per message: when it fires
            # early (messages came meanwhile) it is re-armed for the remainder.
            if self.quiet_timer is None or self.quiet_timer.done():
                remaining = self.lifecycle.next_deadline(self.inactivity) - workflow.now()
                if remaining > timedelta(0):
                    self.quiet_timer = asyncio.create_task(asyncio.sleep(remaining.total_seconds()))
                    continue
            else:
                await workflow.wait_condition(self._should_wake)
                continue
            if self.lifecycle.closed_due():
                continue  # the conversation's closed timer: closed at the top of the loop
            if self.lifecycle.applies() and self.status == ChannelStatus.INACTIVE:
                # Inactive (its timer, or a caller): a message, a change or its closed timer wakes it.
                if await self.lifecycle.quiet_while_inactive():
                    return
                continue
            if self.integration.busy:
                # A flow, a routing task or integration posts hold the conversation open; the
                # quiet period restarts when they are done. Its closed timer does not wait.
                self.lifecycle.arm_closed_timer()
                await workflow.wait_condition(
                    lambda: (
                        bool(self.inbox.pending)
                        or not self.integration.busy
                        or self._may_continue()
                        or self.integration.stalled
                        or bool(self.lifecycle.requests)
                        or self.lifecycle.closed_timer_fired()
                    )
                )
                continue
            if self.status != ChannelStatus.INACTIVE:  # (a run opened inactive is so already)
                await self.set_status(ChannelStatus.INACTIVE)
            if self.config.long_lived and self.lifecycle.applies():
                continue  # waits while inactive, above
            if self.config.long_lived:
                # Messages that raced the close reopen the same channel; a caller's state change
                # is applied by the conversation's lifecycle (the loop, still inactive).
                await workflow.wait_condition(
                    lambda: (
                        bool(self.inbox.pending) or bool(self.lifecycle.requests) or workflow.all_handlers_finished()
                    )
                )
                if not self.inbox.pending and not self.lifecycle.requests:
                    return
                if not self.inbox.pending:
                    continue
                await self.set_status(ChannelStatus.ACTIVE, reason="EVENT")
                continue
            await self.handover.until_quiet()
            return
