"""Search attributes of channel workflows, as operators query them in the Temporal UI:
``ChannelType="sms" AND ChannelStatus="ACTIVE"``. Never phone numbers or names."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CHANNEL_SID = SearchAttributeKey.for_keyword("ChannelSid")
CHANNEL_TYPE = SearchAttributeKey.for_keyword("ChannelType")
CHANNEL_STATUS = SearchAttributeKey.for_keyword("ChannelStatus")
FLEX_FLOW_SID = SearchAttributeKey.for_keyword("FlexFlowSid")

ALL = (CHANNEL_SID, CHANNEL_TYPE, CHANNEL_STATUS, FLEX_FLOW_SID)


def dev_server_flags() -> list[str]:
    """``--search-attribute`` flags that register every key on the Temporal dev server."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags


def for_new_channel(channel_sid: str, channel_type: str, flex_flow_sid: str | None) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(CHANNEL_SID, channel_sid),
        SearchAttributePair(CHANNEL_TYPE, channel_type),
        SearchAttributePair(CHANNEL_STATUS, "ACTIVE"),
    ]
    if flex_flow_sid:
        pairs.append(SearchAttributePair(FLEX_FLOW_SID, flex_flow_sid))
    return TypedSearchAttributes(pairs)
