"""Conversations' SMS and WhatsApp participants (``MessagingBinding.Address`` and
``ProxyAddress``): the rules in one place for every surface that adds one, routes a customer's
message by one, or shows one.

- A binding's address is an E.164 number (``sms``) or ``whatsapp:`` and an E.164 number
  (``whatsapp``); its proxy address is of the same type and one of the deployment's own numbers:
  the ``ContactIdentity`` of one of its Flex Flows of that channel type (the operator configures
  its numbers there). Group MMS (``ProjectedAddress``) and other channels are refused by name.
- An address and proxy pair is held by one live (active or inactive) conversation: a second
  binding of the pair, in any conversation, is Twilio's 409 50416; so is a customer whose Flex
  Flow conversation on that number is live.
- A customer's inbound message from a bound pair goes to the binding's conversation, before any
  Flex Flow of the number is asked (the binding wins); once that conversation is closed or
  deleted, or the participant removed, the number's Flex Flow has the customer again.
- The conversation's messages go to each bound participant from its proxy address, through the
  provider (``activities.delivery``), with a delivery receipt each.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError

from api.channels import config_for_row, update_failure
from api.deps import AppContext
from api.twilio_shape import SERVICE_UNAVAILABLE, TwilioError, invalid
from switchboard.observability import CHANNEL_SID
from switchboard.store.bindings import binding_of, channel_bindings, holds_bindings, live_binding, record_receipt
from switchboard.store.contacts import address_hash
from switchboard.store.models import Channel, Contact, DeliveryReceipt, FlexFlow, Member
from workflows.messages import InboundMessage, MemberSpec, MessagingBinding
from workflows.starter import ChannelClient

log = logging.getLogger(__name__)

# Twilio's codes: an invalid address, an invalid proxy address, an empty proxy address, address
# and proxy of different types, the pair already in use.
INVALID_ADDRESS = 50407
INVALID_PROXY = 50408
EMPTY_PROXY = 50412
TYPE_MISMATCH = 50414
BINDING_TAKEN = 50416
PARTICIPANT_EXISTS = 50433
ADDRESS = "MessagingBinding.Address"
PROXY = "MessagingBinding.ProxyAddress"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WHATSAPP = "whatsapp:"


def binding_type(address: str) -> str | None:
    """``sms`` for an E.164 number, ``whatsapp`` for ``whatsapp:`` and one; None otherwise."""
    if E164.match(address):
        return "sms"
    if address.startswith(WHATSAPP) and E164.match(address.removeprefix(WHATSAPP)):
        return "whatsapp"
    return None


def taken(channel_sid: str) -> TwilioError:
    return TwilioError(
        409,
        f"A binding for this participant and proxy address already exists in Conversation {channel_sid}",
        BINDING_TAKEN,
    )


async def requested_binding(
    context: AppContext,
    session: AsyncSession,
    *,
    identity: str | None,
    address: str | None,
    proxy_address: str | None,
    projected_address: str | None,
) -> MessagingBinding | None:
    """The binding a participant create asks for (None: a chat participant), checked: its
    address and proxy, the proxy being the deployment's, and the pair free."""
    if projected_address is not None:
        raise invalid("MessagingBinding.ProjectedAddress", "group MMS (a projected address) is not supported")
    if address is None and proxy_address is None:
        return None
    if identity:
        raise invalid("Identity", f"a participant has an Identity (chat) or a {ADDRESS} (SMS, WhatsApp), not both")
    if not address:
        raise TwilioError(400, f"Invalid parameter {ADDRESS}: is required with {PROXY}", INVALID_ADDRESS)
    kind = binding_type(address)
    if kind is None:
        raise TwilioError(
            400,
            f"Invalid parameter {ADDRESS}: {address!r} is neither an E.164 number (SMS) nor whatsapp: and one",
            INVALID_ADDRESS,
        )
    if not proxy_address:
        raise TwilioError(400, f"Invalid parameter {PROXY}: must not be empty", EMPTY_PROXY)
    proxy_kind = binding_type(proxy_address)
    if proxy_kind is None:
        raise TwilioError(
            400,
            f"Invalid parameter {PROXY}: {proxy_address!r} is neither an E.164 number nor whatsapp: and one",
            INVALID_PROXY,
        )
    if proxy_kind != kind:
        raise TwilioError(
            400,
            f"Invalid parameter {ADDRESS}: a {kind} address does not match {PROXY}, a {proxy_kind} address",
            TYPE_MISMATCH,
        )
    flows = await number_flows(session, kind, proxy_address)
    if not flows:
        raise TwilioError(
            400,
            f"Invalid parameter {PROXY}: {proxy_address} is not one of this deployment's {kind} numbers "
            f"(the ContactIdentity of a {kind} Flex Flow)",
            INVALID_PROXY,
        )
    binding = MessagingBinding(kind, address, proxy_address)
    await check_free(context, session, binding, flows)
    return binding


