"""Twilio Messaging webhooks (SMS and WhatsApp through Twilio): inbound messages (signature check,
form parsing, a conversation participant's binding of the pair or else Flex Flow matching, delivery
to that channel before answering) and status callbacks of the messages Switchboard sent (queued,
sent, delivered, read, failed, undelivered), to a contact's channel or to a conversation's bound
participant (its delivery receipt)."""

# Twilio signs no timestamp, so there is no replay window: a replayed request is stored once all
# the same, since its MessageSid is the message's key.

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from sqlmodel import select
from twilio.request_validator import RequestValidator

from api.channels import flow_serving
from api.conversation_bindings import bound_conversation, receipt_status, receive_bound_message
from api.conversations import receive_customer_message
from api.deps import AppContext, ContextDep, SessionDep
from api.twilio_shape import TwilioError, check_message_body, invalid
from switchboard.observability import WEBHOOK_REJECTED
from switchboard.store.deliveries import record_status
from switchboard.store.models import MessageDelivery
from workflows import sids
from workflows.messages import InboundMessage, MediaRef

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
WHATSAPP_PREFIX = "whatsapp:"
MAX_MEDIA = 10
MESSAGE_STATUSES = frozenset(
    {"accepted", "queued", "sending", "sent", "delivered", "read", "failed", "undelivered", "canceled"}
)


# A "+" posted unencoded in a form (``curl -d From=+1555...``) arrives as a space.
LOST_PLUS = re.compile(r"(whatsapp:)? ([0-9]+)")


def address_param(params: dict[str, str], name: str) -> str:
    """``From`` or ``To``: an E.164 number whose "+" a form encoding turned into a space gets it
    back (`` 15551230000`` is ``+15551230000``, also after ``whatsapp:``); any other address with
    surrounding whitespace is refused, since replies to it would go nowhere."""
    value = params[name]
    lost = LOST_PLUS.fullmatch(value)
    if lost is not None:
        restored = f"{lost.group(1) or ''}+{lost.group(2)}"
        log.info("%s arrived with a space for its '+' (a form-encoding slip): taken as E.164", name)
        return restored
    if value != value.strip():
        raise invalid(name, "must not start or end with whitespace (URL-encode a '+' as %2B)")
    return value


@dataclass(frozen=True)
class TwilioInbound:
    channel_type: str
    to: str
    from_: str
    message: InboundMessage


def parse_inbound(params: dict[str, str]) -> TwilioInbound:
    """Twilio's inbound message parameters; raises a 400 naming the parameter at fault."""
    for name in ("From", "To"):
        if not params.get(name):
            raise invalid(name, "is required")
    message_sid = params.get("MessageSid") or params.get("SmsMessageSid")
    if not message_sid:
        raise invalid("MessageSid", "is required")
    try:
        num_media = int(params.get("NumMedia", "0"))
    except ValueError as exc:
        raise invalid("NumMedia", f"must be an integer, not {params['NumMedia']!r}") from exc
    if not 0 <= num_media <= MAX_MEDIA:
        raise invalid("NumMedia", f"must be between 0 and {MAX_MEDIA}")
    media = []
    for i in range(num_media):
        url = params.get(f"MediaUrl{i}")
        if not url:
            raise invalid(f"MediaUrl{i}", f"is required when NumMedia is {num_media}")
        media.append(MediaRef(params.get(f"MediaContentType{i}", "application/octet-stream"), url))
    body = params.get("Body", "")
    check_message_body(body)
    if not body and not media:
        raise invalid("Body", "is empty and the message carries no media")
    to, from_ = address_param(params, "To"), address_param(params, "From")
    whatsapp = to.startswith(WHATSAPP_PREFIX)
    if whatsapp != from_.startswith(WHATSAPP_PREFIX):
        raise invalid("From", "and To must both be whatsapp: addresses or neither")
    extra = {k: params[k] for k in ("ProfileName", "WaId") if params.get(k)}
    return TwilioInbound(
        channel_type="whatsapp" if whatsapp else "sms",
        to=to,
        from_=from_,
        message=InboundMessage(
            key=f"twilio:{message_sid}",
            author=from_,
            body=body or None,
            attributes=json.dumps(extra),
            media=media,
        ),
    )


