"""A REST caller's changes to a channel: its names, attributes and webhooks (which decide the
integration its next messages reach), and the attributes a channel shows."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from temporalio import workflow

from workflows import activity_options
from workflows.messages import ChangeChannel, ChannelChange, ChannelConfig, ChannelStatus

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities

# The config fields a change may set.
CHANGEABLE = ("friendly_name", "unique_name", "attributes", "attributes_written", "integration", "triggers")


def flex_status(status: ChannelStatus) -> str:
    """The ``status`` Flex's attributes show: a conversation closed for good shows as a channel the
    janitor closed (``INACTIVE``), which Flex plugins and the web chat know."""
    return ChannelStatus.INACTIVE.value if status == ChannelStatus.CLOSED else status.value


def contact_attributes(config: ChannelConfig, status: ChannelStatus) -> str:
    """Flex's attributes of a channel a contact opened."""
    attributes: dict[str, Any] = {
        "from": config.contact_name or config.contact_address,
        "channel_type": config.channel_type,
        "status": flex_status(status),
        "long_lived": config.long_lived,
    }
    if config.pre_engagement_data:
        attributes["pre_engagement_data"] = json.loads(config.pre_engagement_data)
    return json.dumps(attributes)


def channel_attributes(config: ChannelConfig, status: ChannelStatus) -> str:
    """The attributes a channel shows: its own, or for a contact's channel Flex's (or those a
    caller wrote, with Flex's ``status`` kept current)."""
    if config.contact_address is None:
        return config.attributes or "{}"
    if not config.attributes_written or config.attributes is None:
        return contact_attributes(config, status)
    written = json.loads(config.attributes)
    if isinstance(written, dict):
        written["status"] = flex_status(status)
        return json.dumps(written)
    return config.attributes


async def apply_change(config: ChannelConfig, status: ChannelStatus, change: ChannelChange) -> str:
    """Stores ``change`` and then applies it to ``config`` (which the run's parts share, so it
    changes only once the store took it); answers the attributes the channel now shows. A change
    of webhooks changes where the next messages go (deleting the Studio webhook hands the
    conversation off the flow); an execution already running goes on."""
    changed = replace(config)
    if change.friendly_name is not None:
        changed.friendly_name = change.friendly_name
    if change.unique_name is not None:
        changed.unique_name = change.unique_name or None
    if change.attributes is not None:
        changed.attributes = change.attributes
        changed.attributes_written = True
    if change.webhooks_json is not None:
        changed.integration = change.integration
        changed.triggers = list(change.triggers or [])
    attributes = channel_attributes(changed, status)
    await workflow.execute_local_activity_method(
        StoreActivities.change_channel,
        ChangeChannel(changed.channel_sid, change, attributes),
        **activity_options.STORE,
    )
    for name in CHANGEABLE:
        setattr(config, name, getattr(changed, name))
    return attributes
