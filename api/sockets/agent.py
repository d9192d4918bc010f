"""The agent WebSocket API (``/v1/agent/ws``): an agent's events in sequence order, and the
commands an agent desk sends. The protocol is documented in ``docs/agent-socket.md``.

Events come from the agent's feed in the store (``store.feed``): every routing event of the
worker and every message, typing and read change of the channels it works on, each with its
sequence (the feed row's id). A client that reconnects with the last sequence it saw gets exactly
what it missed. The socket polls the feed; it holds no conversation state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import func
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from api.channels import config_for_row
from api.deps import AppContext
from api.routes.taskrouter.routing_calls import routed
from api.tokens import TokenClaims, TokenError, verify_token
from api.twilio_shape import TwilioError, iso
from store.contacts import identity_hash, worker_identity
from store.feed import add_for_channel, feed_data
from store.models import (
    AgentFeedItem,
    Channel,
    ChannelAgent,
    Member,
    Message,
    Reservation,
    Task,
    Worker,
    WorkspaceActivity,
    utcnow,
)
from workflows import sids
from workflows.messages import InboundMessage
from workflows.routing.messages import ReservationChange, Transfer, WorkerActivityChange

router = APIRouter()

PROTOCOL = "switchboard.agent.v1"
# A token may ride in the subprotocol list as ``access_token.<jwt>`` (browsers cannot set headers
# on a WebSocket), never in the URL, which ends up in logs.
TOKEN_PREFIX = "access_token."
AUTH_TIMEOUT_SECONDS = 10
POLL_SECONDS = 0.2
FEED_BATCH = 200
HISTORY_LIMIT = 100
# Close codes (4xxx: application codes, as the WebSocket spec reserves them).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
# Reservation answers an agent may give, and the status each sets.
ANSWERS = {"accept": "accepted", "reject": "rejected", "wrapup": "wrapping", "complete": "completed"}


class CommandError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def offered_token(websocket: WebSocket) -> str | None:
    protocols: list[str] = websocket.scope.get("subprotocols") or []
    return next((p[len(TOKEN_PREFIX) :] for p in protocols if p.startswith(TOKEN_PREFIX)), None)


async def first_frame_token(websocket: WebSocket) -> tuple[str, int | None]:
    """``{"type": "authenticate", "token": ..., "resume_after": n}`` within the time allowed."""
    frame = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT_SECONDS)
    if not isinstance(frame, dict) or frame.get("type") != "authenticate" or not isinstance(frame.get("token"), str):
        raise CommandError(400, 'the first frame must be {"type": "authenticate", "token": ...}')
    resume = frame.get("resume_after")
    return frame["token"], resume if isinstance(resume, int) else None


@router.websocket("/v1/agent/ws")
async def agent_socket(websocket: WebSocket) -> None:
    context: AppContext = websocket.app.state.context
    protocols: list[str] = websocket.scope.get("subprotocols") or []
    token = offered_token(websocket)
    await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in protocols else None)
    resume_after: int | None = None
    try:
        if token is None:
            token, resume_after = await first_frame_token(websocket)
        else:
            raw = websocket.query_params.get("resume_after")
            resume_after = int(raw) if raw and raw.isdigit() else None
        claims = verify_token(context.settings, token)
    except TokenError as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, f"{exc.code}: {exc.message}"[:120])
        return
    except (CommandError, TimeoutError, ValueError) as exc:
        await websocket.close(CLOSE_BAD_REQUEST, str(exc)[:120] or "authenticate first")
        return
    except WebSocketDisconnect:
        return
    grants = claims.grants
    if grants.role not in ("agent", "supervisor", "admin") or not grants.worker_sid or not grants.workspace_sid:
        await websocket.close(CLOSE_FORBIDDEN, "the token grants no TaskRouter worker")
        return
    async with context.db.session() as session:
        worker = await session.get(Worker, grants.worker_sid)
    if worker is None or worker.workspace_sid != grants.workspace_sid:
        await websocket.close(CLOSE_FORBIDDEN, f"worker {grants.worker_sid} is not in workspace {grants.workspace_sid}")
        return
    attributes = json.loads(context.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
    agent = AgentSession(
        context, websocket, claims, worker.sid, worker.workspace_sid, worker_identity(worker.friendly_name, attributes)
    )
    await agent.run(resume_after)


@dataclass
class AgentSession:
    context: AppContext
    websocket: WebSocket
    claims: TokenClaims
    worker_sid: str
    workspace_sid: str
    identity: str

    async def run(self, resume_after: int | None) -> None:
        last = resume_after if resume_after is not None else await self._latest_sequence()
        await self.websocket.send_json(await self._ready(last))
        pump = asyncio.create_task(self._pump(last))
        # Frames are read as they come (so the connection's pings are always answered) and
        # commands run one at a time, in order, however long one takes.
        commands: asyncio.Queue[Any] = asyncio.Queue()
        runner = asyncio.create_task(self._run_commands(commands))
        try:
            while True:
                await commands.put(await self.websocket.receive_json())
        except WebSocketDisconnect:
            pass
        finally:
            for task in (pump, runner):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- events -----------------------------------------------------------------------------

    async def _latest_sequence(self) -> int:
        async with self.context.db.session() as session:
            latest = (
                await session.exec(
                    select(func.max(AgentFeedItem.id)).where(AgentFeedItem.worker_sid == self.worker_sid)
                )
            ).first()
        return int(latest or 0)

    async def _ready(self, last: int) -> dict[str, Any]:
        """Where the agent stands: its activity, open reservations and channels."""
        async with self.context.db.session() as session:
            worker = await session.get(Worker, self.worker_sid)
            assert worker is not None
            reservations = (
                await session.exec(
                    select(Reservation).where(
                        Reservation.worker_sid == self.worker_sid,
                        col(Reservation.reservation_status).in_(("pending", "accepted", "wrapping")),
                    )
                )
            ).all()
            channels = (
                await session.exec(select(ChannelAgent.channel_sid).where(ChannelAgent.worker_sid == self.worker_sid))
            ).all()
        return {
            "type": "ready",
            "sequence": last,
            "worker": {
                "sid": worker.sid,
                "identity": self.identity,
                "activity_sid": worker.activity_sid,
                "activity_name": worker.activity_name,
                "available": worker.available,
            },
            "reservations": [
                {"sid": r.sid, "task_sid": r.task_sid, "status": r.reservation_status} for r in reservations
            ],
            "channels": list(channels),
            "token_expires_at": iso(self.claims.expires_at),
        }

    async def _pump(self, last: int) -> None:
        """Send new feed items in sequence order; close when the token expires."""
        while True:
            if utcnow() >= self.claims.expires_at:
                await self.websocket.close(
                    CLOSE_UNAUTHORIZED, "20104: the access token expired; reconnect with a new one"
                )
                return
            async with self.context.db.session() as session:
                items = (
                    await session.exec(
                        select(AgentFeedItem)
                        .where(AgentFeedItem.worker_sid == self.worker_sid, col(AgentFeedItem.id) > last)
                        .order_by(col(AgentFeedItem.id))
                        .limit(FEED_BATCH)
                    )
                ).all()
            for item in items:
                assert item.id is not None
                await self.websocket.send_json(
                    {
                        "type": "event",
                        "sequence": item.id,
                        "event": item.kind,
                        "channel_sid": item.channel_sid,
                        "date": iso(item.date_created),
                        "data": feed_data(self.context.cipher, item),
                    }
                )
                last = item.id
            if len(items) < FEED_BATCH:
                await asyncio.sleep(POLL_SECONDS)

    # --- commands ---------------------------------------------------------------------------

    async def _run_commands(self, commands: asyncio.Queue[Any]) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "set_activity": self._set_activity,
            "accept": self._answer,
            "reject": self._answer,
            "wrapup": self._answer,
            "complete": self._answer,
            "send_message": self._send_message,
            "typing": self._typing,
            "mark_read": self._mark_read,
            "transfer": self._transfer,
            "history": self._history,
        }
        while True:
            frame = await commands.get()
            command_id = frame.get("id") if isinstance(frame, dict) else None
            try:
                if not isinstance(frame, dict) or frame.get("type") != "command":
                    raise CommandError(400, 'frames are {"type": "command", "id": ..., "command": ...}')
                name = frame.get("command")
                handler = handlers.get(str(name))
                if handler is None:
                    raise CommandError(400, f"unknown command {name!r}; known: {', '.join(handlers)}")
                result = await handler({**frame, "command": name})
                await self.websocket.send_json({"type": "result", "id": command_id, "command": name, "data": result})
            except CommandError as exc:
                await self._error(command_id, exc.code, exc.message)
            except TwilioError as exc:
                await self._error(command_id, exc.status, exc.message)

    async def _error(self, command_id: Any, code: int, message: str) -> None:
        await self.websocket.send_json({"type": "error", "id": command_id, "code": code, "message": message})

    @staticmethod
    def _text(frame: dict[str, Any], name: str, *, required: bool = True) -> str | None:
        value = frame.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise CommandError(400, f"{frame.get('command')}: {name!r} must be a non-empty string")
        return value

    async def _may_see(self, channel_sid: str) -> None:
        """An agent works on channels it joined or holds a reservation for; nothing else."""
        async with self.context.db.session() as session:
            if await session.get(ChannelAgent, (channel_sid, self.worker_sid)) is not None:
                return
            holding = (
                await session.exec(
                    select(Reservation.sid)
                    .join(Task, col(Task.sid) == col(Reservation.task_sid))
                    .where(
                        Reservation.worker_sid == self.worker_sid,
                        Task.channel_sid == channel_sid,
                        col(Reservation.reservation_status).in_(("pending", "accepted", "wrapping")),
                    )
                )
            ).first()
        if holding is None:
            raise CommandError(403, f"channel {channel_sid} is not one of this agent's channels")

    async def _set_activity(self, frame: dict[str, Any]) -> dict[str, Any]:
        wanted = self._text(frame, "activity")
        assert wanted is not None
        async with self.context.db.session() as session:
            found = (
                await session.exec(
                    select(WorkspaceActivity).where(
                        WorkspaceActivity.workspace_sid == self.workspace_sid,
                        (col(WorkspaceActivity.sid) == wanted) | (col(WorkspaceActivity.friendly_name) == wanted),
                    )
                )
            ).first()
        if found is None:
            raise CommandError(404, f"activity {wanted!r} is not in this workspace")
        change = WorkerActivityChange(self.worker_sid, found.sid, bool(frame.get("reject_pending")))
        await routed(self.context.routing.set_worker_activity(self.workspace_sid, change))
        return {"activity_sid": found.sid, "activity_name": found.friendly_name, "available": found.available}

    async def _answer(self, frame: dict[str, Any]) -> dict[str, Any]:
        reservation_sid = self._text(frame, "reservation_sid")
        async with self.context.db.session() as session:
            reservation = await session.get(Reservation, reservation_sid or "")
        if reservation is None or reservation.worker_sid != self.worker_sid:
            raise CommandError(404, f"reservation {reservation_sid} is not this agent's")
        status = ANSWERS[str(frame["command"])]
        change = ReservationChange(reservation.sid, status, self._text(frame, "activity_sid", required=False))
        result = await routed(self.context.routing.change_reservation(self.workspace_sid, change))
        return {"reservation_sid": reservation.sid, "task_sid": result.task_sid, "status": status}

    async def _send_message(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = self._text(frame, "channel_sid")
        body = self._text(frame, "body")
        assert channel_sid is not None
        await self._may_see(channel_sid)
        attributes = frame.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise CommandError(400, "send_message: 'attributes' must be an object")
        # The client's key makes a resent command (after a reconnect) store the message once.
        key = self._text(frame, "key", required=False) or uuid.uuid4().hex
        async with self.context.db.session() as session:
            channel = await session.get(Channel, channel_sid)
            if channel is None:
                raise CommandError(404, f"channel {channel_sid} does not exist")
            config = await config_for_row(self.context, session, channel)
        message = InboundMessage(
            key=f"agent:{self.worker_sid}:{key}", author=self.identity, body=body, attributes=json.dumps(attributes)
        )
        try:
            stored = await self.context.channels.post(config, message)
        except WorkflowUpdateFailedError as exc:
            raise CommandError(409, f"the channel refused the message: {exc.cause}") from exc
        return {"channel_sid": channel_sid, "sid": stored.sid, "index": stored.index, "duplicate": stored.duplicate}

    async def _typing(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = self._text(frame, "channel_sid")
        assert channel_sid is not None
        await self._may_see(channel_sid)
        async with self.context.db.write_session() as session:
            data = {"channel_sid": channel_sid, "identity": self.identity}
            await add_for_channel(
                session, self.context.cipher, channel_sid, "typing", data, except_worker=self.worker_sid
            )
            await session.commit()
        return {"channel_sid": channel_sid}

    async def _mark_read(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = self._text(frame, "channel_sid")
        index = frame.get("index")
        if not isinstance(index, int) or index < 0:
            raise CommandError(400, "mark_read: 'index' must be a message index")
        assert channel_sid is not None
        await self._may_see(channel_sid)
        async with self.context.db.write_session() as session:
            member = (
                await session.exec(
                    select(Member).where(
                        Member.channel_sid == channel_sid,
                        Member.identity_hash == identity_hash(self.context.hasher, self.identity),
                    )
                )
            ).first()
            if member is None:
                raise CommandError(403, f"agent {self.identity} is not a member of channel {channel_sid}")
            horizon = max(index, member.last_consumed_message_index or -1)
            member.last_consumed_message_index = horizon
            member.last_consumption_timestamp = member.date_updated = utcnow()
            session.add(member)
            data = {"channel_sid": channel_sid, "identity": self.identity, "index": horizon}
            await add_for_channel(
                session, self.context.cipher, channel_sid, "read", data, except_worker=self.worker_sid
            )
            await session.commit()
        return {"channel_sid": channel_sid, "last_consumed_message_index": horizon}

    async def _transfer(self, frame: dict[str, Any]) -> dict[str, Any]:
        task_sid = self._text(frame, "task_sid")
        to_queue = self._text(frame, "to_queue_sid", required=False)
        to_worker = self._text(frame, "to_worker_sid", required=False)
        async with self.context.db.session() as session:
            held = (
                await session.exec(
                    select(Reservation.sid).where(
                        Reservation.task_sid == task_sid,
                        Reservation.worker_sid == self.worker_sid,
                        Reservation.reservation_status == "accepted",
                    )
                )
            ).first()
        if held is None:
            raise CommandError(403, f"task {task_sid} is not assigned to this agent")
        assert task_sid is not None
        transfer = Transfer(task_sid, sids.new_sid(sids.TASK), to_queue, to_worker)
        result = await routed(self.context.routing.transfer_task(self.workspace_sid, transfer))
        return {"task_sid": task_sid, "new_task_sid": result.task_sid}

    async def _history(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = self._text(frame, "channel_sid")
        assert channel_sid is not None
        await self._may_see(channel_sid)
        before = frame.get("before_index")
        limit = frame.get("limit", 50)
        if not isinstance(limit, int) or not 1 <= limit <= HISTORY_LIMIT:
            raise CommandError(400, f"history: 'limit' must be 1 to {HISTORY_LIMIT}")
        query = select(Message).where(Message.channel_sid == channel_sid)
        if isinstance(before, int):
            query = query.where(col(Message.index) < before)
        async with self.context.db.session() as session:
            rows = (await session.exec(query.order_by(col(Message.index).desc()).limit(limit))).all()
        cipher = self.context.cipher
        messages = [
            {
                "sid": m.sid,
                "index": m.index,
                "from": cipher.decrypt(m.author_enc, "message.author"),
                "body": cipher.decrypt_optional(m.body_enc, "message.body"),
                "attributes": cipher.decrypt(m.attributes_enc, "message.attributes"),
                "date_created": iso(m.date_created),
            }
            for m in reversed(rows)
        ]
        return {"channel_sid": channel_sid, "messages": messages, "has_more": len(rows) == limit}
