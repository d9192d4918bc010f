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
import contextlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

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
    ChatWebhook,
    ChatWebhookPosts,
    ClaimSuccessor,
    CreateTask,
    DeliveryFailure,
    ForwardMessages,
    InboundMessage,
    KnownKeys,
    MemberSpec,
    MemberView,
    NewMessage,
    OpenChannel,
    OpenedChannel,
    Origin,
    OutboundDelivery,
    OutboundStart,
    PostedWebhooks,
    SetChannelStatus,
    StoredMessage,
    WebhookFailure,
)
from workflows.search_attributes import CHANNEL_STATUS
from workflows.studio.definition import parse_definition
from workflows.studio.engine import FlowRun, Reply, inbound_context
from workflows.studio.messages import (
    BeginExecution,
    EndExecution,
    ExecutionStarted,
    ExecutionState,
    LoadedFlow,
    LoadFlow,
    StartExecution,
)

# Keys of recently stored messages kept in memory, to drop fast retries without an activity.
RECENT_KEYS = 256
# Messages stored by one activity call.
APPEND_BATCH = 100

STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    # A message must never be dropped because the database blinked: retry until it is stored.
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}


# An external integration's POST is retried ``retry_count`` more times after this first wait,
# then recorded as failed (runs that queued posts one activity each, before OUTBOX_PATCH).
WEBHOOK_RETRY_INTERVAL = timedelta(seconds=1)
# An external integration's posts go out in batches of queued message indexes, one activity each,
# and a run may continue as new with posts queued (they are carried). Runs that began before
# batches existed replay with one activity per post (their histories have no marker).
OUTBOX_PATCH = "outbox-batches"
# Posts one batch activity makes at most: its input stays small, and a run waiting to continue as
# new waits for one batch at most.
POST_BATCH = 100
# A batch's activity retries (a lost worker, a database blink) until it is done: the posts' own
# retries and recorded failures happen inside it. Progress is heartbeated after every post.
POST_OPTIONS: dict[str, Any] = {
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)),
}
# The longest one post may take with its retries: the integration's 10 s per attempt and the
# waits between attempts (1 s, 2 s, 4 s).
POST_ATTEMPT_SECONDS = 15
# How long a batch that failed for good waits before its posts are tried again.
POST_PAUSE_SECONDS = 60

# Agents' and flows' messages on these channels go to the customer through a provider. Runs that
# began before provider delivery existed replay without it (their histories have no marker).
DELIVERY_PATCH = "provider-delivery"
PROVIDER_CHANNEL_TYPES = frozenset({"sms", "whatsapp", "facebook"})
# An agent's message no longer starts a Studio execution or creates a task; runs that began before
# replay as they ran.
AGENT_WORDS_PATCH = "agent-words-begin-nothing"
# 429s and 5xx from the provider: backed off up to a minute, then recorded as failed.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60), maximum_attempts=8
)


@dataclass
class ExecutionLaunch:
    """A Studio execution to start (or, with ``resume``, to go on with after continue-as-new)."""

    execution_sid: str
    flow_sid: str
    trigger: dict[str, Any] = field(default_factory=dict)
    # ``flow.data``: the REST trigger's parameters.
    data: dict[str, Any] = field(default_factory=dict)
    flow_address: str | None = None
    contact_address: str | None = None
    resume: ExecutionState | None = None


class ChannelClosedError(ApplicationError):
    """Details: the successor channel's SID, when the contact's conversation continues there."""

    def __init__(self, channel_sid: str, successor_sid: str | None) -> None:
        where = f"; the contact's conversation continues on {successor_sid}" if successor_sid else ""
        details = [successor_sid] if successor_sid else []
        super().__init__(f"channel {channel_sid} is closed{where}", *details, type="ChannelClosed", non_retryable=True)


def failure_message(exc: ActivityError | ApplicationError) -> str:
    """What went wrong in an activity, for people: its application error's message. (A local
    activity's failure can surface as the ``ApplicationError`` itself.)"""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)


