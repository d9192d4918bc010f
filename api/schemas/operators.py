"""Response models of the account's own resources: API keys (the 2010 API's shape, with its
paging fields) and erasures with the audit trail."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class Key(Resource):
    sid: str
    friendly_name: str | None
    date_created: str
    date_updated: str


class NewKey(Key):
    """A key as created: the only answer that carries its secret."""

    secret: str


class KeyPage(Resource):
    keys: list[Key]
    uri: str
    first_page_uri: str
    previous_page_uri: str | None
    next_page_uri: str | None
    page: int
    page_size: int
    start: int
    end: int


class Erasure(Resource):
    sid: str
    account_sid: str
    status: str
    # How many rows of each kind went (empty until the erasure completes).
    counts: dict[str, int]
    requested_by: str
    date_created: str
    date_updated: str
    url: str


class AuditEvent(Resource):
    sid: str
    account_sid: str
    event_type: str
    actor: str
    subject: str
    details: dict[str, Any]
    date_created: str
    url: str


class AuditEventPage(Resource):
    audit_events: list[AuditEvent]
    meta: PageMeta
