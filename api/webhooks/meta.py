"""Meta webhooks: WhatsApp Cloud API and Messenger. ``GET`` answers Meta's subscription handshake
(``hub.mode``/``hub.verify_token``/``hub.challenge``); ``POST`` checks ``X-Hub-Signature-256``
against the app secret, then delivers every message of the batch to its contact's channel (the
message id is the key, so Meta's retries and duplicates are stored once) and records delivery
statuses of the messages Switchboard sent. It answers 200 only once every message is durable.

Addresses: a WhatsApp Cloud API Flex Flow's ``ContactIdentity`` is ``whatsapp:<phone number id>``
and its customers are ``whatsapp:<wa_id>``; a Messenger (``facebook``) Flex Flow's is
``messenger:<page id>`` and its customers are ``messenger:<PSID>``."""

# Meta signs no timestamp, so there is no replay window: a replayed batch stores nothing new, since
# each message id is its message's key (statuses only ever move forward).

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlmodel import select

from api.channels import flow_serving
from api.conversations import receive_customer_message
from api.deps import ContextDep, SessionDep
from api.twilio_shape import TwilioError, invalid, message_body_problem
from switchboard.observability import WEBHOOK_REJECTED
from switchboard.store.deliveries import record_status
from switchboard.store.models import MessageDelivery
from workflows.messages import InboundMessage, MediaRef

router = APIRouter(prefix="/webhooks/meta", tags=["webhooks"])
log = logging.getLogger(__name__)

WHATSAPP = "whatsapp"
MESSENGER = "facebook"
# WhatsApp status names as Twilio's MessageStatus.
WHATSAPP_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


@dataclass(frozen=True)
class MetaInbound:
    channel_type: str
    to: str
    from_: str
    message: InboundMessage


@dataclass(frozen=True)
class MetaStatus:
    provider_sid: str
    status: str
    error_code: int | None = None
    error_message: str | None = None


