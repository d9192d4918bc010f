"""Conversations v1 ``/v1/Configuration/Addresses``: the addresses whose new customers'
messages auto-create a conversation (``api.address_configurations`` runs them), by ``IG`` SID or by
address."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Query, Response
from pydantic import Field
from sqlmodel import col, select

from api.address_configurations import CHANNEL_TYPES, WEBHOOK_FILTERS, auto_creation, flex_flow_claiming
from api.channels import default_service
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas.address_configurations import AddressConfiguration as AddressConfigurationModel
from api.schemas.address_configurations import AddressConfigurationPage
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import CONFLICT, TwilioError, TwilioForm, invalid, iso, not_found
from switchboard.store.models import AddressConfiguration, Service, StudioFlow, utcnow
from workflows import sids

router = APIRouter(
    prefix="/v1/Configuration/Addresses",
    tags=["conversations"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)

AddressType = Literal["sms", "whatsapp", "messenger", "gbm", "email", "rcs", "apple", "chat"]
AutoCreationType = Literal["webhook", "studio", "default"]
# The AutoCreation fields each type takes: form alias, stored key.
TYPE_FIELDS: dict[str, dict[str, str]] = {
    "webhook": {
        "webhook_url": "AutoCreation.WebhookUrl",
        "webhook_method": "AutoCreation.WebhookMethod",
        "webhook_filters": "AutoCreation.WebhookFilters",
    },
    "studio": {"studio_flow_sid": "AutoCreation.StudioFlowSid", "studio_retry_count": "AutoCreation.StudioRetryCount"},
    "default": {},
}
# What an address of each type looks like, as Twilio writes it.
PREFIXES = {"whatsapp": "whatsapp:", "messenger": "messenger:"}


class AddressUpdateForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=256)
    enabled: bool | None = Field(None, alias="AutoCreation.Enabled")
    type: AutoCreationType | None = Field(None, alias="AutoCreation.Type")
    conversation_service_sid: str | None = Field(None, alias="AutoCreation.ConversationServiceSid", max_length=34)
    webhook_url: str | None = Field(None, alias="AutoCreation.WebhookUrl", max_length=2048)
    webhook_method: str | None = Field(None, alias="AutoCreation.WebhookMethod", max_length=8)
    webhook_filters: list[str] | None = Field(None, alias="AutoCreation.WebhookFilters", max_length=10)
    studio_flow_sid: str | None = Field(None, alias="AutoCreation.StudioFlowSid", max_length=34)
    studio_retry_count: int | None = Field(None, alias="AutoCreation.StudioRetryCount", ge=0, le=3)


class AddressForm(AddressUpdateForm):
    address_type: AddressType | None = Field(None, alias="Type")
    address: str | None = Field(None, alias="Address", min_length=1, max_length=256)
    address_country: str | None = Field(None, alias="AddressCountry", max_length=2)


def render(call: RestCall, configuration: AddressConfiguration) -> dict[str, Any]:
    return {
        "sid": configuration.sid,
        "account_sid": call.account_sid,
        "type": configuration.type,
        "address": configuration.address,
        "friendly_name": configuration.friendly_name,
        "auto_creation": auto_creation(configuration),
        "date_created": iso(configuration.date_created),
        "date_updated": iso(configuration.date_updated),
        "url": call.url(f"/v1/Configuration/Addresses/{configuration.sid}"),
        "address_country": configuration.address_country,
    }


async def merged_auto_creation(
    call: RestCall, session: SessionDep, current: dict[str, Any], form: AddressUpdateForm
) -> dict[str, Any]:
    """``auto_creation`` after ``form``, checked against its type: a type's own fields only, the
    ones it needs present and pointing at what exists. Switching type drops the old type's fields."""
    kind = form.type or current.get("type", "default")
    merged = dict(current) if kind == current.get("type") else {"enabled": current.get("enabled", False)}
    merged["type"] = kind
    merged.setdefault("conversation_service_sid", current.get("conversation_service_sid"))
    if form.enabled is not None:
        merged["enabled"] = form.enabled
    merged.setdefault("enabled", False)
    if form.conversation_service_sid:
        if await session.get(Service, form.conversation_service_sid) is None:
            raise invalid(
                "AutoCreation.ConversationServiceSid",
                f"conversation service {form.conversation_service_sid} does not exist",
            )
        merged["conversation_service_sid"] = form.conversation_service_sid
    if not merged.get("conversation_service_sid"):
        merged["conversation_service_sid"] = default_service(call.context)
    for other, fields in TYPE_FIELDS.items():
        for name, alias in fields.items():
            value = getattr(form, name)
            if value is None:
                continue
            if other != kind:
                raise invalid(alias, f"does not apply to AutoCreation.Type {kind}")
            merged[name] = value
    if kind == "webhook":
        url = merged.get("webhook_url") or ""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid("AutoCreation.WebhookUrl", "is required for type webhook, an absolute http(s) URL")
        method = str(merged.get("webhook_method") or "POST").upper()
        if method not in ("GET", "POST"):
            raise invalid("AutoCreation.WebhookMethod", "must be GET or POST")
        merged["webhook_method"] = method
        filters = merged.get("webhook_filters") or list(WEBHOOK_FILTERS)
        for name in filters:
            if name not in WEBHOOK_FILTERS:
                raise invalid(
                    "AutoCreation.WebhookFilters",
                    f"{name!r} is not posted by Switchboard: an address configuration's webhook is posted "
                    f"{', '.join(WEBHOOK_FILTERS)}",
                )
        merged["webhook_filters"] = list(filters)
    if kind == "studio":
        flow_sid = merged.get("studio_flow_sid") or ""
        if not sids.is_sid(flow_sid, sids.STUDIO_FLOW):
            raise invalid("AutoCreation.StudioFlowSid", "is required for type studio, a Studio Flow SID (FW…)")
        if await session.get(StudioFlow, flow_sid) is None:
            raise invalid("AutoCreation.StudioFlowSid", f"Studio flow {flow_sid} does not exist")
        merged.setdefault("studio_retry_count", 3)
    return merged


