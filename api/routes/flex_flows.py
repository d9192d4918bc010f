"""Flex v1 FlexFlows: how a channel type and address map to a chat service and an integration."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Query, Response
from pydantic import Field
from sqlmodel import col, select

from api.address_configurations import configuration_serving
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas.flex import FlexFlowPage, FlexFlowResource, IntegrationFailurePage
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso, not_found
from switchboard.store.models import FlexFlow, IntegrationFailure, Service, utcnow
from workflows import sids

router = APIRouter(
    prefix="/v1/FlexFlows",
    tags=["flex"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)

ChannelType = Literal["web", "sms", "facebook", "whatsapp", "line", "custom"]
IntegrationType = Literal["studio", "external", "task"]
# Channel types whose customers are reached at an address the business owns.
ADDRESSED_TYPES = ("sms", "whatsapp", "facebook", "line")

# Integration fields: form alias, stored key, the integration types it applies to.
INTEGRATION_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "flow_sid": ("Integration.FlowSid", ("studio",)),
    "url": ("Integration.Url", ("external",)),
    "workspace_sid": ("Integration.WorkspaceSid", ("task",)),
    "workflow_sid": ("Integration.WorkflowSid", ("task",)),
    "channel": ("Integration.Channel", ("task",)),
    "timeout": ("Integration.Timeout", ("task",)),
    "priority": ("Integration.Priority", ("task",)),
    "creation_on_message": ("Integration.CreationOnMessage", ("studio", "external", "task")),
    "retry_count": ("Integration.RetryCount", ("studio", "external")),
}
REQUIRED_INTEGRATION = {
    "studio": ("flow_sid",),
    "external": ("url",),
    "task": ("workspace_sid", "workflow_sid", "channel"),
}
INTEGRATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "studio": {"retry_count": 3},
    "external": {"retry_count": 3},
    "task": {"timeout": 86400, "priority": 0},
}


class FlexFlowForm(TwilioForm):
    """Every field optional: create checks what it requires, update changes what is given."""

    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=256)
    chat_service_sid: str | None = Field(None, alias="ChatServiceSid")
    channel_type: ChannelType | None = Field(None, alias="ChannelType")
    contact_identity: str | None = Field(None, alias="ContactIdentity", max_length=256)
    enabled: bool | None = Field(None, alias="Enabled")
    integration_type: IntegrationType | None = Field(None, alias="IntegrationType")
    flow_sid: str | None = Field(None, alias="Integration.FlowSid")
    url: str | None = Field(None, alias="Integration.Url", max_length=2048)
    workspace_sid: str | None = Field(None, alias="Integration.WorkspaceSid")
    workflow_sid: str | None = Field(None, alias="Integration.WorkflowSid")
    channel: str | None = Field(None, alias="Integration.Channel")
    timeout: int | None = Field(None, alias="Integration.Timeout", ge=1, le=365 * 86400)
    priority: int | None = Field(None, alias="Integration.Priority", ge=0, le=2**31 - 1)
    creation_on_message: bool | None = Field(None, alias="Integration.CreationOnMessage")
    retry_count: int | None = Field(None, alias="Integration.RetryCount", ge=0, le=3)
    long_lived: bool | None = Field(None, alias="LongLived")
    janitor_enabled: bool | None = Field(None, alias="JanitorEnabled")


def render_flex_flow(call: RestCall, flow: FlexFlow) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "date_created": iso(flow.date_created),
        "date_updated": iso(flow.date_updated),
        "sid": flow.sid,
        "friendly_name": flow.friendly_name,
        "chat_service_sid": flow.chat_service_sid,
        "channel_type": flow.channel_type,
        "contact_identity": flow.contact_identity,
        "enabled": flow.enabled,
        "integration_type": flow.integration_type,
        "integration": json.loads(flow.integration_json),
        "long_lived": flow.long_lived,
        "janitor_enabled": flow.janitor_enabled,
        "url": f"{call.url('')}/v1/FlexFlows/{flow.sid}",
    }


def merged_integration(flow: FlexFlow, form: FlexFlowForm) -> dict[str, Any]:
    """The integration after applying ``form``, validated against the integration type."""
    kind = flow.integration_type
    integration: dict[str, Any] = json.loads(flow.integration_json) if flow.integration_json else {}
    if form.integration_type is not None and form.integration_type != kind:
        integration = {}  # switching type starts from that type's defaults
        kind = form.integration_type
    given = {name: getattr(form, name) for name in INTEGRATION_FIELDS if getattr(form, name) is not None}
    if kind is None:
        if given:
            alias = INTEGRATION_FIELDS[next(iter(given))][0]
            raise invalid("IntegrationType", f"is required when {alias} is given")
        return {}
    for name in given:
        alias, applies_to = INTEGRATION_FIELDS[name]
        if kind not in applies_to:
            raise invalid(alias, f"does not apply to integration type {kind}")
    integration = {**INTEGRATION_DEFAULTS[kind], **integration, **given}
    for name in REQUIRED_INTEGRATION[kind]:
        if not integration.get(name):
            raise invalid(INTEGRATION_FIELDS[name][0], f"is required when IntegrationType is {kind}")
    if kind == "studio" and not sids.is_sid(integration["flow_sid"], "FW"):
        raise invalid("Integration.FlowSid", "must be a Studio Flow SID (FW followed by 32 hex digits)")
    if kind == "external":
        parsed = urlparse(integration["url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid("Integration.Url", "must be an absolute http(s) URL")
    if kind == "task":
        for name, prefix in (("workspace_sid", "WS"), ("workflow_sid", "WW")):
            if not sids.is_sid(integration[name], prefix):
                raise invalid(INTEGRATION_FIELDS[name][0], f"must be a SID starting with {prefix}")
    return integration


async def apply_form(session: SessionDep, flow: FlexFlow, form: FlexFlowForm) -> None:
    integration = merged_integration(flow, form)
    # Checked before the flow changes: a query after would flush a flow naming a missing service.
    service_sid = form.chat_service_sid or flow.chat_service_sid
    if await session.get(Service, service_sid) is None:
        raise invalid("ChatServiceSid", f"chat service {service_sid} does not exist")
    for name in ("friendly_name", "chat_service_sid", "channel_type", "contact_identity", "enabled"):
        if getattr(form, name) is not None:
            setattr(flow, name, getattr(form, name))
    for name in ("long_lived", "janitor_enabled", "integration_type"):
        if getattr(form, name) is not None:
            setattr(flow, name, getattr(form, name))
    flow.integration_json = json.dumps(integration)
    if flow.channel_type in ADDRESSED_TYPES and not flow.contact_identity:
        raise invalid("ContactIdentity", f"is required for channel type {flow.channel_type}")
    if flow.channel_type == "whatsapp" and flow.contact_identity and not flow.contact_identity.startswith("whatsapp:"):
        raise invalid("ContactIdentity", "must be a whatsapp: address for channel type whatsapp")
    if flow.enabled and flow.contact_identity:
        clash = select(FlexFlow.sid).where(
            FlexFlow.contact_identity == flow.contact_identity,
            FlexFlow.channel_type == flow.channel_type,
            col(FlexFlow.enabled).is_(True),
            FlexFlow.sid != flow.sid,
        )
        other = (await session.exec(clash)).first()
        if other:
            raise TwilioError(
                409,
                f"enabled Flex Flow {other} already serves {flow.channel_type} address {flow.contact_identity}",
                50300,
            )
        configured = await configuration_serving(session, flow.channel_type, flow.contact_identity)
        if configured is not None:
            raise TwilioError(
                409,
                f"address configuration {configured.sid} already serves {flow.channel_type} address "
                f"{flow.contact_identity}: delete it first (Conversations' /v1/Configuration/Addresses)",
                50300,
            )
    flow.date_updated = utcnow()


@router.post("", status_code=201, response_model=FlexFlowResource, responses=error_responses(409))
async def create_flex_flow(
    call: CallDep,
    session: SessionDep,
    form: Annotated[FlexFlowForm, Form()],
) -> dict[str, Any]:
    for name, alias in (
        ("friendly_name", "FriendlyName"),
        ("chat_service_sid", "ChatServiceSid"),
        ("channel_type", "ChannelType"),
    ):
        if getattr(form, name) is None:
            raise invalid(alias, "is required")
    assert form.friendly_name and form.chat_service_sid and form.channel_type
    flow = FlexFlow(
        sid=sids.new_sid(sids.FLEX_FLOW),
        friendly_name=form.friendly_name,
        chat_service_sid=form.chat_service_sid,
        channel_type=form.channel_type,
    )
    await apply_form(session, flow, form)
    session.add(flow)
    await session.commit()
    return render_flex_flow(call, flow)


async def load_flex_flow(session: SessionDep, sid: str) -> FlexFlow:
    flow = await session.get(FlexFlow, sid)
    if flow is None:
        raise not_found("FlexFlow", sid)
    return flow


@router.get("", response_model=FlexFlowPage)
async def list_flex_flows(
    call: CallDep,
    session: SessionDep,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
) -> dict[str, Any]:
    query = select(FlexFlow)
    if friendly_name is not None:
        query = query.where(FlexFlow.friendly_name == friendly_name)
    query = query.order_by(col(FlexFlow.date_created), col(FlexFlow.sid))
    return await call.offset_page(session, query, paging, "flex_flows", render_flex_flow)


@router.get("/{sid}", response_model=FlexFlowResource, responses=error_responses(404))
async def fetch_flex_flow(call: CallDep, session: SessionDep, sid: str) -> dict[str, Any]:
    return render_flex_flow(call, await load_flex_flow(session, sid))


@router.post("/{sid}", response_model=FlexFlowResource, responses=error_responses(404, 409))
async def update_flex_flow(
    call: CallDep,
    session: SessionDep,
    sid: str,
    form: Annotated[FlexFlowForm, Form()],
) -> dict[str, Any]:
    flow = await load_flex_flow(session, sid)
    await apply_form(session, flow, form)
    session.add(flow)
    await session.commit()
    return render_flex_flow(call, flow)


@router.delete("/{sid}", status_code=204, responses=error_responses(404))
async def delete_flex_flow(session: SessionDep, sid: str) -> Response:
    await session.delete(await load_flex_flow(session, sid))
    await session.commit()
    return Response(status_code=204)


def render_integration_failure(call: RestCall, failure: IntegrationFailure) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "flex_flow_sid": failure.flex_flow_sid,
        "channel_sid": failure.channel_sid,
        "message_sid": failure.message_sid,
        "url": failure.url,
        "attempts": failure.attempts,
        "error": failure.error,
        "date_created": iso(failure.date_created),
    }


@router.get("/{sid}/IntegrationFailures", response_model=IntegrationFailurePage, responses=error_responses(404))
async def list_integration_failures(call: CallDep, session: SessionDep, sid: str, paging: PagingDep) -> dict[str, Any]:
    """Switchboard's own: messages an ``external`` integration could not deliver after its
    retries, newest first (Twilio shows these as debugger alerts)."""
    await load_flex_flow(session, sid)
    query = (
        select(IntegrationFailure)
        .where(IntegrationFailure.flex_flow_sid == sid)
        .order_by(col(IntegrationFailure.date_created).desc(), col(IntegrationFailure.id).desc())
    )
    return await call.offset_page(session, query, paging, "integration_failures", render_integration_failure)
