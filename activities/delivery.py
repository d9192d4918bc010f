"""Delivery of agents' and flows' messages to the customer's provider: Twilio's Messages API for
SMS and WhatsApp through Twilio, Meta's Graph API for the WhatsApp Cloud API (a flow address
``whatsapp:<phone number id>``) and Messenger. Provider base URLs and credentials are settings, so
tests point them at a local fake provider.

A conversation's message goes the same way to each of its SMS and WhatsApp participants
(Conversations' messaging bindings), from the participant's proxy address, with a delivery receipt
(``DY``) per participant in place of the message's own delivery row.

A message is sent once: a provider SID already recorded ends a retried attempt at once, and the
request carries ``I-Twilio-Idempotency-Token`` (the message SID) for the window between the
provider's answer and our record of it. 429 and 5xx answers are retried by the activity's retry
policy; any other 4xx is final and recorded on the message with the provider's error."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store import finish_even_if_cancelled
from switchboard.observability import DELIVERY_SECONDS, MESSAGES_OUT
from switchboard.store.bindings import binding_of, channel_bindings, record_receipt
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.deliveries import FINAL_FAILURES, record_status
from switchboard.store.media_links import signed_media_url
from switchboard.store.models import DeliveryReceipt, Message, MessageDelivery
from workflows.messages import BindingDelivery, BindingFailure, DeliveryFailure, OutboundDelivery
from workflows.sids import receipt_sid

USER_AGENT = "Switchboard"
TWILIO = "twilio"
META = "meta"
# A WhatsApp Cloud API number is addressed by its phone number id (digits); Twilio's by E.164.
WHATSAPP_CLOUD_ADDRESS = re.compile(r"^whatsapp:\d+$")
# Where Twilio reports a message's progress (``api/webhooks/twilio_messaging.py``).
TWILIO_STATUS_PATH = "/webhooks/twilio/status"
NOT_SENT = "not_sent"


@dataclass
class TwilioAccount:
    """Where outbound messages go: ``api_url`` (Twilio's, or a fake provider's), the account
    and its auth token, and the status callback URL Twilio reports to."""

    api_url: str
    account_sid: str
    auth_token: str
    status_callback: str
    # Where providers fetch uploaded media from, and the key that signs those links.
    base_url: str = ""
    media_key: str = ""

    def messages_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


@dataclass
class MetaAccount:
    graph_url: str
    access_token: str


@dataclass
class ProviderAnswer:
    """What one send attempt came to: the provider's message id (taken), or a final refusal."""

    provider_sid: str | None
    status: str
    error_code: int | None = None
    error_message: str | None = None


def provider_for(delivery: OutboundDelivery) -> str:
    if delivery.channel_type == "facebook":
        return META
    if delivery.channel_type == "whatsapp" and WHATSAPP_CLOUD_ADDRESS.match(delivery.from_):
        return META
    return TWILIO


