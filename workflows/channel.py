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
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import activity_options, sids
from workflows.channel_changes import apply_change, channel_attributes
from workflows.channel_handover import Handover
from workflows.channel_inbox import Inbox
from workflows.channel_integration import ConversationIntegration
from workflows.channel_timers import TIMERS_PATCH, ConversationClock
from workflows.messages import (
    AddMember,
    AppendMessages,
    CarriedState,
    ChannelChange,
    ChannelInput,
    ChannelState,
    ChannelStatus,
    ConversationUpdate,
    EndClosedRouting,
    InboundMessage,
    MemberSpec,
    MemberView,
    NewMessage,
    OpenChannel,
    OpenedChannel,
    Origin,
    OutboundStart,
    SetChannelStatus,
    SetConversationTimers,
    StoredMessage,
)
from workflows.search_attributes import CHANNEL_STATUS
from workflows.studio.messages import EndExecution, ExecutionStarted, StartExecution

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from activities.store import StoreActivities

# Messages stored by one activity call.
APPEND_BATCH = 100


@workflow.defn
class ChannelWorkflow:
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
        # Conversations' lifecycle: the conversation's own timers, and the state changes REST
        # callers asked for, applied by the run in order (each by its ticket; ``done`` holds the
        # tickets applied, ``close_ticket`` the one a close answers).
        self.clock = ConversationClock.carried(
            self.config.timers, carried.timers_from if carried else None, workflow.now()
        )
        self.requests: list[tuple[int, ConversationUpdate]] = []
        self.tickets = 0
        self.done: set[int] = set()
        self.close_ticket: int | None = None
        self.closing = False
        self.lifecycle: bool | None = None
        # The closed timer armed while the integration holds the conversation open.
        self.closed_timer: asyncio.Task[None] | None = None
        self.integration = ConversationIntegration(
            self.config,
            carried,
            send=self._send,
            changed=self._describe,
            touched=self._touch,
            run_budget_spent=self._run_budget_spent,
        )
        # Shorthands for the integration's parts the handlers use.
        self.tasks, self.studio = self.integration.tasks, self.integration.studio

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
        self.tickets += 1
        ticket = self.tickets
        self.requests.append((ticket, update))
        await workflow.wait_condition(lambda: ticket in self.done or (self.handover.active and not self.closing))
        if ticket not in self.done:
            raise self.handover.closed()
        self.done.discard(ticket)
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
                await self._set_status(
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
            stored = await self._store_pending()
            if self._lifecycle():
                if stored and self.status == ChannelStatus.INACTIVE:
                    await self._set_status(ChannelStatus.ACTIVE)  # a message reactivates it
                if await self._apply_requests() or self.clock.closed_due(workflow.now()):
                    await self._close()
                    return
            self.integration.posts.resume()
            if self._may_continue():
                await self._continue_as_new(input.origin)
            # One durable timer per quiet period rather than one per message: when it fires
            # early (messages came meanwhile) it is re-armed for the remainder.
            if self.quiet_timer is None or self.quiet_timer.done():
                remaining = self._next_deadline() - workflow.now()
                if remaining > timedelta(0):
                    self.quiet_timer = asyncio.create_task(asyncio.sleep(remaining.total_seconds()))
                    continue
            else:
                await workflow.wait_condition(self._should_wake)
                continue
            if self._lifecycle() and self.clock.closed_due(workflow.now()):
                continue  # the conversation's closed timer: closed at the top of the loop
            if self._lifecycle() and self.status == ChannelStatus.INACTIVE:
                # Inactive (its timer, or a caller): a message, a change or its closed timer wakes it.
                if await self._quiet_while_inactive():
                    return
                continue
            if self.integration.busy:
                # A flow, a routing task or integration posts hold the conversation open; the
                # quiet period restarts when they are done. Its closed timer does not wait.
                self.closed_timer = None
                if self._lifecycle() and (closed_at := self.clock.closed_at()) is not None:
                    wait = (closed_at - workflow.now()).total_seconds()
                    self.closed_timer = self.quiet_timer = asyncio.create_task(asyncio.sleep(wait))
                await workflow.wait_condition(
                    lambda: (
                        bool(self.inbox.pending)
                        or not self.integration.busy
                        or self._may_continue()
                        or self.integration.posts.stalled
                        or bool(self.requests)
                        or (self.closed_timer is not None and self.closed_timer.done())
                    )
                )
                continue
            await self._set_status(ChannelStatus.INACTIVE)
            if self.config.long_lived and self._lifecycle():
                continue  # waits while inactive, above
            if self.config.long_lived:
                # Messages that raced the close reopen the same channel; a caller's state change
                # is applied by the conversation's lifecycle (the loop, still inactive).
                await workflow.wait_condition(
                    lambda: bool(self.inbox.pending) or bool(self.requests) or workflow.all_handlers_finished()
                )
                if not self.inbox.pending and not self.requests:
                    return
                if not self.inbox.pending:
                    continue
                await self._set_status(ChannelStatus.ACTIVE)
                continue
            await self.handover.until_quiet()
            return

    # --- steps ------------------------------------------------------------------------------

    async def _open(self, origin: Origin) -> OpenedChannel:
        opened = await workflow.execute_local_activity_method(
            StoreActivities.open_channel, OpenChannel(self.config, origin, self.attributes), **activity_options.STORE
        )
        self.next_index = opened.next_index
        self.messages_count = opened.messages_count
        self.members = opened.members
        self.attributes = opened.attributes
        self.opened = True
        return opened

    async def _store_pending(self) -> bool:
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
            self.clock.since = self.last_activity
            self.messages_count = appended.messages_count
            self.next_index = 0 if appended.last_index is None else appended.last_index + 1
            self._describe()
        return stored

    async def _set_status(self, status: ChannelStatus, *, store: bool = True) -> None:
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

    def _should_wake(self) -> bool:
        timer_fired = self.quiet_timer is not None and self.quiet_timer.done()
        return (
            bool(self.inbox.pending)
            or self._may_continue()
            or timer_fired
            or self.integration.posts.stalled
            or bool(self.requests)
        )

    # --- Conversations' lifecycle: state and timers ------------------------------------------

    def _lifecycle(self) -> bool:
        """Whether the conversation's own lifecycle applies: it has timers or a caller changed its
        state (runs that began before replay as they ran)."""
        if self.lifecycle is None:
            if not (self.clock.set or self.requests):
                return False
            self.lifecycle = workflow.patched(TIMERS_PATCH)
        return self.lifecycle

    def _next_deadline(self) -> datetime:
        """When the quiet timer fires next: the inactive deadline while active, and the
        conversation's closed timer."""
        inactivity = self.clock.inactivity(self.inactivity) if self._lifecycle() else self.inactivity
        deadlines = []
        if self.status == ChannelStatus.ACTIVE:
            deadlines.append(self.last_activity + inactivity)
        if self._lifecycle() and (closed_at := self.clock.closed_at()) is not None:
            deadlines.append(closed_at)
        return min(deadlines) if deadlines else workflow.now()

    def _rearm(self) -> None:
        """The deadlines moved: the next quiet timer is armed afresh."""
        if self.quiet_timer is not None and not self.quiet_timer.done():
            self.quiet_timer.cancel()
        self.quiet_timer = None

    async def _apply_requests(self) -> bool:
        """Applies the callers' state and timer changes in order; True once one closes."""
        while self.requests:
            ticket, update = self.requests.pop(0)
            timers = self.clock.changed(update)
            if timers is not None:
                await workflow.execute_local_activity_method(
                    StoreActivities.set_conversation_timers,
                    SetConversationTimers(self.config.channel_sid, timers),
                    **activity_options.STORE,
                )
                self.config.timers = timers if timers.set else None
                self.clock = ConversationClock(timers, workflow.now())
                self._rearm()
            if update.state == "closed":
                self.close_ticket = ticket  # answered once the close is stored
                return True
            if update.state == "active" and self.status != ChannelStatus.ACTIVE:
                self.last_activity = self.clock.since = workflow.now()
                await self._set_status(ChannelStatus.ACTIVE)
                self._rearm()
            elif update.state == "inactive" and self.status == ChannelStatus.ACTIVE:
                await self._set_status(ChannelStatus.INACTIVE)
                self._rearm()
            self.done.add(ticket)
        return False

    async def _quiet_while_inactive(self) -> bool:
        """An inactive conversation without a closed timer waits for a message or a change; True
        when nothing is left to wait for (no message, no caller, no work of its integration):
        the run may end."""
        await workflow.wait_condition(
            lambda: (
                bool(self.inbox.pending)
                or bool(self.requests)
                or (not self.integration.busy and workflow.all_handlers_finished())
            )
        )
        return not self.inbox.pending and not self.requests

    async def _close(self) -> None:
        """Closes the conversation for good: the messages that came first are stored, those after
        are refused (or, on a contact's channel, go to its next channel); its routing ends."""
        await self._store_pending()
        # Nothing awaits between the last write and here: every later message meets the close.
        self.handover.final = True
        self.handover.active = True
        self.closing = True
        self._rearm()
        await self._set_status(ChannelStatus.CLOSED)
        if self.close_ticket is not None:
            self.done.add(self.close_ticket)
        # Changes asked for after the close are refused.
        self.requests.clear()
        self.closing = False
        if self.tasks.creation is not None:
            await workflow.wait_condition(lambda: self.tasks.creation is None)
        if self.tasks.open_task_sid is not None:
            await workflow.execute_local_activity_method(
                RoutingActivities.end_closed_routing,
                EndClosedRouting(self.config.channel_sid, self.tasks.open_task_sid),
                **activity_options.STORE,
            )
            self.tasks.open_task_sid = None
        if self.studio.running and self.studio.execution is not None:
            await self.studio.end(EndExecution(self.studio.execution.execution_sid))
        await self.handover.until_quiet()

    def _may_continue(self) -> bool:
        # An inactive conversation waiting for its closed timer continues once active again.
        return self.status == ChannelStatus.ACTIVE and self._run_budget_spent() and self.integration.can_continue()

    def _run_budget_spent(self) -> bool:
        return self.run_messages >= self.config.run_message_budget or workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self, origin: Origin) -> None:
        # Update callers get their answers in this run; the continuation starts with no handler
        # in flight. A signal landing with the command makes the server retry this task.
        while True:
            await self._store_pending()
            await workflow.wait_condition(lambda: bool(self.inbox.pending) or workflow.all_handlers_finished())
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
                    timers_from=self.clock.since_timestamp() if self.clock.set else None,
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
