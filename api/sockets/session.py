"""What the agent and customer sockets share: the token handshake, the feed pump (events in
sequence order, resumable), the command loop (frames read as they come, commands run in order,
results and errors as frames), and the channel operations both sides perform (send a message,
typing, read horizon, history). Conventions are documented in ``docs/agent-socket.md``.

What one client can make a socket hold is bounded: a frame weighs at most
``websocket_max_bytes`` (the server closes with 1009 before buffering more), and at most
``websocket_max_pending_commands`` frames wait, as received text, behind the command running; a
client that sends more is told so (an ``error`` frame, code 429) and closed with 1008 (policy
violation), however fast it sends and whether or not it reads its answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeGuard

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.conversations import ConversationRefused, Writer, message_channel, post_message
from api.deps import AppContext, refuse_revoked, verified_claims
from api.rate_limits import TOKEN
from api.tokens import TokenClaims
from api.twilio_shape import TwilioError, iso, message_body_problem
from switchboard.observability import CHANNEL_SID, SOCKET_CONNECTIONS, SOCKET_FLOODS
from switchboard.store.contacts import identity_hash
from switchboard.store.feed import add_for_channel, feed_data
from switchboard.store.media_links import viewer_media
from switchboard.store.models import (
    AgentFeedItem,
    CustomerFeedItem,
    Member,
    Message,
    MessageDelivery,
    utcnow,
)
from workflows.messages import InboundMessage

# A token may ride in the subprotocol list as ``access_token.<jwt>`` (browsers cannot set headers
# on a WebSocket), never in the URL, which ends up in logs.
TOKEN_PREFIX = "access_token."
AUTH_TIMEOUT_SECONDS = 10
FEED_BATCH = 200
HISTORY_LIMIT = 100
MAX_INDEX = 2**63 - 1
MAX_MEDIA_PER_MESSAGE = 10
# Close codes (4xxx: application codes, as the WebSocket spec reserves them).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
# How often at most an open socket asks the store whether its token was revoked (it asks when it
# next reads its feed after that: within the feed poll interval).
REVOCATION_CHECK_SECONDS = 1.0
CLOSE_POLICY_VIOLATION = 1008  # the WebSocket spec's: more pending commands than allowed

log = logging.getLogger(__name__)

FeedRow = AgentFeedItem | CustomerFeedItem
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CommandError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def offered_token(websocket: WebSocket) -> str | None:
    protocols: list[str] = websocket.scope.get("subprotocols") or []
    return next((p[len(TOKEN_PREFIX) :] for p in protocols if p.startswith(TOKEN_PREFIX)), None)


async def receive_frame(websocket: WebSocket) -> str | bytes:
    """The next message as it came (text, or bytes for a binary one); WebSocketDisconnect once the
    client is gone. Parsed later (``parse_frame``), by whoever answers it, in order."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text: str | None = message.get("text")
    return text if text is not None else message.get("bytes") or b""


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """A frame's JSON object; CommandError (400) for anything else."""
    if isinstance(raw, bytes):
        raise CommandError(400, "frames are JSON text, not binary messages")
    try:
        frame = json.loads(raw)
    except RecursionError:
        raise CommandError(400, "the frame is JSON nested too deeply") from None
    except ValueError as exc:
        raise CommandError(400, f"the frame is not JSON ({exc})") from None
    if not isinstance(frame, dict):
        raise CommandError(400, 'frames are JSON objects: {"type": "command", "id": ..., "command": ...}')
    return frame


def frame_id(raw: str | bytes) -> Any:
    """The ``id`` of a frame that is not going to be run, if it has one, to answer it by."""
    try:
        return parse_frame(raw).get("id")
    except CommandError:
        return None


async def first_frame_token(websocket: WebSocket) -> tuple[str, int | None]:
    """``{"type": "authenticate", "token": ..., "resume_after": n}`` within the time allowed."""
    frame = parse_frame(await asyncio.wait_for(receive_frame(websocket), AUTH_TIMEOUT_SECONDS))
    if frame.get("type") != "authenticate" or not isinstance(frame.get("token"), str):
        raise CommandError(400, 'the first frame must be {"type": "authenticate", "token": ...}')
    resume = frame.get("resume_after")
    return frame["token"], resume if isinstance(resume, int) else None


