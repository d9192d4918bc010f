"""Response models of canned responses (Switchboard's own resource, in TaskRouter's style)."""

from __future__ import annotations

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class CannedResponseLinks(Resource):
    workspace: str
    task_queue: str | None


class CannedResponse(Resource):
    account_sid: str
    workspace_sid: str
    sid: str
    friendly_name: str
    shortcut: str
    body: str
    task_queue_sid: str | None
    date_created: str
    date_updated: str
    url: str
    links: CannedResponseLinks


class CannedResponsePage(Resource):
    canned_responses: list[CannedResponse]
    meta: PageMeta
