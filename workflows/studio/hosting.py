"""A Studio execution hosted by its contact's channel workflow: loading the flow's revision,
recording the execution's start and end, and driving the interpreter (``FlowRun``), for which this is
the ``FlowHost``. The channel decides when an execution starts; messages, replies and tasks go
through the channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options
from workflows.failures import failure_message
from workflows.messages import InboundMessage, StoredMessage
from workflows.studio.definition import parse_definition
from workflows.studio.engine import CONVERSATION_EVENT, FlowRun, Reply, trigger_event
from workflows.studio.messages import (
    BeginExecution,
    EndExecution,
    ExecutionStarted,
    ExecutionState,
    LoadFlow,
    StartExecution,
)

with workflow.unsafe.imports_passed_through():
    from activities.studio import StudioActivities


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
    # Started from Conversations: the trigger fires ``incomingConversationMessage``.
    conversations: bool = False


@dataclass
class HostChannel:
    """What a hosted execution asks of its channel."""

    channel_sid: str
    # Stores a message the flow sends: the stored message, or None when the channel closed first.
    send: Callable[[InboundMessage], Awaitable[StoredMessage | None]]
    # Creates a routing task: its SID, or None and why it could not be created.
    create_task: Callable[[str, str, str, int, int], Awaitable[tuple[str | None, str]]]
    # The execution's progress changed (for the channel's description).
    changed: Callable[[], None]
    # The execution is over: the channel's quiet period starts.
    ended: Callable[[], None]


class StudioHost:
    """Runs at most one execution at a time on a channel."""

    def __init__(self, channel: HostChannel) -> None:
        self.channel = channel
        self.execution: ExecutionState | None = None
        self.task: asyncio.Task[None] | None = None
        self.step: str | None = None
        # Outcomes of launches a REST trigger waits for.
        self.started: dict[str, ExecutionStarted | ApplicationError] = {}
        self.waiting_for_reply = False
        # Messages the execution has not heard yet, earliest first.
        self.replies: list[Reply] = []

    @property
    def running(self) -> bool:
        return self.task is not None

    @property
    def parked(self) -> bool:
        """No execution, or one waiting for a reply with none to hear: it can be carried."""
        return self.task is None or (self.waiting_for_reply and not self.replies)

    def carried(self) -> ExecutionState | None:
        """The running execution, for the next run."""
        return self.execution if self.task is not None else None

    def hear(self, reply: Reply) -> None:
        self.replies.append(reply)

    def launch(self, launch: ExecutionLaunch) -> None:
        # A resumed execution is in place at once, so replies reach it while it reloads its flow.
        self.execution = launch.resume
        self.task = asyncio.create_task(self._execute(launch))

    async def start(self, start: StartExecution) -> ExecutionStarted:
        """Studio's REST trigger: answers once the execution is recorded."""
        if self.task is not None:
            raise ApplicationError(
                "the contact already has an active execution on this channel",
                type="ExecutionActive",
                non_retryable=True,
            )
        trigger = {"request": {"From": start.from_, "To": start.to, "parameters": start.parameters}}
        self.launch(
            ExecutionLaunch(start.execution_sid, start.flow_sid, trigger, start.parameters, start.from_, start.to)
        )
        await workflow.wait_condition(lambda: start.execution_sid in self.started)
        outcome = self.started.pop(start.execution_sid)
        if isinstance(outcome, ApplicationError):
            raise outcome
        return outcome

    async def end(self, end: EndExecution) -> bool:
        """Stops the execution wherever it is; False when it is not the one running."""
        task = self.task
        if task is None or self.execution is None or self.execution.execution_sid != end.execution_sid:
            return False
        task.cancel()
        await workflow.wait_condition(lambda: self.task is not task)
        return True

    def describe(self) -> str:
        if self.execution is None:
            return ""
        waiting = " (waiting for a reply)" if self.waiting_for_reply else ""
        details = f"\n\nStudio flow {self.execution.flow_sid} · execution {self.execution.execution_sid}"
        return details + f" · step **{self.step or 'starting'}**{waiting}"

    async def _execute(self, launch: ExecutionLaunch) -> None:
        execution_sid, flow_sid, resume = launch.execution_sid, launch.flow_sid, launch.resume
        task = self.task
        try:
            loaded = await workflow.execute_local_activity_method(
                StudioActivities.load_flow,
                LoadFlow(flow_sid, resume.revision if resume else None),
                **activity_options.STORE,
            )
            checked = parse_definition(json.loads(loaded.definition_json))
            if checked.definition is None:
                problems = "; ".join(str(p) for p in checked.errors)
                raise ApplicationError(
                    f"flow {flow_sid} revision {loaded.revision} cannot run: {problems}",
                    type="FlowNotRunnable",
                    non_retryable=True,
                )
            definition = checked.definition
            trigger = launch.trigger
            if "conversation" in trigger:
                # ``trigger.conversation`` is there when the message fires the trigger's
                # ``incomingConversationMessage`` (a run for a conversation): a flow firing
                # ``incomingMessage`` sees ``trigger.message`` alone, as it always did.
                fired = trigger_event(definition.states[definition.initial_state], launch.conversations)
                if fired != CONVERSATION_EVENT:
                    trigger = {key: value for key, value in trigger.items() if key != "conversation"}
            state = resume or ExecutionState(
                execution_sid=execution_sid,
                flow_sid=flow_sid,
                revision=loaded.revision,
                current=definition.initial_state,
                context={
                    "trigger": trigger,
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
                conversations=launch.conversations,
            )
            if resume is None:
                await workflow.execute_local_activity_method(
                    StudioActivities.begin_execution,
                    BeginExecution(
                        execution_sid,
                        flow_sid,
                        loaded.revision,
                        self.channel.channel_sid,
                        launch.contact_address or "",
                        state.context,
                    ),
                    **activity_options.STORE,
                )
            self.execution = state
            self.started[execution_sid] = ExecutionStarted(execution_sid, flow_sid, loaded.revision)
            self.channel.changed()
            await FlowRun(self, state, definition, loaded.friendly_name, loaded.business_hours).run()
        except (ApplicationError, ActivityError) as exc:
            message = failure_message(exc)
            workflow.logger.warning("execution %s of flow %s stopped: %s", execution_sid, flow_sid, message)
            self.started[execution_sid] = ApplicationError(message, type="FlowNotRunnable", non_retryable=True)
            if self.execution is not None:
                await workflow.execute_local_activity_method(
                    StudioActivities.finish_execution, EndExecution(execution_sid), **activity_options.STORE
                )
        except asyncio.CancelledError:
            # Ended through the API: the store records it ended where it stood.
            if self.execution is not None:
                await workflow.execute_local_activity_method(
                    StudioActivities.finish_execution,
                    EndExecution(self.execution.execution_sid),
                    **activity_options.STORE,
                )
        # Not in ``finally``: a run evicted from the worker's cache closes this coroutine, and
        # workflow calls fail outside the workflow's event loop.
        if self.task is task:
            self.execution = None
            self.task = None
            self.step = None
            self.waiting_for_reply = False
            self.replies.clear()
            self.channel.ended()

    # FlowHost: what the interpreter asks of its channel.

    async def flow_send(self, key: str, author: str, body: str, attributes: str) -> StoredMessage | None:
        message = InboundMessage(key=key, author=author, body=body, attributes=attributes, runs_integration=False)
        return await self.channel.send(message)

    async def flow_wait_for_reply(self, deadline: float) -> Reply | None:
        self.waiting_for_reply = True
        self.channel.changed()
        remaining = deadline - workflow.now().timestamp()
        if not self.replies and remaining > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: bool(self.replies), timeout=remaining)
        # (A cancelled wait is cleaned up by ``_execute``.)
        reply = self.replies.pop(0) if self.replies else None
        self.waiting_for_reply = False
        self.channel.changed()
        return reply

    async def flow_create_task(
        self, workflow_sid: str, channel: str, attributes: str, priority: int, task_timeout: int
    ) -> tuple[str | None, str]:
        return await self.channel.create_task(workflow_sid, channel, attributes, priority, task_timeout)

    def flow_progress(self, step: str | None) -> None:
        if step != self.step:
            self.step = step
            self.channel.changed()
