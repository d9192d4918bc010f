"""Twilio-style resource identifiers: a two-letter prefix and 32 hex digits."""

from __future__ import annotations

import re
import uuid

ACCOUNT = "AC"
SERVICE = "IS"
CHANNEL = "CH"
MEMBER = "MB"
MESSAGE = "IM"
# A message's delivery receipt for one SMS or WhatsApp participant (Conversations).
DELIVERY_RECEIPT = "DY"
WEBHOOK = "WH"
FLEX_FLOW = "FO"
# Conversations' address configurations.
ADDRESS_CONFIGURATION = "IG"
ROLE = "RL"
STUDIO_FLOW = "FW"
EXECUTION = "FN"
STEP = "FT"
# TaskRouter
WORKSPACE = "WS"
ACTIVITY = "WA"
TASK_CHANNEL = "TC"
TASK_QUEUE = "WQ"
WORKFLOW = "WW"
TASK = "WT"
WORKER = "WK"
WORKER_CHANNEL = "WC"
RESERVATION = "WR"
EVENT = "EV"
MEDIA = "ME"
API_KEY = "SK"
ERASURE = "ER"
AUDIT_EVENT = "AE"
# Switchboard's own: canned responses (Twilio has no such resource).
CANNED_RESPONSE = "CN"
# Flex v1 Interactions: the interaction, its channel, an invite, a participant.
INTERACTION = "KD"
INTERACTION_CHANNEL = "UO"
INTERACTION_INVITE = "KG"
INTERACTION_PARTICIPANT = "UT"

SID_PATTERN = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")


def sid_from_uuid(prefix: str, value: uuid.UUID) -> str:
    """Workflows pass ``workflow.uuid4()`` here so that replay produces the same SID."""
    return prefix + value.hex


def new_sid(prefix: str) -> str:
    return sid_from_uuid(prefix, uuid.uuid4())


def is_sid(value: str, prefix: str) -> bool:
    return value.startswith(prefix) and SID_PATTERN.match(value) is not None


# Namespace of the SIDs of Flex's own Studio webhooks, which exist before any caller stores them.
_FLOW_WEBHOOK_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4a8f-9d55-0b7c2e4a91d3")


def flow_webhook_sid(channel_sid: str) -> str:
    """The SID of the Studio webhook Flex gives a channel of a Studio integration: the same for
    the REST resource and the ``WebhookSid`` a flow's trigger carries."""
    return sid_from_uuid(WEBHOOK, uuid.uuid5(_FLOW_WEBHOOK_NAMESPACE, channel_sid))


_RECEIPT_NAMESPACE = uuid.UUID("2b8e0c6a-5d4f-4f0e-8a3b-7c91d2e6f410")


def receipt_sid(message_sid: str, participant_sid: str) -> str:
    """The delivery receipt of a message to one participant: the same SID for every attempt, so it
    is the provider's idempotency token and names the receipt in the status callback's URL."""
    return sid_from_uuid(DELIVERY_RECEIPT, uuid.uuid5(_RECEIPT_NAMESPACE, f"{message_sid}/{participant_sid}"))
