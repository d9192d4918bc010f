"""Conversations' pre-event and post-event webhooks: the one home of the rule every surface follows
(REST Conversations and Chat v2 with ``X-Twilio-Webhook-Enabled: true``, the agent and customer
sockets, inbound provider messages; the channel workflow's post-event activity).

- **Which actions fire.** As at Twilio: an SDK action (here the agent's and the web customer's
  sockets), an inbound SMS / WhatsApp / Messenger message, and a REST action only with
  ``X-Twilio-Webhook-Enabled: true``. A Studio flow's own messages fire nothing.
- **To whom.** A pre-event (``onMessageAdd``, ...) goes to the ``PreWebhookUrl`` of the account's
  configuration (``/v1/Configuration/Webhooks``) and then of the conversation's service
  (``/v1/Services/{IS}/Configuration/Webhooks``), each whose ``Filters`` name the event. A
  post-event (``onMessageAdded``, ...) goes to their ``PostWebhookUrl`` likewise, and to each of
  the conversation's own ``webhook`` targets whose ``Configuration.Filters`` name it (with
  ``WebhookSid`` and ``WebhookType=webhook``).
- **Refusing and modifying.** A pre-event target answering outside 2xx refuses the action
  (``HookRefused``; nothing is stored). A 2xx answer whose body is a JSON object changes the
  action's fields it names (a message's ``body``, ``author``, ``attributes``; a conversation's
  ``friendly_name``, ``unique_name``, ``attributes``; a participant's ``attributes``, ``role_sid``).
  A target that does not answer within ``PRE_EVENT_TIMEOUT_SECONDS`` (Twilio's 5 s), cannot be
  reached, or whose address the outbound policy refuses lets the action go on unmodified, as
  Twilio publishes an action whose pre-event webhook timed out.

Every request is signed with ``X-Twilio-Signature`` (the account's auth token, as Twilio signs)
and goes through the guarded outbound client."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.request_validator import RequestValidator

from switchboard.outbound_http import OutboundClient, OutboundResponse
from switchboard.store.models import Channel, ConversationHookConfig
from switchboard.store.models.conversation_hooks import ACCOUNT_SCOPE

log = logging.getLogger(__name__)

PRE_EVENTS = (
    "onMessageAdd",
    "onMessageUpdate",
    "onMessageRemove",
    "onConversationAdd",
    "onConversationUpdate",
    "onConversationRemove",
    "onParticipantAdd",
    "onParticipantUpdate",
    "onParticipantRemove",
    "onUserUpdate",
)
POST_EVENTS = (
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
    "onUserAdded",
    "onUserUpdated",
)
FILTERS = frozenset(PRE_EVENTS + POST_EVENTS)
# What Switchboard fires; the other filters are kept and shown, and fire nothing yet.
FIRED = frozenset(
    {
        "onMessageAdd",
        "onMessageAdded",
        "onConversationAdd",
        "onConversationAdded",
        "onParticipantAdd",
        "onParticipantAdded",
    }
)
# What a pre-event answer may change, by the action's kind (Twilio's names in its JSON).
CHANGEABLE = {
    "Message": ("body", "author", "attributes"),
    "Conversation": ("friendly_name", "unique_name", "attributes"),
    "Participant": ("attributes", "role_sid"),
}
PRE_EVENT_TIMEOUT_SECONDS = 5.0
POST_EVENT_TIMEOUT_SECONDS = 10.0
# The largest pre-event answer read (its JSON changes).
MAX_ANSWER_BYTES = 64 * 1024
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


class HookRefused(Exception):
    """A pre-event webhook refused the action: ``url`` answered ``status``."""

    def __init__(self, event_type: str, url: str, status: int) -> None:
        super().__init__(
            f"the {event_type} pre-event webhook {url} refused the action (HTTP {status}): nothing was done"
        )
        self.event_type = event_type
        self.url = url
        self.status = status


@dataclass(frozen=True)
class HookTarget:
    url: str
    method: str
    # A conversation-scoped webhook's SID (None: the account's or the service's configuration).
    webhook_sid: str | None = None


def twilio_date(moment: datetime) -> str:
    """Twilio's webhook dates: ISO 8601 in UTC with milliseconds."""
    return moment.strftime(DATE_FORMAT)[:-3] + "Z"


def source_of_channel_type(channel_type: str) -> str:
    """The ``Source`` of a customer's inbound message on a provider channel."""
    return channel_type.upper()


async def configurations(session: AsyncSession, service_sid: str) -> list[ConversationHookConfig]:
    """The account's configuration, then the service's (those that exist)."""
    rows = (
        await session.exec(
            select(ConversationHookConfig).where(col(ConversationHookConfig.scope).in_([ACCOUNT_SCOPE, service_sid]))
        )
    ).all()
    return sorted(rows, key=lambda row: row.scope != ACCOUNT_SCOPE)


def filters_of(config: ConversationHookConfig) -> list[str]:
    filters: list[str] = json.loads(config.filters_json)
    return filters


def scoped_webhooks(channel: Channel | None) -> list[dict[str, Any]]:
    """The conversation's own webhooks as stored (Chat v2's channel webhooks, one list)."""
    if channel is None or channel.webhooks_json is None:
        return []
    hooks: list[dict[str, Any]] = json.loads(channel.webhooks_json)
    return hooks