def contact_attributes(config: ChannelConfig, status: ChannelStatus) -> str:
    """Flex's attributes of a channel a contact opened."""
    attributes: dict[str, Any] = {
        "from": config.contact_name or config.contact_address,
        "channel_type": config.channel_type,
        "status": status.value,
        "long_lived": config.long_lived,
    }
    if config.pre_engagement_data:
        attributes["pre_engagement_data"] = json.loads(config.pre_engagement_data)
    return json.dumps(attributes)


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
        # The conversation's integration: the routing task it is with, the running Studio
        # execution, messages waiting for the external integration.
        self.open_task_sid = carried.open_task_sid if carried else None
        self.carried_execution = carried.execution if carried else None
        self.execution: ExecutionState | None = None
        self.execution_task: asyncio.Task[None] | None = None
        self.execution_step: str | None = None
        self.started: dict[str, ExecutionStarted | ApplicationError] = {}
        self.waiting_for_reply = False
        self.replies: list[Reply] = []
        self.task_creation: asyncio.Task[None] | None = None
        # Indexes of stored messages waiting for the external integration, in order (carried
        # across continue-as-new); ``legacy_outbox``: the posts of runs from before OUTBOX_PATCH.
        self.outbox: list[int] = list(carried.outbox) if carried else []
        self.legacy_outbox: list[ChatWebhook] = []
        self.outbox_task: asyncio.Task[None] | None = None
        # Messages waiting for their provider, sent one at a time in order.
        self.deliveries: list[OutboundDelivery] = []
        self.delivery_task: asyncio.Task[None] | None = None

    # --- handlers ---------------------------------------------------------------------------

    @workflow.signal
    def deliver(self, message: InboundMessage) -> None:
        self._accept(message)

    @workflow.signal
    def task_ended(self, task_sid: str) -> None:
        """The routing task of this conversation wrapped up, completed or was canceled: the
        interaction is over (the channel stays, and closes once quiet); the next customer message
        starts a new one."""
        if self.open_task_sid == task_sid:
            self.open_task_sid = None
            self.last_activity = workflow.now()
            self._describe()

    @workflow.signal
    def follow_task(self, old_task_sid: str, new_task_sid: str) -> None:
        """A transfer: the conversation now belongs to ``new_task_sid`` (the old task wraps up
        without ending the interaction)."""
        if self.open_task_sid == old_task_sid:
            self.open_task_sid = new_task_sid
            self._describe()

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
        if message.requires_task is not None and message.requires_task != self.open_task_sid:
            raise ApplicationError(
                f"the conversation is no longer with task {message.requires_task}",
                type="ConversationTaken",
                non_retryable=True,
            )

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
    async def wait_open(self, begin_interaction: bool = False) -> ChannelState:
        """Answers once the channel row exists: REST creation waits on it. With
        ``begin_interaction`` a ``task`` integration that does not wait for the first message
        creates its task now, as Flex's channel creation does."""
        await workflow.wait_condition(lambda: self.opened or self.handing_over)
        if begin_interaction and self.handing_over:
            await self._refuse_with_successor()
        integration = self.config.integration
        if (
            begin_interaction
            and integration is not None
            and integration.type == "task"
            and not integration.creation_on_message
        ):
            self._start_integration_task()
            await workflow.wait_condition(lambda: self.task_creation is None)
        return self.state()

    @workflow.update
    async def begin_outbound(self, start: OutboundStart) -> ChannelState:
        """An agent reaches out: the interaction's task is created now and offered to that agent
        (a customer's reply then goes to the agent, not to the flow). A conversation already with
        an agent, a flow or a task being created keeps what it has."""
        await workflow.wait_condition(lambda: self.opened or self.handing_over)
        if self.handing_over:
            await self._refuse_with_successor()
        if self.open_task_sid is None and self.task_creation is None and self.execution_task is None:
            _task, error = await self._create_task(
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
        await workflow.wait_condition(lambda: self.opened or self.handing_over)
        if self.handing_over:
            await self._refuse_with_successor()
        if self.execution_task is not None:
            raise ApplicationError(
                "the contact already has an active execution on this channel",
                type="ExecutionActive",
                non_retryable=True,
            )
        trigger = {"request": {"From": start.from_, "To": start.to, "parameters": start.parameters}}
        self._launch_execution(
            ExecutionLaunch(start.execution_sid, start.flow_sid, trigger, start.parameters, start.from_, start.to)
        )
        await workflow.wait_condition(lambda: start.execution_sid in self.started)
        outcome = self.started.pop(start.execution_sid)
        if isinstance(outcome, ApplicationError):
            raise outcome
        return outcome

    @workflow.update
    async def end_execution(self, end: EndExecution) -> bool:
        """``Status=ended``: stops the execution wherever it is."""
        task = self.execution_task
        if task is None or self.execution is None or self.execution.execution_sid != end.execution_sid:
            return False
        task.cancel()
        await workflow.wait_condition(lambda: self.execution_task is not task)
        return True

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
            open_task_sid=self.open_task_sid,
            execution_sid=self.execution.execution_sid if self.execution else None,
            execution_step=self.execution_step,
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
        if self.carried_execution is not None:
            carried = self.carried_execution
            self._launch_execution(ExecutionLaunch(carried.execution_sid, carried.flow_sid, resume=carried))
        self._describe()
        while True:
            await self._store_pending()
            self._resume_posting()
            if self._run_budget_spent() and self._can_continue():
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
            if self._busy():
                # A flow, a routing task or integration posts hold the conversation open; the
                # quiet period restarts when they are done.
                await workflow.wait_condition(
                    lambda: bool(self.pending) or not self._busy() or self._may_continue() or self._posting_stalled()
                )
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
            for message, result in zip(batch, appended.stored, strict=True):
                self._remember(result.key)
                if not result.duplicate:
                    self.run_messages += 1
                    self._on_stored(message, result)
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
            self.successor_sid = await self._claim_successor()
        successor = replace(self.config, channel_sid=self.successor_sid)
        await workflow.execute_local_activity("forward_messages", ForwardMessages(successor, fresh), **STORE_OPTIONS)
        for message in fresh:
            self._remember(message.key)
        self._describe()

    async def _refuse_with_successor(self) -> None:
        """Refuse an update on this closed channel, naming the contact's next channel."""
        if self.successor_sid is None:
            self.successor_sid = await self._claim_successor()
        raise ChannelClosedError(self.config.channel_sid, self.successor_sid)

    async def _claim_successor(self) -> str:
        successor: str = await workflow.execute_local_activity(
            "claim_successor_channel", ClaimSuccessor(self.config), result_type=str, **STORE_OPTIONS
        )
        return successor

    def _should_wake(self) -> bool:
        timer_fired = self.quiet_timer is not None and self.quiet_timer.done()
        return bool(self.pending) or self._may_continue() or timer_fired or self._posting_stalled()

    def _busy(self) -> bool:
        return (
            self.execution_task is not None
            or self.open_task_sid is not None
            or self.task_creation is not None
            or self.outbox_task is not None
            or bool(self.outbox)
            or self.delivery_task is not None
        )

    def _can_continue(self) -> bool:
        """A run may continue as new only where its work can be carried: no integration call in
        flight (queued posts are carried), and any Studio execution parked in a wait for a reply."""
        return self.outbox_task is None and self._others_can_continue()

    def _others_can_continue(self) -> bool:
        """``_can_continue`` but for the external integration's posts."""
        execution_parked = self.execution_task is None or (self.waiting_for_reply and not self.replies)
        return execution_parked and self.task_creation is None and self.delivery_task is None

    def _may_continue(self) -> bool:
        return self._run_budget_spent() and self._can_continue()

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
        if not self._can_continue():
            return  # storing woke the flow or an integration call: continue later
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
                    open_task_sid=self.open_task_sid,
                    execution=self.execution if self.execution_task is not None else None,
                    outbox=list(self.outbox),
                ),
            )
        )

    def _describe(self) -> None:
        last = self.next_index - 1 if self.next_index else "none"
        details = f"**{self.status.value}** · {self.messages_count} messages · last index {last}"
        if self.successor_sid:
            details += f" · continued on {self.successor_sid}"
        if self.execution is not None:
            waiting = " (waiting for a reply)" if self.waiting_for_reply else ""
            details += f"\n\nStudio flow {self.execution.flow_sid} · execution {self.execution.execution_sid}"
            details += f" · step **{self.execution_step or 'starting'}**{waiting}"
        if self.open_task_sid:
            details += f"\n\nrouting task {self.open_task_sid}"
        workflow.set_current_details(details)

    # --- the integration: Studio, external, task -----------------------------------------------

    def _on_stored(self, message: InboundMessage, stored: StoredMessage) -> None:
        """A new message is stored: an agent's or a flow's goes to the customer's provider; a
        customer's goes to whatever the conversation's integration does. An agent's message feeds
        a running flow and the external integration, but starts no flow and creates no task."""
        if self._for_provider(message) and workflow.patched(DELIVERY_PATCH):
            config = self.config
            assert config.contact_address is not None and config.flow_address is not None
            self.deliveries.append(
                OutboundDelivery(
                    stored.sid, config.channel_sid, config.channel_type, config.contact_address, config.flow_address
                )
            )
            if self.delivery_task is None:
                self.delivery_task = asyncio.create_task(self._deliver())
        if not message.runs_integration:
            return
        reply = Reply(message, stored, self.config.channel_sid, self.config.service_sid, self.config.flow_address)
        if self.execution_task is not None:
            # A running execution (whatever started it) hears every message: each send-and-wait
            # takes the earliest one not yet heard, so a customer who answers before the question
            # is stored, or while the flow is busy or resuming elsewhere, is never ignored.
            self.replies.append(reply)
            return
        integration = self.config.integration
        if integration is None:
            return
        if integration.type == "external" and integration.url:
            self._queue_post(integration.url, integration.retry_count, message, stored)
            return
        if self.open_task_sid is not None:
            return  # the conversation is with an agent
        if not message.begins_interaction and workflow.patched(AGENT_WORDS_PATCH):
            return  # only the customer (or an explicit REST request) begins an interaction
        if integration.type == "task" and self.task_creation is None:
            self._start_integration_task()
        elif integration.type == "studio" and integration.flow_sid:
            trigger_message = inbound_context(reply)
            trigger_message["ChannelAttributes"] = json.loads(self.attributes)
            self._launch_execution(
                ExecutionLaunch(
                    sids.sid_from_uuid(sids.EXECUTION, workflow.uuid4()),
                    integration.flow_sid,
                    trigger={"message": trigger_message},
                    flow_address=self.config.flow_address,
                    contact_address=self.config.contact_address or message.author,
                )
            )

    def _launch_execution(self, launch: ExecutionLaunch) -> None:
        # A resumed execution is in place at once, so replies reach it while it reloads its flow.
        self.execution = launch.resume
        self.execution_task = asyncio.create_task(self._execute(launch))

    async def _execute(self, launch: ExecutionLaunch) -> None:
        execution_sid, flow_sid, resume = launch.execution_sid, launch.flow_sid, launch.resume
        task = self.execution_task
        try:
            loaded: LoadedFlow = await workflow.execute_local_activity(
                "load_flow",
                LoadFlow(flow_sid, resume.revision if resume else None),
                result_type=LoadedFlow,
                **STORE_OPTIONS,
            )
            checked = parse_definition(json.loads(loaded.definition_json))
            if checked.definition is None:
                problems = "; ".join(str(p) for p in checked.errors)
                raise ApplicationError(
                    f"flow {flow_sid} revision {loaded.revision} cannot run: {problems}",
                    type="FlowNotRunnable",
                    non_retryable=True,
                )
            state = resume or ExecutionState(
                execution_sid=execution_sid,
                flow_sid=flow_sid,
                revision=loaded.revision,
                current=checked.definition.initial_state,
                context={
                    "trigger": launch.trigger,
                    "flow": {
                        "flow_sid": flow_sid,
                        "sid": execution_sid,
                        "channel": {"address": launch.flow_address or ""},
                        "variables": {},
                        "data": launch.data,
                    },
                    "contact": {"channel": {"address": launch.contact_address or ""}},
                    "widgets": {},
                },
            )
            if resume is None:
                await workflow.execute_local_activity(
                    "begin_execution",
                    BeginExecution(
                        execution_sid,
                        flow_sid,
                        loaded.revision,
                        self.config.channel_sid,
                        launch.contact_address or "",
                        state.context,
                    ),
                    **STORE_OPTIONS,
                )
            self.execution = state
            self.started[execution_sid] = ExecutionStarted(execution_sid, flow_sid, loaded.revision)
            self._describe()
            await FlowRun(self, state, checked.definition, loaded.friendly_name).run()
        except (ApplicationError, ActivityError) as exc:
            message = failure_message(exc)
            workflow.logger.warning("execution %s of flow %s stopped: %s", execution_sid, flow_sid, message)
            self.started[execution_sid] = ApplicationError(message, type="FlowNotRunnable", non_retryable=True)
            if self.execution is not None:
                await workflow.execute_local_activity("finish_execution", EndExecution(execution_sid), **STORE_OPTIONS)
        except asyncio.CancelledError:
            # Ended through the API: the store records it ended where it stood.
            if self.execution is not None:
                await workflow.execute_local_activity(
                    "finish_execution", EndExecution(self.execution.execution_sid), **STORE_OPTIONS
                )
        # Not in ``finally``: see ``_post_outbox``.
        if self.execution_task is task:
            self.execution = None
            self.execution_task = None
            self.execution_step = None
            self.waiting_for_reply = False
            self.replies.clear()
            self.last_activity = workflow.now()
            self._describe()

    # FlowHost: what the Studio interpreter asks of its channel.

    async def flow_send(self, key: str, author: str, body: str, attributes: str) -> StoredMessage | None:
        message = InboundMessage(key=key, author=author, body=body, attributes=attributes, runs_integration=False)
        self.awaited.add(key)
        self._accept(message)
        await workflow.wait_condition(lambda: key in self.results or self.handing_over)
        self.awaited.discard(key)
        return self.results.pop(key, None)

    async def flow_wait_for_reply(self, deadline: float) -> Reply | None:
        self.waiting_for_reply = True
        self._describe()
        remaining = deadline - workflow.now().timestamp()
        if not self.replies and remaining > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: bool(self.replies), timeout=remaining)
        # (A cancelled wait is cleaned up by ``_execute``.)
        reply = self.replies.pop(0) if self.replies else None
        self.waiting_for_reply = False
        self._describe()
        return reply

    async def flow_create_task(
        self, workflow_sid: str, channel: str, attributes: str, priority: int, task_timeout: int
    ) -> tuple[str | None, str]:
        return await self._create_task("", workflow_sid, channel, attributes, priority, task_timeout)

    def flow_progress(self, step: str | None) -> None:
        if step != self.execution_step:
            self.execution_step = step
            self._describe()

    # Routing tasks.

    async def _create_task(
        self,
        workspace_sid: str,
        workflow_sid: str,
        channel: str,
        attributes: str,
        priority: int,
        task_timeout: int,
        only_worker: str | None = None,
    ) -> tuple[str | None, str]:
        task_sid = sids.sid_from_uuid("WT", workflow.uuid4())
        spec = CreateTask(
            task_sid,
            workspace_sid,
            workflow_sid,
            channel,
            attributes,
            priority,
            task_timeout,
            self.config.channel_sid,
            only_worker,
        )
        try:
            await workflow.execute_local_activity("create_task", spec, **STORE_OPTIONS)
        except (ActivityError, ApplicationError) as exc:
            return None, failure_message(exc)
        self.open_task_sid = task_sid
        self._describe()
        return task_sid, ""

    def _task_attributes(self) -> str:
        """Flex's attributes of a task for this conversation."""
        config = self.config
        attributes: dict[str, Any] = {
            "name": config.contact_name or config.contact_address or config.friendly_name or config.channel_sid,
            "channelType": config.channel_type,
            "channelSid": config.channel_sid,
        }
        if config.contact_address:
            attributes["from"] = config.contact_address
        if config.pre_engagement_data:
            attributes["pre_engagement_data"] = json.loads(config.pre_engagement_data)
        if config.task_attributes:
            attributes.update(json.loads(config.task_attributes))
        return json.dumps(attributes)

    def _start_integration_task(self) -> None:
        integration = self.config.integration
        if integration is None or self.open_task_sid is not None or self.task_creation is not None:
            return

        async def create() -> None:
            try:
                await self._create_task(
                    integration.workspace_sid or "",
                    integration.workflow_sid or "",
                    integration.channel or "default",
                    self._task_attributes(),
                    integration.priority,
                    integration.timeout,
                )
            finally:
                self.task_creation = None

        self.task_creation = asyncio.create_task(create())

    # The external integration.

    def _chat_webhook(self, url: str, retry_count: int, message: InboundMessage, stored: StoredMessage) -> ChatWebhook:
        form = {
            "EventType": "onMessageSent",
            "InstanceSid": self.config.service_sid,
            "ChannelSid": self.config.channel_sid,
            "MessageSid": stored.sid,
            "Index": str(stored.index),
            "Body": message.body or "",
            "From": message.author,
            "Attributes": message.attributes,
            "DateCreated": workflow.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "Source": "SDK",
        }
        return ChatWebhook(url, form, retry_count, self.config.flex_flow_sid, self.config.channel_sid, stored.sid)

    def _for_provider(self, message: InboundMessage) -> bool:
        config = self.config
        return (
            config.channel_type in PROVIDER_CHANNEL_TYPES
            and config.contact_address is not None
            and config.flow_address is not None
            and message.author != config.contact_address
        )

    async def _deliver(self) -> None:
        """Hands queued messages to the provider one at a time, in order."""
        try:
            while self.deliveries:
                delivery = self.deliveries[0]
                try:
                    await workflow.execute_activity(
                        "deliver_message",
                        delivery,
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=DELIVERY_RETRY,
                    )
                except (ActivityError, ApplicationError) as exc:
                    await workflow.execute_local_activity(
                        "record_delivery_failure", DeliveryFailure(delivery, failure_message(exc)), **STORE_OPTIONS
                    )
                self.deliveries.pop(0)
        except asyncio.CancelledError:
            pass
        # Not in ``finally``: see ``_post_outbox``.
        self.delivery_task = None
        self.last_activity = workflow.now()

    def _queue_post(self, url: str, retry_count: int, message: InboundMessage, stored: StoredMessage) -> None:
        if not workflow.patched(OUTBOX_PATCH):
            self.legacy_outbox.append(self._chat_webhook(url, retry_count, message, stored))
            if self.outbox_task is None:
                self.outbox_task = asyncio.create_task(self._post_legacy_outbox())
            return
        self.outbox.append(stored.index)
        self._resume_posting()

    def _resume_posting(self) -> None:
        if self._posting_stalled():
            self.outbox_task = asyncio.create_task(self._post_outbox())

    def _posting_stalled(self) -> bool:
        """Posts are queued, none in flight, and the run is not about to continue as new."""
        return bool(self.outbox) and self.outbox_task is None and not self._outbox_yields()

    def _outbox_yields(self) -> bool:
        """The run's budget is spent and only posting keeps it from continuing as new: no new
        batch starts, and the queue is carried to the next run."""
        return self._run_budget_spent() and self._others_can_continue()

    async def _post_outbox(self) -> None:
        """Posts queued messages in batches, in order, one batch at a time."""
        integration = self.config.integration
        assert integration is not None and integration.url is not None
        try:
            while self.outbox and not self._outbox_yields():
                batch = self.outbox[:POST_BATCH]
                await workflow.execute_activity(
                    "post_chat_webhooks",
                    ChatWebhookPosts(
                        integration.url,
                        integration.retry_count,
                        self.config.flex_flow_sid,
                        self.config.channel_sid,
                        self.config.service_sid,
                        batch,
                    ),
                    result_type=PostedWebhooks,
                    start_to_close_timeout=timedelta(
                        seconds=60 + len(batch) * (integration.retry_count + 1) * POST_ATTEMPT_SECONDS
                    ),
                    **POST_OPTIONS,
                )
                del self.outbox[: len(batch)]
        except ActivityError as exc:
            # Not expected (the activity retries until done): the posts stay queued and are
            # posted again after a pause.
            workflow.logger.error("posting to %s stopped: %s", integration.url, failure_message(exc))
            await asyncio.sleep(POST_PAUSE_SECONDS)
        except asyncio.CancelledError:
            pass
        # Not in ``finally``: a run evicted from the worker's cache closes this coroutine, and
        # workflow calls fail outside the workflow's event loop.
        self.outbox_task = None
        self.last_activity = workflow.now()

    async def _post_legacy_outbox(self) -> None:
        """Posts queued messages one at a time, in order (runs from before OUTBOX_PATCH)."""
        try:
            while self.legacy_outbox:
                webhook = self.legacy_outbox[0]
                try:
                    await workflow.execute_activity(
                        "post_chat_webhook",
                        webhook,
                        start_to_close_timeout=timedelta(seconds=15),
                        retry_policy=RetryPolicy(
                            initial_interval=WEBHOOK_RETRY_INTERVAL, maximum_attempts=webhook.retry_count + 1
                        ),
                    )
                except (ActivityError, ApplicationError) as exc:
                    error = failure_message(exc)
                    await workflow.execute_local_activity(
                        "record_webhook_failure",
                        WebhookFailure(webhook, webhook.retry_count + 1, error),
                        **STORE_OPTIONS,
                    )
                self.legacy_outbox.pop(0)
        except asyncio.CancelledError:
            pass
        # Not in ``finally``: see ``_post_outbox``.
        self.outbox_task = None
        self.last_activity = workflow.now()
