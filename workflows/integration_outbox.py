"""A channel's external integration: each new message is posted to the integration's URL, in the
order stored; and its trigger webhooks: a message whose body names a keyword is posted to each
trigger webhook it fires, in the same queue (one order, one mechanism).

Posts go out in batches of queued message indexes, one activity each, and a run may continue as
new with posts queued (they are carried). Runs that began before batches existed replay with one
activity per post (their histories have no marker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options
from workflows.failures import failure_message
from workflows.messages import (
    ChannelConfig,
    ChatWebhook,
    ChatWebhookPosts,
    InboundMessage,
    StoredMessage,
    WebhookFailure,
)
from workflows.ordered_outbox import OrderedOutbox

with workflow.unsafe.imports_passed_through():
    from activities.http import HttpActivities

OUTBOX_PATCH = "outbox-batches"
# Posts one batch activity makes at most: its input stays small, and a run waiting to continue as
# new waits for one batch at most.
POST_BATCH = 100
# How long a batch that failed for good waits before its posts are tried again.
POST_PAUSE_SECONDS = 60


class IntegrationOutbox:
    def __init__(
        self,
        config: ChannelConfig,
        carried: Iterable[int],
        *,
        should_pause: Callable[[], bool],
        on_drained: Callable[[], None],
    ) -> None:
        self.config = config
        # Indexes of stored messages waiting for the integration (carried across continue-as-new).
        # ``should_pause``: the run's budget is spent and only posting keeps it from continuing as
        # new, so no new batch starts and the queue is carried to the next run.
        self.batches: OrderedOutbox[int] = OrderedOutbox(
            carried, batch=POST_BATCH, should_pause=should_pause, on_drained=on_drained
        )
        # The posts of runs from before OUTBOX_PATCH.
        self.legacy: OrderedOutbox[ChatWebhook] = OrderedOutbox(on_drained=on_drained)

    @property
    def in_flight(self) -> bool:
        return self.batches.draining or self.legacy.draining

    @property
    def queued(self) -> bool:
        return bool(self.batches)

    @property
    def stalled(self) -> bool:
        """Posts are queued, none in flight, and the run is not about to continue as new."""
        return self.queued and not self.in_flight and not self.batches.should_pause()

    def unsent(self) -> list[int]:
        return self.batches.unsent()

    def post(self, message: InboundMessage, stored: StoredMessage) -> None:
        integration = self.config.integration
        assert integration is not None and integration.url is not None
        if not workflow.patched(OUTBOX_PATCH):
            self.legacy.put([self._chat_webhook(integration.url, integration.retry_count, message, stored)])
            if not self.in_flight:
                self.legacy.drain(self._post_one)
            return
        self.queue(stored.index)

    def queue(self, index: int) -> None:
        """The stored message at ``index`` is to be posted (to the integration and the trigger
        webhooks it fires)."""
        self.batches.put([index])
        self.resume()

    def resume(self) -> None:
        if self.stalled:
            self.batches.drain(self._post_batch)

    async def _post_batch(self, batch: list[int]) -> bool:
        integration = self.config.integration
        conversations = False
        if integration is not None and integration.url is not None and integration.type == "external":
            url, method, retry_count = integration.url, integration.method, integration.retry_count
            conversations = integration.conversations
        else:
            url, method, retry_count = "", "POST", 0
        triggers = self.config.triggers
        if not url and not triggers:
            return True  # the channel's webhooks were removed: what they had queued is not posted
        # Each message is posted to the integration and to every trigger webhook (at most).
        attempts = (retry_count + 1 if url else 0) + sum(hook.retry_count + 1 for hook in triggers)
        try:
            await workflow.execute_activity_method(
                HttpActivities.post_chat_webhooks,
                ChatWebhookPosts(
                    url,
                    retry_count,
                    self.config.flex_flow_sid,
                    self.config.channel_sid,
                    self.config.service_sid,
                    batch,
                    method=method,
                    triggers=list(triggers),
                    conversations=conversations,
                ),
                **activity_options.webhook_batch(len(batch), attempts),
            )
        except ActivityError as exc:
            # Not expected (the activity retries until done): the posts stay queued and are
            # posted again after a pause.
            workflow.logger.error("posting to %s stopped: %s", url or "trigger webhooks", failure_message(exc))
            await asyncio.sleep(POST_PAUSE_SECONDS)
            return False
        return True

    async def _post_one(self, webhooks: list[ChatWebhook]) -> bool:
        for webhook in webhooks:
            try:
                await workflow.execute_activity_method(
                    HttpActivities.post_chat_webhook, webhook, **activity_options.webhook(webhook.retry_count)
                )
            except (ActivityError, ApplicationError) as exc:
                await workflow.execute_local_activity_method(
                    HttpActivities.record_webhook_failure,
                    WebhookFailure(webhook, webhook.retry_count + 1, failure_message(exc)),
                    **activity_options.STORE,
                )
        return True

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
