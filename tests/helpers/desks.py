"""Agents and supervisors of the default workspace for tests of what the desk reads: a worker with
a token of the role wanted, made Offline unless it should be offered conversations."""

from __future__ import annotations

from typing import Any

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import Desk
from tests.helpers.stack import Stack


def offline(stack: Stack, desk: Desk) -> Desk:
    """``desk``'s worker Offline, so routing offers it nothing."""
    activity = next(a.sid for a in desk.workspace.activities.list() if a.friendly_name == "Offline")
    desk.workspace.workers(desk.worker.sid).update(activity_sid=activity)
    return desk


def supervisor(stack: Stack, name: str) -> tuple[Desk, str]:
    """An Offline worker and a ``supervisor`` token for it, of the default chat service."""
    desk = offline(stack, Desk(stack, name))
    defaults = plan_flex_defaults(stack.settings).defaults
    fields: dict[str, Any] = {
        "Identity": name,
        "Role": "supervisor",
        "ChatServiceSid": defaults.chat_service_sid,
        "WorkspaceSid": defaults.workspace_sid,
        "WorkerSid": desk.worker.sid,
    }
    with stack.http() as http:
        response = http.post("/v1/Tokens", data=fields)
    assert response.status_code == 201, response.text
    desk.token = response.json()["token"]
    return desk, desk.token
