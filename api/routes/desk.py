"""The agent desk's development sign-in: ``POST /v1/Desk/DevSignIn`` answers a token for a worker
of the default "Flex Task Assignment" workspace, creating the worker on first use (Offline,
skill ``support``, capacity for three chats at once), with the role the worker's attributes grant
(``"roles": ["supervisor"]`` or ``["admin"]``; ``api.access.desk_role``). It exists only
when ``SWITCHBOARD_DESK_DEV_SIGN_IN`` is on (``switchboard dev`` turns it on); in production the
operator's own sign-in mints desk tokens with ``POST /v1/Tokens``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import select

from api.access import desk_role
from api.deps import ContextDep, SessionDep
from api.routes.taskrouter.workers import add_worker
from api.routes.tokens import token_body
from api.schemas.resources import error_responses
from api.schemas.tokens import DevSignInResource
from api.tokens import DEV_SIGN_IN_ORIGIN, Grants
from api.twilio_shape import TwilioError
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.models import Worker, WorkspaceActivity

router = APIRouter(prefix="/v1/Desk", tags=["desk"])

DEFAULT_SKILLS = ["support"]
# A desk agent works several chats at once (TaskRouter's default capacity is one).
CHAT_CAPACITY = {"chat": 3}


class DevSignIn(BaseModel):
    identity: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


@router.post("/DevSignIn", status_code=201, response_model=DevSignInResource, responses=error_responses(400, 404))
async def dev_sign_in(context: ContextDep, session: SessionDep, request: DevSignIn) -> dict[str, Any]:
    if not context.settings.desk_dev_sign_in:
        raise TwilioError(404, "dev sign-in is off: sign in through your organisation's sign-in", 20404)
    defaults = plan_flex_defaults(context.settings).defaults
    workspace_sid = defaults.workspace_sid
    worker = (
        await session.exec(
            select(Worker).where(Worker.workspace_sid == workspace_sid, Worker.friendly_name == request.identity)
        )
    ).first()
    if worker is None:
        # New agents start Offline: they choose when to take conversations.
        offline = await session.get(WorkspaceActivity, defaults.offline_activity_sid)
        assert offline is not None, "the Flex defaults are in place before the API serves"
        attributes = {"contact_uri": f"client:{request.identity}", "routing": {"skills": DEFAULT_SKILLS}}
        worker = await add_worker(
            context, session, offline, request.identity, json.dumps(attributes), capacity=CHAT_CAPACITY
        )
    # The role is the worker's (its attributes' ``roles``, set by an operator over REST), never the
    # caller's choice; a supervisor or admin also reads the default chat service's conversations.
    role = desk_role(json.loads(context.cipher.decrypt(worker.attributes_enc, "worker.attributes")))
    service_sid = defaults.chat_service_sid if role != "agent" else None
    grants = Grants(role=role, workspace_sid=workspace_sid, worker_sid=worker.sid, chat_service_sid=service_sid)
    body = token_body(
        context.settings, request.identity, grants, context.settings.token_ttl_seconds, origin=DEV_SIGN_IN_ORIGIN
    )
    return {**body, "worker_sid": worker.sid, "workspace_sid": workspace_sid}