async def authenticate(websocket: WebSocket, protocol: str) -> tuple[TokenClaims, int | None] | None:
    """Accept the socket (with ``protocol`` when offered) and verify its token; answers the claims
    and where to resume, or None once the socket was closed with the reason."""
    context: AppContext = websocket.app.state.context
    protocols: list[str] = websocket.scope.get("subprotocols") or []
    token = offered_token(websocket)
    await websocket.accept(subprotocol=protocol if protocol in protocols else None)
    resume_after: int | None = None
    try:
        if token is None:
            token, resume_after = await first_frame_token(websocket)
        else:
            raw = websocket.query_params.get("resume_after")
            resume_after = int(raw) if raw and raw.isascii() and raw.isdigit() else None
        return await verified_claims(context, token), resume_after
    except TwilioError as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, f"{exc.code}: {exc.message}"[:120])
    except (CommandError, TimeoutError, ValueError) as exc:
        await websocket.close(CLOSE_BAD_REQUEST, str(exc)[:120] or "authenticate first")
    except WebSocketDisconnect:
        pass
    return None


def text_field(frame: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise CommandError(400, f"{frame.get('command')}: {name!r} must be a non-empty string")
    return value


class FeedSocket(ABC):
    """One connected client: sends its feed's events and runs its commands until it goes away."""

    def __init__(self, context: AppContext, websocket: WebSocket, claims: TokenClaims) -> None:
        self.context = context
        self.websocket = websocket
        self.claims = claims

    @abstractmethod
    def feed_query(self) -> SelectOfScalar[Any]:
        """This client's feed rows (the pump adds the sequence bounds and order)."""

    @property
    @abstractmethod
    def feed_model(self) -> type[FeedRow]: ...

    @abstractmethod
    def feed_key(self) -> str:
        """The key that wakes this client's pump (``store.fanout``)."""

    @abstractmethod
    async def ready(self, last: int) -> dict[str, Any]:
        """The ``ready`` frame: where the client stands."""

    @abstractmethod
    def handlers(self) -> dict[str, Handler]: ...

    async def shown(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data as this client sees it (the customer's socket names agents by their
        display names: ``api.agent_profiles``)."""
        return data

    @property
    def kind(self) -> str:
        """The metrics' label: ``agent`` or ``customer``."""
        return "customer" if self.claims.role == "customer" else "agent"

    async def run(self, resume_after: int | None) -> None:
        connections = SOCKET_CONNECTIONS.labels(self.kind)
        connections.inc()
        try:
            await self._serve(resume_after)
        finally:
            connections.dec()

    async def _serve(self, resume_after: int | None) -> None:
        last = resume_after if resume_after is not None else await self._latest_sequence()
        await self.websocket.send_json(await self.ready(last))
        pump = asyncio.create_task(self._pump(last))
        # Frames are read as they come (so the connection's pings are always answered) and
        # commands run one at a time, in order, however long one takes; those waiting are bounded.
        commands: asyncio.Queue[str | bytes] = asyncio.Queue(self.context.settings.websocket_max_pending_commands)
        runner = asyncio.create_task(self._run_commands(commands))
        try:
            while True:
                raw = await receive_frame(self.websocket)
                try:
                    commands.put_nowait(raw)
                except asyncio.QueueFull:
                    await self._flooded(raw, commands.maxsize)
                    return
        except WebSocketDisconnect:
            pass
        finally:
            for task in (pump, runner):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _latest_sequence(self) -> int:
        model = self.feed_model
        query = self.feed_query().with_only_columns(func.max(col(model.id)))
        async with self.context.db.session() as session:
            latest = await session.scalar(query)
        return int(latest or 0)

    async def _revoked(self) -> str | None:
        """The close reason once the socket's token was revoked (``api.deps.refuse_revoked``)."""
        try:
            await refuse_revoked(self.context, self.claims)
        except TwilioError as exc:
            return f"{exc.code}: {exc.message}"
        return None

    async def _pump(self, last: int) -> None:
        """Send new feed items in sequence order; close when the token expires or is revoked.
        Between reads it waits for a wake-up (``store.fanout``) or the poll interval, whichever
        comes first."""
        model = self.feed_model
        feeds = self.context.feeds
        next_revocation_check = utcnow() + timedelta(seconds=REVOCATION_CHECK_SECONDS)
        with feeds.watch(self.feed_key()) as woken:
            while True:
                now = utcnow()
                if now >= self.claims.expires_at:
                    await self.websocket.close(
                        CLOSE_UNAUTHORIZED, "20104: the access token expired; reconnect with a new one"
                    )
                    return
                if now >= next_revocation_check:
                    if (revoked := await self._revoked()) is not None:
                        await self.websocket.close(CLOSE_UNAUTHORIZED, revoked[:120])
                        return
                    next_revocation_check = now + timedelta(seconds=REVOCATION_CHECK_SECONDS)
                woken.clear()  # before the read: a wake-up during it means read again
                query = self.feed_query().where(col(model.id) > last).order_by(col(model.id)).limit(FEED_BATCH)
                async with self.context.db.session() as session:
                    items: Sequence[FeedRow] = (await session.exec(query)).all()
                for item in items:
                    assert item.id is not None
                    await self.websocket.send_json(
                        {
                            "type": "event",
                            "sequence": item.id,
                            "event": item.kind,
                            "channel_sid": item.channel_sid,
                            "date": iso(item.date_created),
                            "data": await self.shown(item.kind, feed_data(self.context.cipher, item)),
                        }
                    )
                    last = item.id
                if len(items) < FEED_BATCH:
                    until_expiry = (self.claims.expires_at - now).total_seconds()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), min(feeds.poll_seconds, until_expiry))

    async def _renew(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Carry on with a fresh token (from ``POST /v1/Tokens/Refresh``) for the same identity
        and grants, so the socket is not closed when the first one expires."""
        token = text_field(frame, "token")
        assert token is not None
        try:
            fresh = await verified_claims(self.context, token)
        except TwilioError as exc:
            raise CommandError(401, f"{exc.code}: {exc.message}") from exc
        if fresh.identity != self.claims.identity or fresh.grants != self.claims.grants:
            raise CommandError(403, "renew: the token is for another identity or grants")
        self.claims = fresh
        return {"token_expires_at": iso(fresh.expires_at)}

    async def _flooded(self, raw: str | bytes, pending: int) -> None:
        """More commands than may wait: say so and close, dropping what was waiting."""
        SOCKET_FLOODS.labels(self.kind).inc()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the client may be gone
            await self._error(
                frame_id(raw),
                429,
                f"Too Many Requests: at most {pending} pending commands may wait for the one running; "
                "read the answers before sending more. The socket is closed (1008)",
            )
            await self.websocket.close(CLOSE_POLICY_VIOLATION, f"more than {pending} pending commands")

    async def _run_commands(self, commands: asyncio.Queue[str | bytes]) -> None:
        handlers = {**self.handlers(), "renew": self._renew}
        while True:
            raw = await commands.get()
            command_id: Any = None
            name: Any = None
            try:
                frame = parse_frame(raw)
                command_id = frame.get("id")
                if frame.get("type") != "command":
                    raise CommandError(400, 'frames are {"type": "command", "id": ..., "command": ...}')
                name = frame.get("command")
                channel_sid = frame.get("channel_sid")
                CHANNEL_SID.set(channel_sid if isinstance(channel_sid, str) else None)
                refused = await self.context.rate_limits.hit(TOKEN, self.claims.jti)
                if refused is not None:
                    await self._error(command_id, 429, refused.error("this access token").message, refused.retry_after)
                    continue
                handler = handlers.get(str(name))
                if handler is None:
                    raise CommandError(400, f"unknown command {name!r}; known: {', '.join(handlers)}")
                result = await handler({**frame, "command": name})
                await self.websocket.send_json({"type": "result", "id": command_id, "command": name, "data": result})
            except CommandError as exc:
                await self._error(command_id, exc.code, exc.message)
            except TwilioError as exc:
                await self._error(command_id, exc.status, exc.message)
            except Exception:
                # The next commands still run: a runner that died would leave them waiting
                # until the bound closed the socket.
                log.exception("socket command %r failed", name)
                await self._error(command_id, 500, "unexpected error; the command may not have run")

    async def _error(self, command_id: Any, code: int, message: str, retry_after: int | None = None) -> None:
        frame = {"type": "error", "id": command_id, "code": code, "message": message}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self.websocket.send_json(frame)


# --- what both sides do on a channel ----------------------------------------------------------


def template_fields(frame: dict[str, Any]) -> dict[str, Any] | None:
    """``send_message``'s ``template``: an approved WhatsApp template by name, its language and
    its variables in order."""
    template = frame.get("template")
    if template is None:
        return None
    if not isinstance(template, dict) or not isinstance(template.get("name"), str) or not template["name"]:
        raise CommandError(400, "send_message: 'template' must be an object with a 'name'")
    variables = template.get("variables") or []
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise CommandError(400, "send_message: 'template.variables' must be a list of strings")
    language = template.get("language") or "en"
    if not isinstance(language, str):
        raise CommandError(400, "send_message: 'template.language' must be a language code")
    return {"name": template["name"], "language": language, "variables": variables}


async def send_to_channel(
    context: AppContext, channel_sid: str, key: str, writer: Writer, frame: dict[str, Any]
) -> dict[str, Any]:
    """Post ``frame``'s message (``body``, ``attributes``, ``media`` SIDs uploaded to this channel,
    or a WhatsApp ``template``) as ``writer``, under the conversation rules; ``key`` makes a resent
    command store it once."""
    body = frame.get("body")
    if body is not None and not isinstance(body, str):
        raise CommandError(400, "send_message: 'body' must be text")
    if (problem := message_body_problem(body)) is not None:
        raise CommandError(400, f"send_message: {problem}")
    attributes = frame.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise CommandError(400, "send_message: 'attributes' must be an object")
    media_sids = frame.get("media") or []
    if not isinstance(media_sids, list) or not all(isinstance(s, str) for s in media_sids):
        raise CommandError(400, "send_message: 'media' must be a list of media SIDs")
    if len(media_sids) > MAX_MEDIA_PER_MESSAGE:
        raise CommandError(400, f"send_message: at most {MAX_MEDIA_PER_MESSAGE} media per message")
    template = template_fields(frame)
    if template is not None:
        attributes = {**attributes, "template": template}
        body = f"[template {template['name']}] " + " · ".join(template["variables"])
    if not body and not media_sids:
        raise CommandError(400, "send_message: a message needs a 'body' or 'media'")
    try:
        channel, media = await message_channel(context, channel_sid, media_sids, template=template is not None)
        message = InboundMessage(
            key=key, author=writer.author, body=body or None, attributes=json.dumps(attributes), media=media
        )
        stored = await post_message(
            context, channel_sid, writer, message, template=template is not None, channel=channel
        )
    except ConversationRefused as exc:
        raise CommandError(exc.status, exc.message) from exc
    return {"channel_sid": channel_sid, "sid": stored.sid, "index": stored.index, "duplicate": stored.duplicate}


async def announce_typing(
    context: AppContext, channel_sid: str, identity: str, *, except_worker: str | None = None, to_customer: bool
) -> dict[str, Any]:
    async with context.db.write_session() as session:
        data = {"channel_sid": channel_sid, "identity": identity}
        await add_for_channel(
            session, context.cipher, channel_sid, "typing", data, except_worker=except_worker, to_customer=to_customer
        )
        await session.commit()
    return {"channel_sid": channel_sid}


async def mark_read(
    context: AppContext,
    channel_sid: str,
    identity: str,
    frame: dict[str, Any],
    *,
    except_worker: str | None = None,
    to_customer: bool,
) -> dict[str, Any]:
    """Move ``identity``'s read horizon on the channel forward to ``frame['index']`` and tell the
    others."""
    index = frame.get("index")
    if not is_message_index(index):
        raise CommandError(400, "mark_read: 'index' must be a message index")
    async with context.db.write_session() as session:
        member = (
            await session.exec(
                select(Member).where(
                    Member.channel_sid == channel_sid,
                    Member.identity_hash == identity_hash(context.hasher, identity),
                )
            )
        ).first()
        if member is None:
            raise CommandError(403, f"{identity} is not a member of channel {channel_sid}")
        horizon = max(index, member.last_consumed_message_index or -1)
        member.last_consumed_message_index = horizon
        member.last_consumption_timestamp = member.date_updated = utcnow()
        session.add(member)
        data = {"channel_sid": channel_sid, "identity": identity, "index": horizon}
        await add_for_channel(
            session, context.cipher, channel_sid, "read", data, except_worker=except_worker, to_customer=to_customer
        )
        await session.commit()
    return {"channel_sid": channel_sid, "last_consumed_message_index": horizon}


def is_message_index(value: Any) -> TypeGuard[int]:
    """A whole number the store's 64-bit index column can hold (a bigger one is no index, and the
    database would refuse it)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INDEX


