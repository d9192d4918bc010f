"""The API's side of Conversations' pre-event and post-event webhooks (the rule itself is
``switchboard.conversation_events``): every surface that writes in a conversation calls here
before it acts (``before_message``, ``before_action``) and after (``announce``), so a pre-event
webhook refuses or changes the action everywhere alike and nothing refused is half-stored.

A message's post-event (``onMessageAdded``) is queued by the channel workflow as it stores the
message (``InboundMessage.event_source``), so it is posted even if this API process dies right
after; other post-events (``onConversationAdded``, ``onParticipantAdded``) are handed to the
channel workflow as a signal once the action is done."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from api.channels import config_for_row
from api.deps import AppContext
from api.twilio_shape import TwilioError
from switchboard import conversation_events
from switchboard.conversation_events import HookRefused
from switchboard.outbound_http import OutboundClient
from switchboard.store.contacts import identity_hash
from switchboard.store.models import Channel, Member
from switchboard.store.models.base import utcnow
from workflows.messages import ConversationEvent, InboundMessage

# A refused action is forbidden by the webhook: HTTP 403 naming the webhook and its answer.
HOOK_REFUSED = 20403


class ActionRefused(Exception):
    """A pre-event webhook refused the action; each surface shows it its own way (a Twilio error,
    an error frame, an inbound message dropped)."""

    def __init__(self, refused: HookRefused) -> None:
        super().__init__(str(refused))
        self.status = 403
        self.code = HOOK_REFUSED
        self.message = str(refused)


async def before_action(
    context: AppContext,
    service_sid: str,
    channel: Channel | None,
    event_type: str,
    kind: str,
    form: dict[str, str],
) -> dict[str, str]:
    """Asks the pre-event webhooks of ``event_type``; answers the changes they make (names of
    ``conversation_events.CHANGEABLE[kind]``), raises ``ActionRefused``."""
    async with context.db.session() as session:
        hooks = await conversation_events.targets(session, service_sid, channel, event_type)
    if not hooks:
        return {}
    base = conversation_events.common_form(
        context.settings.account_sid,
        service_sid,
        channel.sid if channel else form.get("ConversationSid"),
        event_type,
        form.pop("Source", "API"),
        form.get("Author") or form.get("Identity"),
    )
    async with OutboundClient.from_setting(context.settings.outbound_allowed_networks) as outbound:
        try:
            return await conversation_events.pre_event(
                outbound, context.settings.auth_token, hooks, event_type, kind, {**base, **form, "RetryCount": "0"}
            )
        except HookRefused as exc:
            raise ActionRefused(exc) from exc


async def wants_post_event(context: AppContext, service_sid: str, channel: Channel | None, event_type: str) -> bool:
    async with context.db.session() as session:
        return bool(await conversation_events.targets(session, service_sid, channel, event_type))


async def participant_sid(context: AppContext, channel_sid: str, identity: str) -> str | None:
    async with context.db.session() as session:
        found = await session.exec(
            select(Member.sid).where(
                Member.channel_sid == channel_sid, Member.identity_hash == identity_hash(context.hasher, identity)
            )
        )
        return found.first()


async def before_message(
    context: AppContext,
    service_sid: str,
    channel_sid: str,
    channel: Channel | None,
    message: InboundMessage,
    source: str,
) -> InboundMessage:
    """A message about to be posted: ``onMessageAdd`` may refuse it (``ActionRefused``) or change
    its body, author or attributes; ``event_source`` is set when a post-event target wants its
    ``onMessageAdded``. A message that fires no webhooks (a REST post without
    ``X-Twilio-Webhook-Enabled: true``, a flow's) passes untouched."""
    if not message.runs_integration:
        return message
    async with context.db.session() as session:
        configs = await conversation_events.configurations(session, service_sid)
    pre = conversation_events.targets_among(configs, channel, "onMessageAdd")
    post = conversation_events.targets_among(configs, channel, "onMessageAdded")
    if pre:
        form = conversation_events.message_fields(
            message.body,
            message.author,
            message.attributes,
            await participant_sid(context, channel_sid, message.author),
        )
        form.update(ConversationSid=channel_sid, Source=source)
        changes = await before_action(context, service_sid, channel, "onMessageAdd", "Message", form)
        if changes:
            message = replace(
                message,
                body=changes.get("body", message.body),
                author=changes.get("author", message.author),
                attributes=changes.get("attributes", message.attributes),
            )
    if post:
        message = replace(message, event_source=source)
    return message


async def announce(context: AppContext, channel: Channel, event_type: str, fields: dict[str, str]) -> None:
    """Hands a REST action's post-event to the channel's workflow, which posts it (when some
    target wants it)."""
    if not await wants_post_event(context, channel.service_sid, channel, event_type):
        return
    form = conversation_events.common_form(
        context.settings.account_sid, channel.service_sid, channel.sid, event_type, "API", None
    )
    form.update(fields)
    form.update(RetryCount="0")
    form.setdefault("DateCreated", conversation_events.twilio_date(utcnow()))
    async with context.db.session() as session:
        config = await config_for_row(context, session, channel)
    await context.channels.post_event(config, ConversationEvent(event_type, None, "API", form))


async def rest_pre_event(
    context: AppContext,
    service_sid: str,
    channel: Channel | None,
    event_type: str,
    kind: str,
    form: dict[str, str],
) -> dict[str, str]:
    """``before_action`` for a REST caller who sent ``X-Twilio-Webhook-Enabled: true``: a refusal
    is Twilio's error naming the webhook (HTTP 403)."""
    try:
        return await before_action(context, service_sid, channel, event_type, kind, {**form, "Source": "API"})
    except ActionRefused as exc:
        raise TwilioError(exc.status, exc.message, exc.code) from exc


def conversation_fields(context: AppContext, channel: Channel, state: str) -> dict[str, str]:
    """A conversation's fields as its post-events carry them."""
    cipher = context.cipher
    return {
        "FriendlyName": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name") or "",
        "UniqueName": channel.unique_name or "",
        "Attributes": cipher.decrypt(channel.attributes_enc, "channel.attributes"),
        "State": state,
        "DateCreated": conversation_events.twilio_date(channel.date_created),
    }


def participant_fields(context: AppContext, member: Member) -> dict[str, str]:
    """A participant's fields as its post-events carry them."""
    cipher = context.cipher
    return {
        "ParticipantSid": member.sid,
        "Identity": cipher.decrypt(member.identity_enc, "member.identity"),
        "Attributes": cipher.decrypt(member.attributes_enc, "member.attributes"),
        "RoleSid": member.role_sid or "",
        "DateCreated": conversation_events.twilio_date(member.date_created),
    }
