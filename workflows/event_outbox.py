"""A channel's Conversations post-events (``onMessageAdded`` for a stored message, and the events
REST callers' actions announce): queued in the order they happened and posted by one activity per
batch, which finds the event's targets (the account's and the service's post-event webhooks, the
conversation's own ``webhook`` targets) when it posts. The queue is carried across continue-as-new,
so an event queued with its message's storing is posted even if the API that took the message is
gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import activity_options
from workflows.failures import failure_message
from workflows.messages import ChannelConfig, ConversationEvent, ConversationEventPosts
from workflows.ordered_outbox import OrderedOutbox

with workflow.unsafe.imports_passed_through():
    from activities.http import HttpActivities

# Events one activity posts at most.
EVENT_BATCH = 50
# How long a batch that failed for good waits before its events are tried again.
EVENT_PAUSE_SECONDS = 60
# Conversations' post-event for a change of a conversation's state, and the patch that began it
# (runs recorded before post no such event).
STATE_UPDATED = "onConversationStateUpdated"
STATE_EVENTS_PATCH = "conversation-state-events"


class EventOutbox:
    def __init__(
        self,
        config: ChannelConfig,
        carried: Iterable[ConversationEvent],
        *,
        should_pause: Callable[[], bool],
        on_drained: Callable[[], None],
    ) -> None:
        self.config = config
        self.queue: OrderedOutbox[ConversationEvent] = OrderedOutbox(
            carried, batch=EVENT_BATCH, should_pause=should_pause, on_drained=on_drained
        )

    @property
    def in_flight(self) -> bool:
        return self.queue.draining

    @property
    def queued(self) -> bool:
        return bool(self.queue)

    @property
    def stalled(self) -> bool:
        return self.queued and not self.in_flight and not self.queue.should_pause()

    def unsent(self) -> list[ConversationEvent]:
        return self.queue.unsent()

    def put(self, event: ConversationEvent) -> None:
        self.queue.put([event])
        self.resume()

    def resume(self) -> None:
        if self.stalled:
            self.queue.drain(self._post)

    async def _post(self, batch: list[ConversationEvent]) -> bool:
        try:
            await workflow.execute_activity_method(
                HttpActivities.post_conversation_events,
                ConversationEventPosts(self.config.channel_sid, self.config.service_sid, batch),
                **activity_options.webhook_batch(len(batch), 1),
            )
        except ActivityError as exc:
            workflow.logger.error("posting conversation events stopped: %s", failure_message(exc))
            await asyncio.sleep(EVENT_PAUSE_SECONDS)
            return False
        return True

    async def post_state_change(self, state_from: str, state_to: str, reason: str) -> None:
        """Posts ``onConversationStateUpdated`` now, while the channel waits (a close may end the
        run next): its targets are found when it is posted; after a few failed attempts it is
        logged and dropped rather than holding the conversation's state."""
        form = {
            "StateFrom": state_from,
            "StateTo": state_to,
            "Reason": reason,
            "StateUpdated": workflow.now().isoformat().replace("+00:00", "Z"),
        }
        event = ConversationEvent(STATE_UPDATED, source="API", form=form)
        try:
            await workflow.execute_activity_method(
                HttpActivities.post_conversation_events,
                ConversationEventPosts(self.config.channel_sid, self.config.service_sid, [event]),
                **activity_options.state_event(),
            )
        except ActivityError as exc:
            workflow.logger.error("posting a state change stopped: %s", failure_message(exc))
