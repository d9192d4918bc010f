"""Flex v1 Interactions as ``api.routes.flex_interactions`` answers them (Twilio's ``flex_v1``
shapes): an interaction, its one channel, the channel's invites and participants."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class InteractionLinks(Resource):
    channels: str


class Interaction(Resource):
    sid: str
    # {"type", "sid" (UO), "initiated_by", "properties": {"media_channel_sid"}}
    channel: dict[str, Any]
    # {"reservation": null, "properties": the first invite's task as TaskRouter has it now}
    routing: dict[str, Any] | None
    interaction_context_sid: str | None
    webhook_ttid: str | None
    url: str
    links: InteractionLinks


class InteractionChannelLinks(Resource):
    participants: str
    invites: str
    transfers: str


class InteractionChannel(Resource):
    sid: str
    interaction_sid: str
    type: str
    # setup, active, failed, closed or inactive.
    status: str
    error_code: int | None
    error_message: str | None
    url: str
    links: InteractionChannelLinks


class InteractionChannelPage(Resource):
    channels: list[InteractionChannel]
    meta: PageMeta


class InteractionChannelInvite(Resource):
    sid: str
    interaction_sid: str
    channel_sid: str
    routing: dict[str, Any] | None
    url: str


class InteractionChannelInvitePage(Resource):
    invites: list[InteractionChannelInvite]
    meta: PageMeta


class InteractionChannelParticipant(Resource):
    sid: str
    # agent, customer, supervisor, external or unknown.
    type: str
    interaction_sid: str
    channel_sid: str
    url: str
    # {"task_sid", "worker_sid", "reservation_sid"} for an agent.
    routing_properties: dict[str, Any] | None


class InteractionChannelParticipantPage(Resource):
    participants: list[InteractionChannelParticipant]
    meta: PageMeta