async def number_flows(session: AsyncSession, channel_type: str, number: str) -> list[FlexFlow]:
    """The Flex Flows whose contact identity is ``number`` on ``channel_type`` (enabled or not)."""
    query = select(FlexFlow).where(FlexFlow.contact_identity == number, FlexFlow.channel_type == channel_type)
    return list((await session.exec(query)).all())


async def check_free(
    context: AppContext, session: AsyncSession, binding: MessagingBinding, flows: list[FlexFlow]
) -> None:
    """409 when a live conversation holds the pair: a binding, or the number's Flex Flow
    conversation with the customer (the store enforces the first again when it binds)."""
    held = await live_binding(session, context.hasher, binding.address, binding.proxy_address)
    if held is not None:
        raise taken(held.channel_sid)
    hashed = address_hash(context.hasher, binding.address)
    for flow in flows:
        contact = await session.get(Contact, (flow.sid, hashed))
        if contact is not None and holds_bindings(await session.get(Channel, contact.current_channel_sid)):
            raise taken(contact.current_channel_sid)


def binding_refusal(exc: WorkflowUpdateFailedError) -> TwilioError | None:
    """The channel's refusal of a participant whose pair another conversation took meanwhile."""
    cause: BaseException | None = exc.cause
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == "BindingTaken":
            details = cause.details
            return taken(str(details[0]) if details else "another conversation")
        cause = cause.cause if isinstance(cause, FailureError) else None
    return None


async def join_bound(
    context: AppContext, session: AsyncSession, channels: ChannelClient, channel: Channel, spec: MemberSpec
) -> Member:
    """Adds the SMS or WhatsApp participant ``spec`` through the channel's workflow (its member
    and its binding stored together): 409 when its pair, or its address, is in use meanwhile."""
    assert spec.binding is not None
    try:
        view = await channels.add_member(await config_for_row(context, session, channel), spec)
    except WorkflowUpdateFailedError as exc:
        raise binding_refusal(exc) or update_failure(exc) from exc
    if view.existing or not view.bound:
        # The address is a participant already (through another proxy address, or as an identity).
        raise TwilioError(409, f"Participant {spec.identity} already exists in {channel.sid}", PARTICIPANT_EXISTS)
    await session.commit()  # end the read transaction: the row was written by the workflow
    member = await session.get(Member, view.sid)
    assert member is not None
    return member


def render_binding(binding: MessagingBinding) -> dict[str, Any]:
    return {"type": binding.type, "address": binding.address, "proxy_address": binding.proxy_address}


async def participant_bindings(
    context: AppContext, session: AsyncSession, channel_sid: str
) -> dict[str, dict[str, Any]]:
    """Each bound participant's ``messaging_binding``, by participant SID."""
    rows = await channel_bindings(session, channel_sid)
    return {row.participant_sid: render_binding(binding_of(context.cipher, row)) for row in rows}


# --- inbound ----------------------------------------------------------------------------------


async def bound_conversation(context: AppContext, session: AsyncSession, address: str, to: str) -> Channel | None:
    """The live conversation a customer's message from ``address`` to the number ``to`` belongs
    to by a participant's binding, if any."""
    held = await live_binding(session, context.hasher, address, to)
    return None if held is None else await session.get(Channel, held.channel_sid)


async def receive_bound_message(
    context: AppContext, session: AsyncSession, channel: Channel, message: InboundMessage
) -> None:
    """The customer's message, into the bound conversation (an inactive one becomes active). Not
    durable is a 503, so the provider retries (the message key keeps the retry idempotent)."""
    CHANNEL_SID.set(channel.sid)
    config = await config_for_row(context, session, channel)
    try:
        await context.channels.deliver(config, message)
    except RPCError as exc:
        log.error("message %s not accepted by Temporal: %s", message.key, exc)
        raise TwilioError(503, "the message could not be stored; retry", SERVICE_UNAVAILABLE) from exc


# --- status callbacks -------------------------------------------------------------------------


async def receipt_status(
    session: AsyncSession,
    receipt_sid: str,
    provider_sid: str,
    status: str,
    error_code: int | None,
    error_message: str | None,
) -> bool:
    """A provider's status callback for a message sent to a bound participant (the callback URL
    names its receipt); the caller commits. Answers whether the receipt is known."""
    receipt = await session.get(DeliveryReceipt, receipt_sid)
    if receipt is None or receipt.provider_sid not in (None, provider_sid):
        return False
    record_receipt(receipt, status, provider_sid=provider_sid, error_code=error_code, error_message=error_message)
    session.add(receipt)
    return True
