"""A Chat v2 channel's webhooks: what they are until a caller changes them (the Studio webhook
of its Flex Flow's integration, as Flex creates it), and the integration they leave the channel.

A channel runs one integration: its first Studio webhook runs that flow on the customer's next
message; otherwise its first ``webhook`` filtering ``onMessageSent`` gets the messages posted (by
its ``method``); otherwise the Flex Flow's task creation or external URL stays. Besides, each
``trigger`` webhook gets the messages whose body names one of its keywords
(``TriggerWebhook.fires_on``). The channel row keeps the webhooks once changed, so a run that
starts later (a closed long-lived channel reopening) runs them too."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from switchboard.store.models import Channel
from workflows import sids
from workflows.messages import Integration, TriggerWebhook

MESSAGE_SENT = "onMessageSent"


def flow_webhooks(channel: Channel, flow_integration: Integration | None, now: str) -> list[dict[str, Any]]:
    """The webhooks a channel has before a caller changes them: Flex gives a channel of a Studio
    integration the webhook that runs its flow."""
    if flow_integration is None or flow_integration.type != "studio" or not flow_integration.flow_sid:
        return []
    sid = sids.flow_webhook_sid(channel.sid)
    return [
        {
            "sid": sid,
            "type": "studio",
            "flow_sid": flow_integration.flow_sid,
            "filters": [MESSAGE_SENT],
            "retry_count": 0,
            "date_created": now,
            "date_updated": now,
        }
    ]


def channel_webhooks(channel: Channel, flow_integration: Integration | None, now: str) -> list[dict[str, Any]]:
    """The channel's webhooks, as stored once changed or as its Flex Flow gives them."""
    if channel.webhooks_json is None:
        return flow_webhooks(channel, flow_integration, now)
    stored: list[dict[str, Any]] = json.loads(channel.webhooks_json)
    return stored


def integration_of(webhooks: list[dict[str, Any]], flow_integration: Integration | None) -> Integration | None:
    """The integration ``webhooks`` leave a channel whose Flex Flow runs ``flow_integration``."""
    for hook in webhooks:
        if hook["type"] == "studio" and hook.get("flow_sid"):
            if flow_integration is not None and flow_integration.type == "studio":
                return replace(flow_integration, flow_sid=hook["flow_sid"], webhook_sid=hook["sid"])
            return Integration(type="studio", flow_sid=hook["flow_sid"], webhook_sid=hook["sid"])
    for hook in webhooks:
        if hook["type"] == "webhook" and hook.get("url") and MESSAGE_SENT in hook.get("filters", []):
            return Integration(
                type="external",
                url=hook["url"],
                method=hook.get("method") or "POST",
                retry_count=hook.get("retry_count", 0),
            )
    if flow_integration is not None and flow_integration.type != "studio":
        return flow_integration
    return None


def integration_for_channel(channel: Channel, flow_integration: Integration | None) -> Integration | None:
    """The integration a channel row runs: its Flex Flow's until a caller changed its webhooks."""
    if channel.webhooks_json is None:
        return flow_integration
    return integration_of(json.loads(channel.webhooks_json), flow_integration)


def triggers_of(webhooks: list[dict[str, Any]]) -> list[TriggerWebhook]:
    """The ``trigger`` webhooks among ``webhooks``, as the channel runs them."""
    return [
        TriggerWebhook(
            url=hook["url"],
            triggers=list(hook["triggers"]),
            method=hook.get("method") or "POST",
            retry_count=hook.get("retry_count", 0),
        )
        for hook in webhooks
        if hook["type"] == "trigger" and hook.get("url") and hook.get("triggers")
    ]


def triggers_for_channel(channel: Channel) -> list[TriggerWebhook]:
    """The ``trigger`` webhooks a channel row runs (a Flex Flow gives none)."""
    if channel.webhooks_json is None:
        return []
    return triggers_of(json.loads(channel.webhooks_json))
