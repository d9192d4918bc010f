"""Conversations' address configurations as the engine runs them: an enabled configuration of an
address auto-creates a conversation for a new customer's message, on the same machinery as a Flex
Flow (a contact's channel, keyed by the configuration's ``IG`` SID where a Flex Flow's channels
are keyed by its ``FO`` SID), handed to its Studio flow (triggered with
``incomingConversationMessage``), its webhook (Conversations' ``onMessageAdded``, signed) or
nothing.

Precedence: one address is served by one of them: a configuration for an address an enabled Flex
Flow of its channel type serves is refused (409), and so is a Flex Flow for a configured address
(``api.routes.flex_flows``). Should both serve it (racing requests), the Flex Flow wins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import AppContext
from switchboard.store.contacts import identity_hash
from switchboard.store.models import AddressConfiguration, Channel, Contact, FlexFlow

# Twilio's address types Switchboard has a provider for, with the channel type their conversations
# have (Messenger's Flex Flows call it ``facebook``).
CHANNEL_TYPES = {"sms": "sms", "whatsapp": "whatsapp", "messenger": "facebook"}
ADDRESS_TYPES = {channel_type: kind for kind, channel_type in CHANNEL_TYPES.items()}
# What an ``AutoCreation.Type`` webhook is posted; the other Conversations events are refused.
WEBHOOK_FILTERS = ("onMessageAdded",)
# A conversation's participant binding type by channel type.
BINDING_TYPES = {"sms": "sms", "whatsapp": "whatsapp", "facebook": "messenger"}


def auto_creation(configuration: AddressConfiguration) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(configuration.auto_creation_json or "{}")
    return stored


def configuration_flow(configuration: AddressConfiguration, default_service_sid: str) -> FlexFlow | None:
    """The configuration as the contact-channel machinery takes a Flex Flow (a detached row, never
    stored): its ``sid`` keys the customers' channels. None while auto-creation is disabled.

    Its conversations are short-lived: one closes after the deployment's inactivity period (while
    no flow, task or post holds it) and the customer's next message auto-creates a new one, as a
    closed conversation at Twilio does."""
    creation = auto_creation(configuration)
    if not creation.get("enabled"):
        return None
    kind = creation.get("type", "default")
    integration: dict[str, Any] = {"conversations": True}
    integration_type: str | None = None
    if kind == "studio":
        integration_type = "studio"
        integration |= {"flow_sid": creation["studio_flow_sid"], "retry_count": creation.get("studio_retry_count", 3)}
    elif kind == "webhook" and "onMessageAdded" in creation.get("webhook_filters", []):
        integration_type = "external"
        integration |= {
            "url": creation["webhook_url"],
            "method": str(creation.get("webhook_method") or "POST").upper(),
            "retry_count": 0,
        }
    return FlexFlow(
        sid=configuration.sid,
        friendly_name=configuration.friendly_name or configuration.address,
        chat_service_sid=creation.get("conversation_service_sid") or default_service_sid,
        channel_type=CHANNEL_TYPES[configuration.type],
        contact_identity=configuration.address,
        enabled=True,
        integration_type=integration_type,
        integration_json=json.dumps(integration),
        long_lived=False,
        janitor_enabled=False,
    )


async def configuration_serving(session: AsyncSession, channel_type: str, address: str) -> AddressConfiguration | None:
    kind = ADDRESS_TYPES.get(channel_type)
    if kind is None:
        return None
    query = select(AddressConfiguration).where(
        AddressConfiguration.address == address, AddressConfiguration.type == kind
    )
    return (await session.exec(query)).first()


async def flex_flow_claiming(session: AsyncSession, kind: str, address: str) -> str | None:
    """The enabled Flex Flow serving ``address`` on the address type's channel, if any."""
    query = select(FlexFlow.sid).where(
        FlexFlow.contact_identity == address,
        FlexFlow.channel_type == CHANNEL_TYPES[kind],
        col(FlexFlow.enabled).is_(True),
    )
    return (await session.exec(query)).first()


async def flow_of_channel(
    session: AsyncSession, flex_flow_sid: str | None, default_service_sid: str
) -> FlexFlow | None:
    """What a contact's channel was opened through: its Flex Flow, or its address configuration
    as ``configuration_flow`` gives it (None when gone or disabled)."""
    if not flex_flow_sid:
        return None
    flow = await session.get(FlexFlow, flex_flow_sid)
    if flow is not None:
        return flow
    configuration = await session.get(AddressConfiguration, flex_flow_sid)
    return None if configuration is None else configuration_flow(configuration, default_service_sid)


@dataclass(frozen=True)
class CustomerBinding:
    """A contact channel's customer as Conversations shows them: a participant with no identity
    and a ``messaging_binding`` (their address and the business's)."""

    member_identity_hash: str
    binding: dict[str, Any]


async def customer_binding(context: AppContext, session: AsyncSession, channel: Channel) -> CustomerBinding | None:
    """The binding of the customer of ``channel`` when it is an SMS, WhatsApp or Messenger contact's
    channel (a Flex Flow's or an address configuration's); None otherwise."""
    binding_type = BINDING_TYPES.get(channel.channel_type)
    if binding_type is None or not channel.flex_flow_sid or not channel.contact_hash:
        return None
    contact = await session.get(Contact, (channel.flex_flow_sid, channel.contact_hash))
    if contact is None:
        return None
    address = context.cipher.decrypt(contact.address_enc, "contact.address")
    flow = await session.get(FlexFlow, channel.flex_flow_sid)
    proxy = flow.contact_identity if flow is not None else None
    if flow is None and (configuration := await session.get(AddressConfiguration, channel.flex_flow_sid)):
        proxy = configuration.address
    return CustomerBinding(
        identity_hash(context.hasher, address), {"type": binding_type, "address": address, "proxy_address": proxy}
    )
