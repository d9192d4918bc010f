"""Agents' and flows' messages on SMS, WhatsApp and Messenger channels go to the customer through
the provider, one at a time in the order they were stored."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options
from workflows.failures import failure_message
from workflows.messages import ChannelConfig, DeliveryFailure, InboundMessage, OutboundDelivery, StoredMessage
from workflows.ordered_outbox import OrderedOutbox

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities

PROVIDER_CHANNEL_TYPES = frozenset({"sms", "whatsapp", "facebook"})
# Runs that began before provider delivery existed replay without it (their histories have no
# marker).
DELIVERY_PATCH = "provider-delivery"


class ProviderDelivery:
    def __init__(self, config: ChannelConfig, on_drained: Callable[[], None]) -> None:
        self.config = config
        self.outbox: OrderedOutbox[OutboundDelivery] = OrderedOutbox(on_drained=on_drained)

    @property
    def busy(self) -> bool:
        return self.outbox.draining

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