async def signed_params(request: Request, context: AppContext) -> dict[str, str]:
    """The form Twilio posted, once its ``X-Twilio-Signature`` checks out (403 otherwise)."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = str(request.url)
    if context.settings.public_url:
        url = context.settings.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(context.settings.twilio_auth_token).validate(url, params, signature):
        WEBHOOK_REJECTED.labels("twilio", "signature").inc()
        raise TwilioError(403, f"X-Twilio-Signature does not match this request to {url}", 20403)
    return params


@router.post("/messaging")
async def twilio_messaging(request: Request, context: ContextDep, session: SessionDep) -> Response:
    params = await signed_params(request, context)
    try:
        inbound = parse_inbound(params)
    except TwilioError:
        WEBHOOK_REJECTED.labels("twilio", "malformed").inc()
        raise
    # A conversation participant bound to this address and number has it first (its Flex Flow
    # has the customer again once that conversation is closed or the participant removed).
    bound = await bound_conversation(context, session, inbound.from_, inbound.to)
    if bound is not None:
        await receive_bound_message(context, session, bound, inbound.message)
        return Response(EMPTY_TWIML, media_type="text/xml")
    flow = await flow_serving(context, session, inbound.channel_type, inbound.to)
    if flow is None:
        WEBHOOK_REJECTED.labels("twilio", "unmatched").inc()
        log.warning(
            "no enabled %s Flex Flow serves %s; message %s refused",
            inbound.channel_type,
            inbound.to,
            inbound.message.key,
        )
        raise TwilioError(404, f"no enabled {inbound.channel_type} Flex Flow has contact identity {inbound.to}")
    await receive_customer_message(context, session, flow, inbound.from_, inbound.message)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status")
@router.post("/status/{message_sid}")
async def twilio_status(request: Request, context: ContextDep, message_sid: str | None = None) -> Response:
    """A status callback of a message Switchboard sent: the message moves forward (never back) and
    the channel's agents see it. The callback URL names the message, so a callback that overtakes
    the provider's answer to the send (a slow answer, a retried send) still finds it; callbacks
    of messages sent before that was so name only the provider's SID. Unknown messages are
    acknowledged (Twilio would only retry)."""
    params = await signed_params(request, context)
    provider_sid, status = params.get("MessageSid"), params.get("MessageStatus")
    if not provider_sid:
        raise invalid("MessageSid", "is required")
    if status not in MESSAGE_STATUSES:
        raise invalid("MessageStatus", f"must be one of {', '.join(sorted(MESSAGE_STATUSES))}")
    code = params.get("ErrorCode")
    async with context.db.write_session() as session:
        if message_sid is not None and sids.is_sid(message_sid, sids.DELIVERY_RECEIPT):
            error_code = int(code) if code and code.isascii() and code.isdigit() else None
            error_message = params.get("ErrorMessage") or None
            if not await receipt_status(session, message_sid, provider_sid, status, error_code, error_message):
                log.warning("status %s for unknown receipt %s (%s)", status, message_sid, provider_sid)
            await session.commit()
            return Response(status_code=204)
        if message_sid is not None:
            delivery = await session.get(MessageDelivery, message_sid)
        else:
            query = select(MessageDelivery).where(MessageDelivery.provider_sid == provider_sid)
            delivery = (await session.exec(query)).first()
        if delivery is None or delivery.provider_sid not in (None, provider_sid):
            log.warning("status %s for unknown message %s (%s)", status, provider_sid, message_sid)
            return Response(status_code=204)
        await record_status(
            session,
            context.cipher,
            delivery,
            status,
            provider_sid=provider_sid,
            error_code=int(code) if code and code.isascii() and code.isdigit() else None,
            error_message=params.get("ErrorMessage") or None,
        )
        await session.commit()
    return Response(status_code=204)
