"""Response models of Switchboard's own contact lookup (``/v1/Contacts``): a contact's
conversations, found by the keyed hash of its exact address or identity."""

from __future__ import annotations

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class Interaction(Resource):
    task_sid: str
    date_created: str
    date_updated: str
    assignment_status: str
    ended_by: str | None
    outcome: str | None
    agents: list[str]


class ContactConversation(Resource):
    channel_sid: str
    service_sid: str
    channel_type: str
    friendly_name: str | None
    status: str
    date_created: str
    date_updated: str
    interactions: list[Interaction]


class ContactConversationPage(Resource):
    conversations: list[ContactConversation]
    meta: PageMeta