def check_address(kind: str, address: str) -> None:
    """An address of a type Switchboard serves, written as Twilio writes it."""
    if kind not in CHANNEL_TYPES:
        raise invalid(
            "Type",
            f"{kind} addresses are not served by Switchboard (it has providers for {', '.join(CHANNEL_TYPES)})",
        )
    prefix = PREFIXES.get(kind)
    if prefix is not None and not address.startswith(prefix):
        raise invalid("Address", f"a {kind} address starts with {prefix!r}")
    if prefix is None and ":" in address:
        raise invalid("Address", f"an {kind} address is a phone number or short code, with no prefix")
    if address != address.strip():
        raise invalid("Address", "must not start or end with whitespace (URL-encode a '+' as %2B)")


@router.post("", status_code=201, response_model=AddressConfigurationModel, responses=error_responses(409))
async def create_address_configuration(
    call: CallDep, session: SessionDep, form: Annotated[AddressForm, Form()]
) -> dict[str, Any]:
    if form.address_type is None:
        raise invalid("Type", "is required")
    if not form.address:
        raise invalid("Address", "is required")
    check_address(form.address_type, form.address)
    taken = await session.exec(select(AddressConfiguration.sid).where(AddressConfiguration.address == form.address))
    if (other := taken.first()) is not None:
        raise TwilioError(409, f"Address configuration {other} already configures address {form.address}", CONFLICT)
    if (flow := await flex_flow_claiming(session, form.address_type, form.address)) is not None:
        raise TwilioError(
            409,
            f"enabled Flex Flow {flow} already serves {form.address_type} address {form.address}: disable or "
            "delete it first (a Flex Flow takes precedence over an address configuration)",
            CONFLICT,
        )
    configuration = AddressConfiguration(
        sid=sids.new_sid(sids.ADDRESS_CONFIGURATION),
        type=form.address_type,
        address=form.address,
        friendly_name=form.friendly_name,
        address_country=form.address_country,
    )
    configuration.auto_creation_json = json.dumps(await merged_auto_creation(call, session, {}, form))
    session.add(configuration)
    await session.commit()
    return render(call, configuration)


@router.get("", response_model=AddressConfigurationPage)
async def list_address_configurations(
    call: CallDep,
    session: SessionDep,
    paging: PagingDep,
    address_type: Annotated[str | None, Query(alias="Type", max_length=16)] = None,
) -> dict[str, Any]:
    """Oldest first, of one ``Type`` when given."""
    query = select(AddressConfiguration)
    if address_type:
        query = query.where(AddressConfiguration.type == address_type)
    query = query.order_by(col(AddressConfiguration.date_created), col(AddressConfiguration.sid))
    return await call.offset_page(session, query, paging, "address_configurations", render)


async def load(session: SessionDep, sid: str) -> AddressConfiguration:
    """By SID or by address."""
    if sids.is_sid(sid, sids.ADDRESS_CONFIGURATION):
        found = await session.get(AddressConfiguration, sid)
    else:
        query = select(AddressConfiguration).where(AddressConfiguration.address == sid)
        found = (await session.exec(query)).first()
    if found is None:
        raise not_found("AddressConfiguration", sid)
    return found


@router.get("/{sid}", response_model=AddressConfigurationModel, responses=error_responses(404))
async def fetch_address_configuration(call: CallDep, session: SessionDep, sid: str) -> dict[str, Any]:
    return render(call, await load(session, sid))


@router.post("/{sid}", response_model=AddressConfigurationModel, responses=error_responses(404))
async def update_address_configuration(
    call: CallDep, session: SessionDep, sid: str, form: Annotated[AddressForm, Form()]
) -> dict[str, Any]:
    """The name and the auto-creation; an address and its type do not change (create another)."""
    configuration = await load(session, sid)
    for value, name in ((form.address_type, "Type"), (form.address, "Address")):
        if value is not None and value != getattr(configuration, "type" if name == "Type" else "address"):
            raise invalid(name, "does not change: delete the configuration and create one for the new address")
    merged = await merged_auto_creation(call, session, auto_creation(configuration), form)
    if form.friendly_name is not None:
        configuration.friendly_name = form.friendly_name
    if form.address_country is not None:
        configuration.address_country = form.address_country
    configuration.auto_creation_json = json.dumps(merged)
    configuration.date_updated = utcnow()
    session.add(configuration)
    await session.commit()
    return render(call, configuration)


@router.delete("/{sid}", status_code=204, responses=error_responses(404))
async def delete_address_configuration(session: SessionDep, sid: str) -> Response:
    """Its conversations stay (with their history); the address auto-creates no more."""
    await session.delete(await load(session, sid))
    await session.commit()
    return Response(status_code=204)