async def targets(
    session: AsyncSession, service_sid: str, channel: Channel | None, event_type: str
) -> list[HookTarget]:
    """Where ``event_type`` goes for a conversation of ``service_sid`` (``channel``: its row, when
    it exists): pre-events to the configurations' pre-event URLs, post-events to their post-event
    URLs and to the conversation's ``webhook`` targets filtering for it."""
    return targets_among(await configurations(session, service_sid), channel, event_type)


def targets_among(configs: list[ConversationHookConfig], channel: Channel | None, event_type: str) -> list[HookTarget]:
    """``targets`` for configurations already read (one read serves several events)."""
    pre = event_type in PRE_EVENTS
    found: list[HookTarget] = []
    for config in configs:
        url = config.pre_webhook_url if pre else config.post_webhook_url
        if url and event_type in filters_of(config):
            found.append(HookTarget(url, config.method))
    if not pre:
        for hook in scoped_webhooks(channel):
            if hook.get("type") == "webhook" and hook.get("url") and event_type in (hook.get("filters") or []):
                found.append(HookTarget(hook["url"], (hook.get("method") or "POST").upper(), hook["sid"]))
    return found


def common_form(
    account_sid: str, service_sid: str, conversation_sid: str | None, event_type: str, source: str, identity: str | None
) -> dict[str, str]:
    form = {"AccountSid": account_sid, "ChatServiceSid": service_sid, "EventType": event_type, "Source": source}
    if conversation_sid:
        form["ConversationSid"] = conversation_sid
    if source == "SDK" and identity:
        form["ClientIdentity"] = identity
    return form


def message_fields(body: str | None, author: str, attributes: str, participant_sid: str | None) -> dict[str, str]:
    fields = {"Body": body or "", "Author": author, "Attributes": attributes}
    if participant_sid:
        fields["ParticipantSid"] = participant_sid
    return fields


async def send(
    outbound: OutboundClient,
    auth_token: str,
    target: HookTarget,
    form: Mapping[str, str],
    *,
    timeout_seconds: float,
    max_bytes: int = 0,
) -> OutboundResponse:
    """One signed request: a POSTed form, or with ``GET`` the same parameters in the query string
    (signed over the whole URL, as Twilio signs a GET). Empty values are left out, as Twilio
    leaves out what is null."""
    signed = {name: value for name, value in form.items() if value != ""}
    if target.webhook_sid:
        signed.update(WebhookSid=target.webhook_sid, WebhookType="webhook")
    validator = RequestValidator(auth_token)
    url = target.url
    kwargs: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if target.method == "GET":
        url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(signed)}"
        headers["X-Twilio-Signature"] = validator.compute_signature(url, {})
    else:
        headers["X-Twilio-Signature"] = validator.compute_signature(url, signed)
        kwargs["data"] = signed
    return await outbound.request(
        target.method, url, headers=headers, timeout_seconds=timeout_seconds, max_bytes=max_bytes, **kwargs
    )


def changes_of(response: OutboundResponse, kind: str) -> dict[str, str]:
    """What a pre-event's 2xx answer changes: the fields of ``CHANGEABLE[kind]`` its JSON object
    names (keys as Twilio writes them, ``friendly_name``; PascalCase taken too). Anything else is
    no change."""
    try:
        answer = response.json() if response.content.strip() else {}
    except ValueError:
        return {}
    if not isinstance(answer, dict):
        return {}
    normal = {str(key).replace("_", "").lower(): value for key, value in answer.items()}
    changes: dict[str, str] = {}
    for name in CHANGEABLE[kind]:
        value = normal.get(name.replace("_", ""))
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if name == "attributes" and not is_json(text):
            log.warning("a pre-event answer's attributes are not JSON: left unchanged")
            continue
        changes[name] = text
    return changes


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


async def pre_event(
    outbound: OutboundClient,
    auth_token: str,
    hooks: Sequence[HookTarget],
    event_type: str,
    kind: str,
    form: dict[str, str],
) -> dict[str, str]:
    """Asks each pre-event target in turn (each sees the changes the ones before made); answers
    the changes to make, or raises ``HookRefused``."""
    changes: dict[str, str] = {}
    for target in hooks:
        try:
            response = await send(
                outbound,
                auth_token,
                target,
                form,
                timeout_seconds=PRE_EVENT_TIMEOUT_SECONDS,
                max_bytes=MAX_ANSWER_BYTES,
            )
        except httpx.HTTPError as exc:
            log.warning("%s pre-event webhook %s did not answer (%s): the action goes on", event_type, target.url, exc)
            continue
        if not response.is_success:
            raise HookRefused(event_type, target.url, response.status_code)
        made = changes_of(response, kind)
        changes.update(made)
        for name, value in made.items():
            form["".join(part.capitalize() for part in name.split("_"))] = value
    return changes


async def post_event(
    outbound: OutboundClient, auth_token: str, hooks: Sequence[HookTarget], form: Mapping[str, str]
) -> list[str]:
    """Posts a post-event to each target once; answers what failed (a refused address, no 2xx)."""
    failures: list[str] = []
    for target in hooks:
        try:
            response = await send(outbound, auth_token, target, form, timeout_seconds=POST_EVENT_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            failures.append(f"{target.url}: {exc.__class__.__name__}: {exc}")
            continue
        if not response.is_success:
            failures.append(f"{target.url} answered HTTP {response.status_code}")
    return failures