def stored_message_data(context: AppContext, message: Message) -> dict[str, Any]:
    """A stored message as a ``message`` event shows it, with its date."""
    cipher = context.cipher
    media = cipher.decrypt_optional(message.media_enc, "message.media")
    return {
        "channel_sid": message.channel_sid,
        "sid": message.sid,
        "index": message.index,
        "from": cipher.decrypt(message.author_enc, "message.author"),
        "body": cipher.decrypt_optional(message.body_enc, "message.body"),
        "attributes": cipher.decrypt(message.attributes_enc, "message.attributes"),
        "media": viewer_media(message.sid, json.loads(media) if media else []),
        "key": message.message_key.rsplit(":", 1)[-1],
        "date_created": iso(message.date_created),
    }


async def channel_history(context: AppContext, channel_sid: str, frame: dict[str, Any]) -> dict[str, Any]:
    """A page of the channel's messages, oldest first, before ``frame['before_index']``."""
    before = frame.get("before_index")
    if before is not None and not is_message_index(before):
        raise CommandError(400, "history: 'before_index' must be a message index")
    limit = frame.get("limit", 50)
    if not isinstance(limit, int) or not 1 <= limit <= HISTORY_LIMIT:
        raise CommandError(400, f"history: 'limit' must be 1 to {HISTORY_LIMIT}")
    query = select(Message).where(Message.channel_sid == channel_sid)
    if before is not None:
        query = query.where(col(Message.index) < before)
    async with context.db.session() as session:
        rows = (await session.exec(query.order_by(col(Message.index).desc()).limit(limit))).all()
        sids = [m.sid for m in rows]
        deliveries = {
            d.message_sid: d
            for d in (
                await session.exec(select(MessageDelivery).where(col(MessageDelivery.message_sid).in_(sids)))
            ).all()
        }
    messages = []
    for row in reversed(rows):
        data = stored_message_data(context, row)
        delivery = deliveries.get(row.sid)
        if delivery is not None:
            # Where it stands with the provider (as the last message.status event said).
            data["delivery"] = {
                "status": delivery.status,
                "error_code": delivery.error_code,
                "error_message": delivery.error_message,
            }
        messages.append(data)
    return {"channel_sid": channel_sid, "messages": messages, "has_more": len(rows) == limit}


async def read_horizons(context: AppContext, channel_sid: str, except_identity: str) -> dict[str, int]:
    """The members' read horizons (identity -> last read index), but ``except_identity``'s."""
    async with context.db.session() as session:
        members = (await session.exec(select(Member).where(Member.channel_sid == channel_sid))).all()
    horizons: dict[str, int] = {}
    for member in members:
        identity = context.cipher.decrypt(member.identity_enc, "member.identity")
        if identity != except_identity and member.last_consumed_message_index is not None:
            horizons[identity] = member.last_consumed_message_index
    return horizons