@dataclass
class DeliveryActivities:
    db: Database
    cipher: Cipher
    twilio: TwilioAccount
    meta: MetaAccount
    timeout_seconds: float = 15.0
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, timeout=self.timeout_seconds)

    def all(self) -> list[Any]:
        return [
            self.deliver_message,
            self.record_delivery_failure,
            self.deliver_to_bindings,
            self.record_binding_failure,
        ]

    async def _delivery(self, delivery: OutboundDelivery, provider: str) -> MessageDelivery:
        async with self.db.write_session() as session:
            row = await session.get(MessageDelivery, delivery.message_sid)
            if row is None:
                row = MessageDelivery(
                    message_sid=delivery.message_sid,
                    channel_sid=delivery.channel_sid,
                    provider=TWILIO,
                    status="pending",
                )
                session.add(row)
                await session.commit()
                await session.refresh(row)
            return row

    async def _record(self, message_sid: str, status: str, **fields: Any) -> None:
        async with self.db.write_session() as session:
            row = await session.get(MessageDelivery, message_sid)
            assert row is not None
            await record_status(session, self.cipher, row, status, **fields)
            await session.commit()

    @activity.defn(name="deliver_message")
    async def deliver_message(self, delivery: OutboundDelivery) -> str:
        """Send one message through its provider; answers its status."""
        provider = provider_for(delivery)
        configured = self.twilio.account_sid if provider == TWILIO else self.meta.access_token
        if not configured:
            # A deployment without a provider account (development): messages stay in Switchboard.
            activity.logger.info("no %s account configured: message %s not sent", provider, delivery.message_sid)
            return NOT_SENT
        row = await self._delivery(delivery, provider)
        if row.provider_sid is not None or row.status in ("failed", "undelivered"):
            return row.status  # an earlier attempt got the provider's answer
        async with self.db.session() as session:
            message = await session.get(Message, delivery.message_sid)
        if message is None:
            raise ApplicationError(f"message {delivery.message_sid} is not stored", non_retryable=True)
        answer = await self._send(delivery, provider, message)
        await self._record(
            delivery.message_sid,
            answer.status,
            provider_sid=answer.provider_sid,
            error_code=answer.error_code,
            error_message=answer.error_message,
        )
        return answer.status

    async def _send(self, delivery: OutboundDelivery, provider: str, message: Message) -> ProviderAnswer:
        """One send attempt of ``message`` as ``delivery`` says (to, from, the SID naming it)."""
        body = self.cipher.decrypt_optional(message.body_enc, "message.body") or ""
        attributes = json.loads(self.cipher.decrypt(message.attributes_enc, "message.attributes") or "{}")
        template = attributes.get("template") if isinstance(attributes, dict) else None
        started = time.perf_counter()
        try:
            if provider == TWILIO:
                answer = await self._send_twilio(
                    delivery, body, template, [url for url, _ in self._media_links(message)]
                )
            else:
                answer = await self._send_meta(delivery, body, template, self._media_links(message))
        except httpx.HTTPError as exc:
            raise ApplicationError(f"the provider did not answer: {exc.__class__.__name__}: {exc}") from exc
        finally:
            DELIVERY_SECONDS.labels(provider).observe(time.perf_counter() - started)
        MESSAGES_OUT.labels(delivery.channel_type, provider, answer.status).inc()
        return answer

    @activity.defn(name="deliver_to_bindings")
    async def deliver_to_bindings(self, delivery: BindingDelivery) -> None:
        """Send a conversation's message to each of its SMS and WhatsApp participants still bound
        (not its own author), from the participant's proxy address: each once, whatever the
        retries (a receipt with the provider's SID is done; the receipt SID is the idempotency
        token). A participant the provider could not be reached for makes the activity retry,
        after the others were sent."""
        async with self.db.session() as session:
            message = await session.get(Message, delivery.message_sid)
            rows = await channel_bindings(session, delivery.channel_sid)
        if message is None:
            return  # deleted before it went out
        author = self.cipher.decrypt(message.author_enc, "message.author")
        retry: ApplicationError | None = None
        for row in rows:
            binding = binding_of(self.cipher, row)
            if binding.address == author:
                continue
            send = OutboundDelivery(
                receipt_sid(message.sid, row.participant_sid),
                delivery.channel_sid,
                binding.type,
                binding.address,
                binding.proxy_address,
            )
            provider = provider_for(send)
            if not (self.twilio.account_sid if provider == TWILIO else self.meta.access_token):
                activity.logger.info("no %s account configured: message %s not sent", provider, message.sid)
                continue
            receipt = await self._receipt(send, message.sid, row.participant_sid)
            if receipt.provider_sid is not None or receipt.status in FINAL_FAILURES:
                continue  # an earlier attempt got the provider's answer
            try:
                answer = await self._send(send, provider, message)
            except ApplicationError as exc:
                retry = exc
                continue
            await self._record_receipt(
                send.message_sid,
                answer.status,
                provider_sid=answer.provider_sid,
                error_code=answer.error_code,
                error_message=answer.error_message,
            )
        if retry is not None:
            raise retry

    async def _receipt(self, send: OutboundDelivery, message_sid: str, participant_sid: str) -> DeliveryReceipt:
        async with self.db.write_session() as session:
            receipt = await session.get(DeliveryReceipt, send.message_sid)
            if receipt is None:
                receipt = DeliveryReceipt(
                    sid=send.message_sid,
                    message_sid=message_sid,
                    channel_sid=send.channel_sid,
                    participant_sid=participant_sid,
                )
                session.add(receipt)
                await session.commit()
                await session.refresh(receipt)
            return receipt

    async def _record_receipt(self, sid: str, status: str, **fields: Any) -> None:
        async with self.db.write_session() as session:
            receipt = await session.get(DeliveryReceipt, sid)
            assert receipt is not None
            record_receipt(receipt, status, **fields)
            session.add(receipt)
            await session.commit()

    @activity.defn(name="record_binding_failure")
    @finish_even_if_cancelled
    async def record_binding_failure(self, failure: BindingFailure) -> None:
        """Retries ran out: the receipts the provider never took show failed, with why."""
        async with self.db.write_session() as session:
            query = select(DeliveryReceipt).where(DeliveryReceipt.message_sid == failure.delivery.message_sid)
            for receipt in (await session.exec(query)).all():
                if receipt.provider_sid is None and record_receipt(receipt, "failed", error_message=failure.error):
                    session.add(receipt)
            await session.commit()

    def _media_links(self, message: Message) -> list[tuple[str, str]]:
        """(link, content type) the provider fetches: signed links to uploaded media, provider
        URLs as they are."""
        stored = self.cipher.decrypt_optional(message.media_enc, "message.media")
        links = []
        for media in json.loads(stored) if stored else []:
            if media.get("sid"):
                url = signed_media_url(self.twilio.base_url, self.twilio.media_key, media["sid"])
                links.append((url, str(media.get("content_type", ""))))
            elif str(media.get("url", "")).startswith(("https://", "http://")):
                links.append((media["url"], str(media.get("content_type", ""))))
        return links

    async def _send_twilio(
        self, delivery: OutboundDelivery, body: str, template: dict[str, Any] | None, media: list[str]
    ) -> ProviderAnswer:
        form: dict[str, Any] = {
            "From": delivery.from_,
            "To": delivery.to,
            "StatusCallback": f"{self.twilio.status_callback}/{delivery.message_sid}",
        }
        if template is not None:
            # Twilio names an approved WhatsApp template by its Content SID; variables are numbered.
            form["ContentSid"] = template["name"]
            form["ContentVariables"] = json.dumps({str(n): v for n, v in enumerate(template["variables"], 1)})
        elif body:
            form["Body"] = body
        if template is None and media:
            form["MediaUrl"] = media
        response = await self.client.post(
            self.twilio.messages_url(),
            data=form,
            auth=(self.twilio.account_sid, self.twilio.auth_token),
            headers={"I-Twilio-Idempotency-Token": delivery.message_sid},
        )
        answer = provider_answer(response)
        raise_if_retryable(response, answer)
        if response.is_success and isinstance(answer.get("sid"), str):
            return ProviderAnswer(answer["sid"], str(answer.get("status") or "queued"))
        code = answer.get("code")
        return ProviderAnswer(None, "failed", code if isinstance(code, int) else None, str(answer.get("message") or ""))

    async def _send_meta(
        self, delivery: OutboundDelivery, body: str, template: dict[str, Any] | None, media: list[tuple[str, str]]
    ) -> ProviderAnswer:
        """One Graph API message: text, a template, or (WhatsApp) the first attachment with the
        text as its caption, (Messenger) the first attachment when there is no text."""
        sender, recipient = delivery.from_.split(":", 1)[1], delivery.to.split(":", 1)[1]
        if delivery.channel_type == "facebook":
            content: dict[str, Any] = {"text": body}
            if media and not body:
                link, content_type = media[0]
                kind = "image" if content_type.startswith("image/") else "file"
                content = {"attachment": {"type": kind, "payload": {"url": link, "is_reusable": False}}}
            payload: dict[str, Any] = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": content}
        else:
            payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient}
            if template is not None:
                parameters = [{"type": "text", "text": v} for v in template["variables"]]
                payload["type"] = "template"
                payload["template"] = {
                    "name": template["name"],
                    "language": {"code": template["language"]},
                    "components": [{"type": "body", "parameters": parameters}] if parameters else [],
                }
            elif media:
                link, content_type = media[0]
                kind = "image" if content_type.startswith("image/") else "document"
                payload["type"] = kind
                payload[kind] = {"link": link, **({"caption": body} if body else {})}
            else:
                payload["type"] = "text"
                payload["text"] = {"body": body}
        response = await self.client.post(
            f"{self.meta.graph_url.rstrip('/')}/{sender}/messages",
            json=payload,
            headers={"Authorization": f"Bearer {self.meta.access_token}"},
        )
        answer = provider_answer(response)
        raise_if_retryable(response, answer)
        if response.is_success:
            messages = answer.get("messages") or [{}]
            sid = answer.get("message_id") or messages[0].get("id")
            if isinstance(sid, str):
                # Messenger has no later status for a sent message but its delivery event.
                return ProviderAnswer(sid, "sent" if delivery.channel_type == "facebook" else "queued")
        error = provider_error(answer)
        code = error.get("code")
        return ProviderAnswer(None, "failed", code if isinstance(code, int) else None, str(error.get("message") or ""))

    @activity.defn(name="record_delivery_failure")
    @finish_even_if_cancelled
    async def record_delivery_failure(self, failure: DeliveryFailure) -> None:
        """Retries ran out: the message stays undelivered, and the agents see why."""
        await self._delivery(failure.delivery, provider_for(failure.delivery))
        await self._record(failure.delivery.message_sid, "failed", error_message=failure.error)


def raise_if_retryable(response: httpx.Response, answer: dict[str, Any]) -> None:
    """429 and 5xx: not taken; the retry policy sends it again (Twilio: same idempotency token)."""
    if response.status_code == 429 or response.status_code >= 500:
        error = provider_error(answer)
        raise ApplicationError(f"the provider answered {response.status_code}: {error.get('message', '')}")


def provider_error(answer: dict[str, Any]) -> dict[str, Any]:
    """Meta nests its error (``{"error": {...}}``); Twilio's answer is the error."""
    nested = answer.get("error")
    return nested if isinstance(nested, dict) else answer


def provider_answer(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {"message": response.text[:500]}
    return answer if isinstance(answer, dict) else {}
