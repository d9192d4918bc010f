"""Delivery of agents' and flows' messages to the customer's provider: Twilio's Messages API for
SMS and WhatsApp through Twilio. Provider base URL and credentials are settings, so tests point
them at a local fake provider.

A message is sent once: a provider SID already recorded ends a retried attempt at once, and the
request carries ``I-Twilio-Idempotency-Token`` (the message SID) for the window between the
provider's answer and our record of it. 429 and 5xx answers are retried by the activity's retry
policy; any other 4xx is final and recorded on the message with the provider's error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store import finish_even_if_cancelled
from store.crypto import Cipher
from store.db import Database
from store.deliveries import record_status
from store.models import Message, MessageDelivery
from workflows.messages import DeliveryFailure, OutboundDelivery

USER_AGENT = "Switchboard"
TWILIO = "twilio"
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

    def messages_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


@dataclass
class DeliveryActivities:
    db: Database
    cipher: Cipher
    twilio: TwilioAccount
    client: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, timeout=15)
    )

    def all(self) -> list[Any]:
        return [self.deliver_message, self.record_delivery_failure]

    async def _delivery(self, delivery: OutboundDelivery) -> MessageDelivery:
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
        """Send one message through Twilio's Messages API; answers its status."""
        if not self.twilio.account_sid:
            # A deployment without a provider account (development): messages stay in Switchboard.
            activity.logger.info("no SWITCHBOARD_TWILIO_ACCOUNT_SID: message %s not sent", delivery.message_sid)
            return NOT_SENT
        row = await self._delivery(delivery)
        if row.provider_sid is not None or row.status in ("failed", "undelivered"):
            return row.status  # an earlier attempt got the provider's answer
        async with self.db.session() as session:
            message = await session.get(Message, delivery.message_sid)
        if message is None:
            raise ApplicationError(f"message {delivery.message_sid} is not stored", non_retryable=True)
        form: dict[str, Any] = {
            "From": delivery.from_,
            "To": delivery.to,
            "StatusCallback": self.twilio.status_callback,
        }
        body = self.cipher.decrypt_optional(message.body_enc, "message.body")
        if body:
            form["Body"] = body
        try:
            response = await self.client.post(
                self.twilio.messages_url(),
                data=form,
                auth=(self.twilio.account_sid, self.twilio.auth_token),
                headers={"I-Twilio-Idempotency-Token": delivery.message_sid},
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(f"the provider did not answer: {exc.__class__.__name__}: {exc}") from exc
        answer = provider_answer(response)
        if response.status_code == 429 or response.status_code >= 500:
            # Not taken: the retry policy sends it again (with the same idempotency token).
            raise ApplicationError(f"the provider answered {response.status_code}: {answer.get('message', '')}")
        if response.is_success and isinstance(answer.get("sid"), str):
            status = str(answer.get("status") or "queued")
            await self._record(delivery.message_sid, status, provider_sid=answer["sid"])
            return status
        code = answer.get("code")
        await self._record(
            delivery.message_sid,
            "failed",
            error_code=code if isinstance(code, int) else None,
            error_message=str(answer.get("message") or f"the provider answered {response.status_code}"),
        )
        return "failed"

    @activity.defn(name="record_delivery_failure")
    @finish_even_if_cancelled
    async def record_delivery_failure(self, failure: DeliveryFailure) -> None:
        """Retries ran out: the message stays undelivered, and the agents see why."""
        await self._delivery(failure.delivery)
        await self._record(failure.delivery.message_sid, "failed", error_message=failure.error)


def provider_answer(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {"message": response.text[:500]}
    return answer if isinstance(answer, dict) else {}
