"""Conversations v1 delivery receipts as ``api.routes.conversation_receipts`` answers them (Twilio's
``conversation_message_receipt``): one per message sent to an SMS or WhatsApp participant."""

from __future__ import annotations

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class DeliveryReceipt(Resource):
    account_sid: str
    conversation_sid: str
    sid: str
    message_sid: str
    # The provider's message SID (Twilio's SM...); null until the provider took it.
    channel_message_sid: str | None
    participant_sid: str
    # read, failed, delivered, undelivered, sent; null while the provider has not answered (queued).
    status: str | None
    error_code: int
    date_created: str
    date_updated: str
    url: str


class DeliveryReceiptPage(Resource):
    delivery_receipts: list[DeliveryReceipt]
    meta: PageMeta
