"""Agents' and flows' messages on SMS, WhatsApp and Messenger channels go to the customer through
the provider, one at a time in the order they were stored; so do a conversation's messages to its
SMS and WhatsApp participants (Conversations' messaging bindings), each from its proxy address."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options
from workflows.failures import failure_message
from workflows.messages import (
    BindingDelivery,
    BindingFailure,
    ChannelConfig,
    DeliveryFailure,
    InboundMessage,
    OutboundDelivery,
    StoredMessage,
)
from workflows.ordered_outbox import OrderedOutbox

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities

PROVIDER_CHANNEL_TYPES = frozenset({"sms", "whatsapp", "facebook"})
# Runs that began before provider delivery existed replay without it (their histories have no
# marker).
DELIVERY_PATCH = "provider-delivery"
# Runs that began before conversations had SMS and WhatsApp participants replay without delivery
# to them.
BINDINGS_PATCH = "conversation-bindings"


class ProviderDelivery:
    def __init__(self, config: ChannelConfig, on_drained: Callable[[], None]) -> None:
        self.config = config
        self.outbox: OrderedOutbox[OutboundDelivery] = OrderedOutbox(on_drained=on_drained)
        self.bindings: OrderedOutbox[BindingDelivery] = OrderedOutbox(on_drained=on_drained)
        # Whether the channel has SMS or WhatsApp participants (the channel tells, from its members).
        self.bound: Callable[[], bool] = lambda: False

    @property
    def busy(self) -> bool:
        return self.outbox.draining or self.bindings.draining

    def wants(self, message: InboundMessage) -> bool:
        """The message goes to the customer: it is the business's, on a provider's channel."""
        config = self.config
        return (
            config.channel_type in PROVIDER_CHANNEL_TYPES
            and config.contact_address is not None
            and config.flow_address is not None
            and message.author != config.contact_address
            and workflow.patched(DELIVERY_PATCH)
        )

    def send(self, stored: StoredMessage) -> None:
        config = self.config
        assert config.contact_address is not None and config.flow_address is not None
        self.outbox.put(
            [
                OutboundDelivery(
                    stored.sid, config.channel_sid, config.channel_type, config.contact_address, config.flow_address
                )
            ]
        )
        self.outbox.drain(self._deliver)

    def wants_bindings(self) -> bool:
        """The channel's SMS and WhatsApp participants get its new messages (the activity finds
        which are still bound, and skips the message's own author)."""
        return self.bound() and workflow.patched(BINDINGS_PATCH)

    def send_to_bindings(self, stored: StoredMessage) -> None:
        self.bindings.put([BindingDelivery(stored.sid, self.config.channel_sid)])
        self.bindings.drain(self._deliver_to_bindings)

    @staticmethod
    async def _deliver_to_bindings(deliveries: list[BindingDelivery]) -> bool:
        for delivery in deliveries:
            try:
                await workflow.execute_activity_method(
                    DeliveryActivities.deliver_to_bindings, delivery, **activity_options.DELIVERY
                )
            except (ActivityError, ApplicationError) as exc:
                await workflow.execute_local_activity_method(
                    DeliveryActivities.record_binding_failure,
                    BindingFailure(delivery, failure_message(exc)),
                    **activity_options.STORE,
                )
        return True

    @staticmethod
    async def _deliver(deliveries: list[OutboundDelivery]) -> bool:
        for delivery in deliveries:
            try:
                await workflow.execute_activity_method(
                    DeliveryActivities.deliver_message, delivery, **activity_options.DELIVERY
                )
            except (ActivityError, ApplicationError) as exc:
                await workflow.execute_local_activity_method(
                    DeliveryActivities.record_delivery_failure,
                    DeliveryFailure(delivery, failure_message(exc)),
                    **activity_options.STORE,
                )
        return True
