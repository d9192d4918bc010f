"""The web chat widget's sessions: ``POST /v1/Webchat/Sessions`` opens an anonymous customer's
chat on a web Flex Flow and answers a customer token bound to that channel alone. No account
credentials: the widget runs on the business's public pages. The customer's identity is minted
here, never chosen by the page, so nobody can ask for a token to someone else's chat."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator

from api.conversations import ContactChannelRequest, enabled_web_flow, open_contact_channel
from api.deps import ContextDep, SessionDep, limit_web_chats_per_address
from api.routes.tokens import token_body
from api.schemas.resources import error_responses
from api.schemas.tokens import WebchatBusinessHoursResource, WebchatSessionResource
from api.tokens import WEBCHAT_ORIGIN, Grants
from switchboard.store.business_hours import flex_flow_workspace, workspace_schedule
from workflows.business_hours import status_data

router = APIRouter(prefix="/v1/Webchat", tags=["webchat"])

MAX_PRE_ENGAGEMENT_FIELDS = 32
MAX_PRE_ENGAGEMENT_VALUE = 2000
DEFAULT_CUSTOMER_NAME = "Customer"


class SessionRequest(BaseModel):
    flex_flow_sid: str = Field(min_length=34, max_length=34)
    friendly_name: str | None = Field(None, max_length=256)
    pre_engagement_data: dict[str, str] = Field(default_factory=dict)

    @field_validator("pre_engagement_data")
    @classmethod
    def _small_enough(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_PRE_ENGAGEMENT_FIELDS:
            raise ValueError(f"at most {MAX_PRE_ENGAGEMENT_FIELDS} fields")
        for name, text in value.items():
            if not name or len(name) > 64:
                raise ValueError(f"field name {name[:64]!r} must be 1 to 64 characters")
            if len(text) > MAX_PRE_ENGAGEMENT_VALUE:
                raise ValueError(f"field {name!r} is longer than {MAX_PRE_ENGAGEMENT_VALUE} characters")
        return value


@router.post(
    "/Sessions",
    status_code=201,
    dependencies=[Depends(limit_web_chats_per_address)],
    response_model=WebchatSessionResource,
    responses=error_responses(400, 409, 429, 503),
)
async def open_session(context: ContextDep, session: SessionDep, request: SessionRequest) -> dict[str, Any]:
    flow = await enabled_web_flow(session, request.flex_flow_sid, "flex_flow_sid")
    identity = f"webchat-{secrets.token_hex(16)}"
    name = (request.friendly_name or "").strip() or DEFAULT_CUSTOMER_NAME
    channel, _state = await open_contact_channel(
        context,
        session,
        flow,
        ContactChannelRequest(
            flex_flow_sid=flow.sid,
            identity=identity,
            customer_friendly_name=name,
            chat_friendly_name=name,
            pre_engagement_data=json.dumps(request.pre_engagement_data) if request.pre_engagement_data else None,
        ),
    )
    grants = Grants(role="customer", chat_service_sid=channel.service_sid, channel_sid=channel.sid)
    body = token_body(context.settings, identity, grants, context.settings.token_ttl_seconds, origin=WEBCHAT_ORIGIN)
    return {"channel_sid": channel.sid, **body}


@router.get("/BusinessHours", response_model=WebchatBusinessHoursResource, responses=error_responses(400))
async def business_hours(
    session: SessionDep, flex_flow_sid: Annotated[str, Query(min_length=34, max_length=34)]
) -> dict[str, Any]:
    """Whether the business behind a web Flex Flow is open now, its away message and when it
    opens next, for the widget (no credentials, as for sessions: it says no more than the widget
    shows). The hours are those of the workspace the flow hands conversations to."""
    flow = await enabled_web_flow(session, flex_flow_sid, "flex_flow_sid")
    hours = await workspace_schedule(session, await flex_flow_workspace(session, flow))
    now = status_data(hours, datetime.now(UTC))
    time_zone = "UTC" if hours is None else str(hours["time_zone"])
    return {
        "open": now["open"],
        "next_open": now["next_open"],
        "away_message": now["away_message"],
        "time_zone": time_zone,
    }
