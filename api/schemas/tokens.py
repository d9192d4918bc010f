"""Access tokens as ``api.routes.tokens`` and the web chat's sessions (``api.routes.webchat``)
answer them, and token revocations."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource


class TokenResource(Resource):
    token: str
    identity: str
    role: str
    # The token's ``grants`` claim: identity, role, and the chat, task_router and channel_sid
    # grants it carries.
    grants: dict[str, Any]
    expires_at: str
    ttl: int


class WebchatSessionResource(Resource):
    """A customer's token, bound to the chat channel opened for it."""

    channel_sid: str
    token: str
    identity: str
    role: str
    grants: dict[str, Any]
    expires_at: str
    ttl: int


class RevocationResource(Resource):
    account_sid: str
    scope: str
    # Null when every session was ended.
    identity: str | None
    # Sessions begun before this moment are ended.
    revoked_before: str


class DevSignInResource(TokenResource):
    """A desk token from the development sign-in, with the worker it signs in as."""

    worker_sid: str
    workspace_sid: str


class WebchatBusinessHoursResource(Resource):
    """What the widget shows outside business hours (Switchboard's own)."""

    open: bool
    # When it opens next (UTC, ISO 8601); None while open or when no opening is scheduled.
    next_open: str | None
    away_message: str
    time_zone: str