@router.get("")
async def verify_subscription(
    context: ContextDep,
    mode: str = Query("", alias="hub.mode"),
    token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> Response:
    expected = context.settings.meta_verify_token
    if mode != "subscribe" or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise TwilioError(403, "hub.verify_token does not match SWITCHBOARD_META_VERIFY_TOKEN", 20403)
    return PlainTextResponse(challenge)


@router.post("")
async def meta_events(request: Request, context: ContextDep, session: SessionDep) -> Response:
    raw = await request.body()
    secret = context.settings.meta_app_secret.encode()
    expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(
        request.headers.get("X-Hub-Signature-256", "").encode(), expected.encode()
    ):
        WEBHOOK_REJECTED.labels("meta", "signature").inc()
        raise TwilioError(403, "X-Hub-Signature-256 does not match this body under the app secret", 20403)
    try:
        payload = json.loads(raw)
        inbound, statuses = parse_events(payload)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        WEBHOOK_REJECTED.labels("meta", "malformed").inc()
        raise invalid("body", f"is not a Meta webhook payload: {exc}") from exc
    for item in inbound:
        if (problem := message_body_problem(item.message.body)) is not None:
            # Refusing the batch would make Meta retry it for days: this one message is dropped.
            WEBHOOK_REJECTED.labels("meta", "malformed").inc()
            log.warning("message %s dropped: %s", item.message.key, problem)
            continue
        flow = await flow_serving(context, session, item.channel_type, item.to)
        if flow is None:
            # Meta retries whatever is not answered 200: a number nobody serves is logged instead.
            WEBHOOK_REJECTED.labels("meta", "unmatched").inc()
            log.warning(
                "no enabled %s Flex Flow serves %s; message %s dropped", item.channel_type, item.to, item.message.key
            )
            continue
        await receive_customer_message(context, session, flow, item.from_, item.message)
    await session.commit()
    if statuses:
        await record_statuses(context, statuses)
    return Response(status_code=200)


async def record_statuses(context: ContextDep, statuses: list[MetaStatus]) -> None:
    async with context.db.write_session() as session:
        for status in statuses:
            query = select(MessageDelivery).where(MessageDelivery.provider_sid == status.provider_sid)
            delivery = (await session.exec(query)).first()
            if delivery is not None:
                await record_status(
                    session,
                    context.cipher,
                    delivery,
                    status.status,
                    error_code=status.error_code,
                    error_message=status.error_message,
                )
        await session.commit()


# --- parsing ------------------------------------------------------------------------------------


def parse_events(payload: dict[str, Any]) -> tuple[list[MetaInbound], list[MetaStatus]]:
    kind = payload["object"]
    if kind == "whatsapp_business_account":
        return parse_whatsapp(payload)
    if kind == "page":
        return parse_messenger(payload)
    raise ValueError(f"object {kind!r} is neither whatsapp_business_account nor page")


def parse_whatsapp(payload: dict[str, Any]) -> tuple[list[MetaInbound], list[MetaStatus]]:
    inbound: list[MetaInbound] = []
    statuses: list[MetaStatus] = []
    for entry in payload["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            to = f"whatsapp:{value['metadata']['phone_number_id']}"
            names = {c["wa_id"]: c.get("profile", {}).get("name") for c in value.get("contacts", [])}
            for message in value.get("messages", []):
                body, media, extra = whatsapp_content(message)
                sender = message["from"]
                attributes = {"WaId": sender, **extra}
                if names.get(sender):
                    attributes["ProfileName"] = names[sender]
                inbound.append(
                    MetaInbound(
                        WHATSAPP,
                        to,
                        f"whatsapp:{sender}",
                        InboundMessage(
                            key=f"meta:{message['id']}",
                            author=f"whatsapp:{sender}",
                            body=body,
                            attributes=json.dumps(attributes),
                            media=media,
                        ),
                    )
                )
            for status in value.get("statuses", []):
                errors = status.get("errors") or [{}]
                code = errors[0].get("code")
                statuses.append(
                    MetaStatus(
                        status["id"],
                        WHATSAPP_STATUSES.get(status["status"], status["status"]),
                        code if isinstance(code, int) else None,
                        errors[0].get("title") or errors[0].get("message"),
                    )
                )
    return inbound, statuses


def whatsapp_content(message: dict[str, Any]) -> tuple[str | None, list[MediaRef], dict[str, Any]]:
    """Body, media and extra attributes of one WhatsApp message (text, media, location)."""
    kind = message["type"]
    if kind == "text":
        return message["text"]["body"], [], {}
    if kind in ("image", "video", "audio", "document", "sticker"):
        item = message[kind]
        media = MediaRef(item.get("mime_type", "application/octet-stream"), f"meta-media:{item['id']}")
        return item.get("caption"), [media], {}
    if kind == "location":
        place = message["location"]
        text = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
        where = {"Latitude": place["latitude"], "Longitude": place["longitude"]}
        return text or f"{place['latitude']},{place['longitude']}", [], where
    return f"[{kind} message]", [], {"MessageType": kind}


def parse_messenger(payload: dict[str, Any]) -> tuple[list[MetaInbound], list[MetaStatus]]:
    inbound: list[MetaInbound] = []
    statuses: list[MetaStatus] = []
    for entry in payload["entry"]:
        for event in entry.get("messaging", []):
            statuses.extend(MetaStatus(mid, "delivered") for mid in (event.get("delivery") or {}).get("mids", []))
            message = event.get("message")
            if not message or message.get("is_echo"):
                continue  # deliveries, reads and our own messages echoed back
            media = [
                MediaRef(f"{a.get('type', 'file')}/*", a["payload"]["url"])
                for a in message.get("attachments", [])
                if isinstance(a.get("payload"), dict) and a["payload"].get("url")
            ]
            sender = f"messenger:{event['sender']['id']}"
            body = message.get("text")
            inbound.append(
                MetaInbound(
                    MESSENGER,
                    f"messenger:{event['recipient']['id']}",
                    sender,
                    InboundMessage(
                        key=f"meta:{message['mid']}",
                        author=sender,
                        body=body if body or media else "[unsupported message]",
                        media=media,
                    ),
                )
            )
    return inbound, statuses
