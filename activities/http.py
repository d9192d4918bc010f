"""HTTP activities: Studio's make-http-request and run-function calls, and the external
integration's webhook posts (signed like Twilio's). Their URLs are flow authors' and REST callers'
choice: they go out under the outbound policy (``outbound_http``), and a refusal is a failed step
or a recorded integration failure naming why.

An external integration's posts go in batches (``post_chat_webhooks``): one activity posts a run of
queued messages one after another, in order, so a busy channel costs one activity round trip per
batch rather than per message. The batch names messages by index and reads them from the store,
which keeps workflow histories and continue-as-new inputs small whatever the bodies weigh. Each
post is retried ``retry_count`` times (1 s, 2 s, 4 s) within the activity; what still fails is
recorded at ``IntegrationFailures`` and the batch goes on. Progress is heartbeated after every
post (a message's post to each of its targets: the integration, then the trigger webhooks it
fires), so an attempt retried after a lost worker starts after the last post it finished; every post
carries ``I-Twilio-Idempotency-Token`` (the message SID, the same on every try) for the one that was
in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.request_validator import RequestValidator

from activities.store import finish_even_if_cancelled
from switchboard import conversation_events
from switchboard.outbound_http import OutboundClient
from switchboard.store.contacts import identity_hash
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.models import Channel, IntegrationFailure, Member, Message
from workflows.messages import (
    MESSAGE_SOURCES,
    ChatWebhook,
    ChatWebhookPosts,
    ConversationEvent,
    ConversationEventPosts,
    PostedWebhooks,
    WebhookFailure,
)
from workflows.studio.definition import FUNCTION_URLS_SETTING, function_url
from workflows.studio.messages import HttpCall, HttpResult

# What a flow keeps of a response body (characters), and the largest body it reads to keep it.
MAX_BODY = 64 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
# An integration's answer to one post, and so the longest a batch goes without a heartbeat.
WEBHOOK_TIMEOUT_SECONDS = 10.0
# The wait before a post's first retry; each later retry waits twice as long.
WEBHOOK_FIRST_RETRY_SECONDS = 1.0
CHAT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class PostTarget:
    """Where one message of a batch is posted: the integration or a trigger webhook."""

    url: str
    method: str
    retry_count: int


@dataclass
class HttpActivities:
    db: Database
    # Signs integration webhooks (X-Twilio-Signature), as Twilio signs with the auth token.
    auth_token: str
    outbound: OutboundClient
    # Reads the messages an external integration is sent.
    cipher: Cipher
    # Twilio Function and Service SIDs to URLs, for run-function widgets of exported flows.
    function_urls: Mapping[str, str] = field(default_factory=dict)
    # Conversations post-events name the account and their message's participant.
    account_sid: str = ""
    hasher: KeyedHasher | None = None

    @activity.defn(name="http_call")
    async def http_call(self, call: HttpCall) -> HttpResult:
        """Never raises for an HTTP or network failure: the flow takes its failure transition."""
        url = call.url
        if call.function_sid or call.service_sid:
            properties = {"url": call.url, "function_sid": call.function_sid, "service_sid": call.service_sid}
            url = function_url(properties, self.function_urls)
            if not url:
                return HttpResult(
                    0, "", "", error=f"function {call.function_sid or '(none)'} has no URL in {FUNCTION_URLS_SETTING}"
                )
        kwargs: dict[str, Any] = {}
        if call.method == "GET":
            kwargs["params"] = call.form
        elif call.body is not None:
            kwargs["content"] = call.body.encode()
            kwargs["headers"] = {"Content-Type": call.content_type}
        else:
            kwargs["data"] = call.form
        try:
            response = await self.outbound.request(
                call.method, url, timeout_seconds=call.timeout_seconds, max_bytes=MAX_RESPONSE_BYTES, **kwargs
            )
        except httpx.HTTPError as exc:
            return HttpResult(0, "", "", error=f"{exc.__class__.__name__}: {exc}")
        body = response.text[:MAX_BODY]
        content_type = response.headers.get("content-type", "")
        parsed: Any = None
        if "json" in content_type:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        return HttpResult(response.status_code, content_type, body, parsed)

    @activity.defn(name="post_chat_webhook")
    async def post_chat_webhook(self, webhook: ChatWebhook) -> None:
        """One post, retried by the workflow's retry policy (runs that queued posts before batches
        existed). Raises for a refused URL too: retried as any failure (the retries are few), so
        the recorded failure counts its attempts."""
        error = await self._post(webhook.url, webhook.form, activity.info().attempt - 1)
        if error is not None:
            raise ApplicationError(error)

    @activity.defn(name="post_chat_webhooks")
    async def post_chat_webhooks(self, posts: ChatWebhookPosts) -> PostedWebhooks:
        """Posts the batch in order, each once the one before it was taken or recorded as failed;
        a message goes to the integration and then to each trigger webhook it fires. Heartbeat
        details (``Progress``): messages finished, of which failed, and how far the next one got."""
        progress = Progress.resumed(activity.info().heartbeat_details)
        remaining = posts.indexes[progress.done :]
        messages = await self._messages(posts.channel_sid, remaining)
        for index in remaining:
            message = messages.get(index)
            if message is None:
                # Retention deleted it while it waited: it is not sent after its time.
                error = f"message {index} of the channel is no longer stored"
                url = posts.url or (posts.triggers[0].url if posts.triggers else "")
                await self._record_failure(posts, url, "", 0, error)
                progress.missed = True
            else:
                form = self._chat_form(posts, message)
                if posts.conversations:
                    form = await self._conversation_form(posts, form)
                # Targets an earlier attempt finished (heartbeated) are not posted again.
                for target in self._targets(posts, form["Body"])[progress.targets :]:
                    attempts, error_ = await self._post_with_retries(target, form, progress)
                    if error_ is not None:
                        await self._record_failure(posts, target.url, message.sid, attempts, error_)
                        progress.missed = True
                    progress.targets += 1
                    activity.heartbeat(*progress.details())
            progress.next_message()
            activity.heartbeat(*progress.details())
        return PostedWebhooks(progress.done - progress.failed, progress.failed)

    def _targets(self, posts: ChatWebhookPosts, body: str) -> list[PostTarget]:
        """Where a message goes: the integration (``posts.url``, every message) and each trigger
        webhook whose keywords its body names, in the channel's order."""
        targets = [PostTarget(posts.url, posts.method, posts.retry_count)] if posts.url else []
        targets += [
            PostTarget(hook.url, hook.method, hook.retry_count) for hook in posts.triggers if hook.fires_on(body)
        ]
        return targets

    async def _messages(self, channel_sid: str, indexes: list[int]) -> dict[int, Message]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(Message).where(Message.channel_sid == channel_sid, col(Message.index).in_(indexes))
            )
            return {row.index: row for row in rows}

    def _chat_form(self, posts: ChatWebhookPosts, message: Message) -> dict[str, str]:
        """Programmable Chat's ``onMessageSent`` webhook of a stored message."""
        return {
            "EventType": "onMessageSent",
            "InstanceSid": posts.service_sid,
            "ChannelSid": posts.channel_sid,
            "MessageSid": message.sid,
            "Index": str(message.index),
            "Body": self.cipher.decrypt_optional(message.body_enc, "message.body") or "",
            "From": self.cipher.decrypt(message.author_enc, "message.author"),
            "Attributes": self.cipher.decrypt(message.attributes_enc, "message.attributes"),
            "DateCreated": message.date_created.strftime(CHAT_DATE_FORMAT),
            "Source": "SDK",
        }

    async def _conversation_form(self, posts: ChatWebhookPosts, chat: dict[str, str]) -> dict[str, str]:
        """Conversations' ``onMessageAdded`` webhook of the message Chat's form describes (an
        address configuration's webhook): the author's participant SID when they are one."""
        author = chat["From"]
        async with self.db.session() as session:
            members = await session.exec(select(Member).where(Member.channel_sid == posts.channel_sid))
            participant = next(
                (m.sid for m in members if self.cipher.decrypt(m.identity_enc, "member.identity") == author), ""
            )
            channel = await session.get(Channel, posts.channel_sid)
        form = {
            "EventType": "onMessageAdded",
            "ChatServiceSid": posts.service_sid,
            "ConversationSid": posts.channel_sid,
            "MessageSid": chat["MessageSid"],
            "Index": chat["Index"],
            "Body": chat["Body"],
            "Author": author,
            "ParticipantSid": participant,
            "Attributes": chat["Attributes"],
            "DateCreated": chat["DateCreated"],
            "Source": MESSAGE_SOURCES.get(channel.channel_type if channel else "", "SDK"),
        }
        return {name: value for name, value in form.items() if value != ""}

    async def _post_with_retries(
        self, target: PostTarget, form: dict[str, str], progress: Progress
    ) -> tuple[int, str | None]:
        """(attempts made, the last attempt's error or None once the target took it)."""
        error: str | None = None
        for attempt in range(target.retry_count + 1):
            if attempt:
                activity.heartbeat(*progress.details())
                await asyncio.sleep(WEBHOOK_FIRST_RETRY_SECONDS * 2 ** (attempt - 1))
            error = await self._post(target.url, form, attempt, target.method)
            if error is None:
                return attempt + 1, None
        return target.retry_count + 1, error

    async def _post(self, url: str, form: Mapping[str, str], retry_count: int, method: str = "POST") -> str | None:
        """One signed request (a POSTed form, or with ``GET`` the same parameters in the query
        string, signed over the whole URL as Twilio signs a GET); answers why it failed, or None
        once the target took it."""
        signed = {**form, "RetryCount": str(retry_count)}
        headers = {
            # The same on every try of this message: an integration drops a repeat it already took.
            "I-Twilio-Idempotency-Token": signed["MessageSid"],
        }
        validator = RequestValidator(self.auth_token)
        kwargs: dict[str, Any] = {}
        if method == "GET":
            url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(signed)}"
            headers["X-Twilio-Signature"] = validator.compute_signature(url, {})
        else:
            headers["X-Twilio-Signature"] = validator.compute_signature(url, signed)
            kwargs["data"] = signed
        try:
            response = await self.outbound.request(
                method, url, headers=headers, timeout_seconds=WEBHOOK_TIMEOUT_SECONDS, **kwargs
            )
        except httpx.HTTPError as exc:
            return f"{url}: {exc.__class__.__name__}: {exc}"
        return None if response.is_success else f"{url} answered HTTP {response.status_code}"

    async def _record_failure(
        self, posts: ChatWebhookPosts, url: str, message_sid: str, attempts: int, error: str
    ) -> None:
        """Once per message and URL: an attempt retried after recording it, before its
        heartbeat, finds the row."""
        async with self.db.write_session() as session:
            recorded = await session.exec(
                select(IntegrationFailure.id).where(
                    IntegrationFailure.channel_sid == posts.channel_sid,
                    IntegrationFailure.message_sid == message_sid,
                    IntegrationFailure.url == url,
                )
            )
            if message_sid and recorded.first() is not None:
                return
            session.add(
                IntegrationFailure(
                    flex_flow_sid=posts.flex_flow_sid,
                    channel_sid=posts.channel_sid,
                    message_sid=message_sid,
                    url=url,
                    attempts=attempts,
                    error=error[:1000],
                )
            )
            await session.commit()

    @activity.defn(name="record_webhook_failure")
    @finish_even_if_cancelled
    async def record_webhook_failure(self, failure: WebhookFailure) -> None:
        webhook = failure.webhook
        async with self.db.write_session() as session:
            session.add(
                IntegrationFailure(
                    flex_flow_sid=webhook.flex_flow_sid,
                    channel_sid=webhook.channel_sid,
                    message_sid=webhook.message_sid,
                    url=webhook.url,
                    attempts=failure.attempts,
                    error=failure.error[:1000],
                )
            )
            await session.commit()

    @activity.defn(name="post_conversation_events")
    async def post_conversation_events(self, posts: ConversationEventPosts) -> int:
        """Posts a channel's Conversations post-events in order, each to the targets it has now
        (``conversation_events.targets``), once; a target that fails is logged and the batch goes
        on. Heartbeats the events done, so a retried attempt starts after them. Answers the
        failures."""
        details = activity.info().heartbeat_details
        done = int(details[0]) if details else 0
        failed = 0
        for event in posts.events[done:]:
            async with self.db.session() as session:
                channel = await session.get(Channel, posts.channel_sid)
                hooks = await conversation_events.targets(session, posts.service_sid, channel, event.event_type)
                form = await self._event_form(session, posts, event) if hooks else None
            if hooks and form is not None:
                failures = await conversation_events.post_event(self.outbound, self.auth_token, hooks, form)
                for failure in failures:
                    activity.logger.warning("%s post-event: %s", event.event_type, failure)
                failed += len(failures)
            done += 1
            activity.heartbeat(done)
        return failed

    async def _event_form(
        self, session: Any, posts: ConversationEventPosts, event: ConversationEvent
    ) -> dict[str, str] | None:
        """The event's form: its own, or a stored message's ``onMessageAdded`` (None once the
        message is gone)."""
        if event.index is None:
            # The event's own form (a REST action's carries these already; the channel's state
            # changes do not).
            common = conversation_events.common_form(
                self.account_sid, posts.service_sid, posts.channel_sid, event.event_type, event.source, None
            )
            return {**common, **event.form}
        message = (
            await session.exec(
                select(Message).where(Message.channel_sid == posts.channel_sid, Message.index == event.index)
            )
        ).first()
        if message is None:
            return None
        author = self.cipher.decrypt(message.author_enc, "message.author")
        participant_sid: str | None = None
        if self.hasher is not None:
            member = (
                await session.exec(
                    select(Member.sid).where(
                        Member.channel_sid == posts.channel_sid,
                        Member.identity_hash == identity_hash(self.hasher, author),
                    )
                )
            ).first()
            participant_sid = member
        form = conversation_events.common_form(
            self.account_sid, posts.service_sid, posts.channel_sid, event.event_type, event.source, author
        )
        form.update(
            conversation_events.message_fields(
                self.cipher.decrypt_optional(message.body_enc, "message.body"),
                author,
                self.cipher.decrypt(message.attributes_enc, "message.attributes"),
                participant_sid,
            )
        )
        form.update(
            MessageSid=message.sid,
            Index=str(message.index),
            DateCreated=conversation_events.twilio_date(message.date_created),
            RetryCount="0",
        )
        return form

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.http_call,
            self.post_chat_webhook,
            self.post_chat_webhooks,
            self.record_webhook_failure,
            self.post_conversation_events,
        ]


@dataclass
class Progress:
    """How far a batch of posts got: messages finished (``done``), of which ``failed`` (a post
    recorded as failed), and of the next message the targets finished and whether one failed."""

    done: int = 0
    failed: int = 0
    targets: int = 0
    missed: bool = False

    @classmethod
    def resumed(cls, details: Sequence[Any]) -> Progress:
        """As an earlier attempt of the batch heartbeated it (older attempts sent two values)."""
        if len(details) < 2:
            return cls()
        if len(details) < 4:
            return cls(int(details[0]), int(details[1]))
        return cls(int(details[0]), int(details[1]), int(details[2]), bool(details[3]))

    def next_message(self) -> None:
        self.done += 1
        self.failed += self.missed
        self.targets, self.missed = 0, False

    def details(self) -> tuple[int, int, int, bool]:
        return self.done, self.failed, self.targets, self.missed
