"""Client-side entry points into channel workflows, shared by the API and by activities that hand
messages on. Both use "with start" calls, so a message reaches its channel whether or not a run is
open, and the call returns only once Temporal has durably accepted it.

The workflow is called by name: it imports activities, which use this client, so importing it here
would be a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes
from workflows.messages import (
    ChannelChange,
    ChannelConfig,
    ChannelInput,
    ChannelState,
    ConversationEvent,
    ConversationUpdate,
    InboundMessage,
    MemberSpec,
    MemberView,
    Origin,
    OutboundStart,
    StoredMessage,
)
from workflows.studio.messages import EndExecution, ExecutionStarted, StartExecution
from workflows.update_retry import while_busy

CHANNEL_WORKFLOW = "ChannelWorkflow"


def summary(config: ChannelConfig) -> str:
    """The run's title in the Temporal UI: no names or addresses."""
    via = f" via {config.flex_flow_sid}" if config.flex_flow_sid else ""
    kind = "long-lived " if config.long_lived else ""
    return f"{kind}{config.channel_type} channel {config.channel_sid}{via}"


def _search_attributes(config: ChannelConfig) -> TypedSearchAttributes:
    return search_attributes.for_new_channel(config.channel_sid, config.channel_type, config.flex_flow_sid)


@dataclass(frozen=True)
class ChannelClient:
    client: Client
    task_queue: str

    def _with_start(self, config: ChannelConfig, origin: Origin) -> WithStartWorkflowOperation[Any, None]:
        return WithStartWorkflowOperation(
            CHANNEL_WORKFLOW,
            ChannelInput(config, origin),
            id=config.channel_sid,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=_search_attributes(config),
            static_summary=summary(config),
        )

    async def deliver(self, config: ChannelConfig, message: InboundMessage) -> None:
        """A contact's message: durable once this returns (signal-with-start)."""
        await self.client.start_workflow(
            CHANNEL_WORKFLOW,
            ChannelInput(config, Origin.CONTACT),
            id=config.channel_sid,
            task_queue=self.task_queue,
            start_signal="deliver",
            start_signal_args=[message],
            search_attributes=_search_attributes(config),
            static_summary=summary(config),
        )

    async def post_event(self, config: ChannelConfig, event: ConversationEvent) -> None:
        """A Conversations post-event for the channel to post: durable once this returns
        (signal-with-start)."""
        await self.client.start_workflow(
            CHANNEL_WORKFLOW,
            ChannelInput(config, Origin.API),
            id=config.channel_sid,
            task_queue=self.task_queue,
            start_signal="post_event",
            start_signal_args=[event],
            search_attributes=_search_attributes(config),
            static_summary=summary(config),
        )

    async def post(self, config: ChannelConfig, message: InboundMessage) -> StoredMessage:
        """A REST caller's message: answers with the stored message (update-with-start)."""
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "post_message",
                message,
                start_workflow_operation=self._with_start(config, Origin.API),
                result_type=StoredMessage,
            )
        )

    async def add_member(self, config: ChannelConfig, spec: MemberSpec) -> MemberView:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "add_member",
                spec,
                start_workflow_operation=self._with_start(config, Origin.API),
                result_type=MemberView,
            )
        )

    async def open(self, config: ChannelConfig, *, begin_interaction: bool = False) -> ChannelState:
        """Answers once the channel exists. ``begin_interaction`` (Flex's channel creation, on a
        contact's channel) also runs the integration's start and refuses a closed short-lived
        channel with ``ChannelClosed`` naming its successor."""
        if not begin_interaction:
            return await while_busy(
                lambda: self.client.execute_update_with_start_workflow(
                    "wait_open",
                    start_workflow_operation=self._with_start(config, Origin.API),
                    result_type=ChannelState,
                )
            )
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "wait_open",
                True,
                start_workflow_operation=self._with_start(config, Origin.CONTACT),
                result_type=ChannelState,
            )
        )

    async def change(self, config: ChannelConfig, change: ChannelChange) -> ChannelState:
        """A REST caller's change to the channel (a closed channel reopens to take it)."""
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "change",
                change,
                start_workflow_operation=self._with_start(config, Origin.API),
                result_type=ChannelState,
            )
        )

    async def update_conversation(self, config: ChannelConfig, update: ConversationUpdate) -> ChannelState:
        """A REST caller's change to the conversation's state or timers; the channel opens as it
        stands (an inactive one is not reactivated to take it)."""
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "update_conversation",
                update,
                start_workflow_operation=self._with_start(config, Origin.STATE),
                result_type=ChannelState,
            )
        )

    async def end(self, channel_sid: str, reason: str) -> None:
        """Ends the channel's run, if one is open: the channel is being deleted."""
        try:
            await self.client.get_workflow_handle(channel_sid).terminate(reason=reason)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def task_opened(self, channel_sid: str, task_sid: str) -> None:
        """Tell the channel's run that ``task_sid`` (made outside it) holds the conversation (no
        run open: nothing to tell)."""
        await self._signal(channel_sid, "task_opened", task_sid)

    async def task_ended(self, channel_sid: str, task_sid: str) -> None:
        """``task_sid`` will not hold the conversation after all (the router refused it)."""
        await self._signal(channel_sid, "task_ended", task_sid)

    async def _signal(self, channel_sid: str, name: str, task_sid: str) -> None:
        try:
            await self.client.get_workflow_handle(channel_sid).signal(name, task_sid)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def begin_outbound(self, config: ChannelConfig, start: OutboundStart) -> ChannelState:
        """Open the contact's channel (if need be) and begin an agent-initiated interaction."""
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "begin_outbound",
                start,
                start_workflow_operation=self._with_start(config, Origin.CONTACT),
                result_type=ChannelState,
            )
        )

    async def state(self, channel_sid: str) -> ChannelState:
        state: ChannelState = await self.client.get_workflow_handle(channel_sid).query(
            "state", result_type=ChannelState
        )
        return state

    async def start_execution(self, config: ChannelConfig, start: StartExecution) -> ExecutionStarted:
        """Studio's REST trigger on the contact's channel: answers once the execution is recorded.
        A closed short-lived channel refuses with ``ChannelClosed`` naming its successor."""
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "start_execution",
                start,
                start_workflow_operation=self._with_start(config, Origin.CONTACT),
                result_type=ExecutionStarted,
            )
        )

    async def end_execution(self, channel_sid: str, execution_sid: str) -> bool:
        """Ends a running execution (``Status=ended``); False when the channel was not running it."""
        return await while_busy(
            lambda: self.client.get_workflow_handle(channel_sid).execute_update(
                "end_execution", EndExecution(execution_sid), result_type=bool
            )
        )
