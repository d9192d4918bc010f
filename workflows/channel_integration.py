"""What a channel's stored messages set going: the customer's provider for the business's messages,
and for the customer's the conversation's integration (a routing task, a Studio flow or an
external URL)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

from workflows import sids
from workflows.channel_delivery import ProviderDelivery
from workflows.channel_tasks import ChannelTasks
from workflows.event_outbox import EventOutbox
from workflows.integration_outbox import IntegrationOutbox
from workflows.messages import CarriedState, ChannelConfig, ConversationEvent, InboundMessage, MemberView, StoredMessage
from workflows.studio.engine import (
    CONVERSATION_TRIGGER_PATCH,
    Reply,
    conversation_context,
    inbound_context,
)
from workflows.studio.hosting import ExecutionLaunch, HostChannel, StudioHost

# An agent's message no longer starts a Studio execution or creates a task; runs that began before
# replay as they ran.
AGENT_WORDS_PATCH = "agent-words-begin-nothing"


class ConversationIntegration:
    def __init__(
        self,
        config: ChannelConfig,
        carried: CarriedState | None,
        *,
        send: Callable[[InboundMessage], Awaitable[StoredMessage | None]],
        changed: Callable[[], None],
        touched: Callable[[], None],
        run_budget_spent: Callable[[], bool],
        members: Callable[[], list[MemberView]] = list,
    ) -> None:
        self.config = config
        self.members = members
        self.changed = changed
        self.touched = touched
        self.tasks = ChannelTasks(config, carried.open_task_sid if carried else None, changed)
        self.carried_execution = carried.execution if carried else None
        self.studio = StudioHost(
            HostChannel(
                config.channel_sid,
                send=send,
                create_task=functools.partial(self.tasks.create, ""),
                changed=changed,
                ended=self._execution_ended,
            )
        )
        self.posts = IntegrationOutbox(
            config,
            carried.outbox if carried else [],
            should_pause=lambda: run_budget_spent() and self.others_can_continue(),
            on_drained=touched,
        )
        self.delivery = ProviderDelivery(config, on_drained=touched)
        self.events = EventOutbox(
            config,
            carried.events if carried else [],
            should_pause=lambda: run_budget_spent() and not self.posts.in_flight and self._parts_can_continue(),
            on_drained=touched,
        )
        # ``post_event``: a REST caller's action the Conversations post-event webhooks hear of (its
        # form made by ``api.conversation_hooks``), posted in order with the channel's other events.
        workflow.set_signal_handler("post_event", self.events.put)

    def resume(self) -> None:
        """A Studio execution carried from the previous run goes on."""
        carried = self.carried_execution
        if carried is not None:
            self.studio.launch(ExecutionLaunch(carried.execution_sid, carried.flow_sid, resume=carried))

    @property
    def busy(self) -> bool:
        """A flow, a routing task, integration posts or provider deliveries hold the conversation
        open."""
        return (
            self.studio.running
            or self.tasks.open_task_sid is not None
            or self.tasks.creation is not None
            or self.posts.in_flight
            or self.posts.queued
            or self.delivery.busy
            or self.events.in_flight
            or self.events.queued
        )

    def can_continue(self) -> bool:
        """A run may continue as new only where its work can be carried: no integration call in
        flight (queued posts are carried), and any Studio execution parked in a wait for a reply."""
        return not self.posts.in_flight and self.others_can_continue()

    def others_can_continue(self) -> bool:
        """``can_continue`` but for the external integration's posts."""
        return self._parts_can_continue() and not self.events.in_flight

    def _parts_can_continue(self) -> bool:
        return self.studio.parked and self.tasks.creation is None and not self.delivery.busy

    @property
    def stalled(self) -> bool:
        """Integration posts or post-events are queued with nothing posting them."""
        return self.posts.stalled or self.events.stalled

    def resume_posts(self) -> None:
        self.posts.resume()
        self.events.resume()

    def describe(self) -> str:
        details = self.studio.describe()
        if self.tasks.open_task_sid:
            details += f"\n\nrouting task {self.tasks.open_task_sid}"
        return details

    def on_stored(self, message: InboundMessage, stored: StoredMessage, channel_attributes: str) -> None:
        """A new message is stored: an agent's or a flow's goes to the customer's provider; a
        customer's goes to whatever the conversation's integration does. An agent's message feeds
        a running flow and the external integration, but starts no flow and creates no task."""
        if self.delivery.wants(message):
            self.delivery.send(stored)
        if self.delivery.wants_bindings():
            self.delivery.send_to_bindings(stored)
        if message.event_source is not None:
            self.events.put(ConversationEvent("onMessageAdded", stored.index, message.event_source))
        if not message.runs_integration:
            return
        config = self.config
        integration = config.integration
        external = integration is not None and integration.type == "external" and bool(integration.url)
        if not external and any(hook.fires_on(message.body) for hook in config.triggers):
            self.posts.queue(stored.index)  # its trigger webhooks get it, whatever else runs
        reply = Reply(message, stored, config.channel_sid, config.service_sid, config.flow_address)
        if self.studio.running:
            # A running execution (whatever started it) hears every message: each send-and-wait
            # takes the earliest one not yet heard, so a customer who answers before the question
            # is stored, or while the flow is busy or resuming elsewhere, is never ignored.
            self.studio.hear(reply)
            return
        if integration is None:
            return
        if external:
            self.posts.post(message, stored)  # with its trigger webhooks' posts, if any
            return
        if self.tasks.open_task_sid is not None:
            return  # the conversation is with an agent
        if not message.begins_interaction and workflow.patched(AGENT_WORDS_PATCH):
            return  # only the customer (or an explicit REST request) begins an interaction
        if integration.type == "task" and self.tasks.creation is None:
            self.tasks.start_for_integration()
        elif integration.type == "studio" and integration.flow_sid:
            trigger_message = inbound_context(reply)
            trigger_message["ChannelAttributes"] = json.loads(channel_attributes)
            # Chat's webhook names itself: Functions remove it by this SID to hand the channel over.
            trigger_message["WebhookSid"] = integration.webhook_sid or sids.flow_webhook_sid(config.channel_sid)
            trigger_message["WebhookType"] = "studio"
            trigger: dict[str, Any] = {"message": trigger_message}
            if workflow.patched(CONVERSATION_TRIGGER_PATCH):
                # Flows written for either API read their variables: ``trigger.conversation`` too,
                # and Conversations' runs fire ``incomingConversationMessage`` (engine.trigger_event).
                participant_sid = next((m.sid for m in self.members() if m.identity == message.author), "")
                trigger["conversation"] = conversation_context(
                    trigger_message, config.channel_type, participant_sid, workflow.now()
                )
            self.studio.launch(
                ExecutionLaunch(
                    sids.sid_from_uuid(sids.EXECUTION, workflow.uuid4()),
                    integration.flow_sid,
                    trigger=trigger,
                    flow_address=config.flow_address,
                    contact_address=config.contact_address or message.author,
                    conversations=integration.conversations,
                )
            )

    def _execution_ended(self) -> None:
        self.touched()
        self.changed()
