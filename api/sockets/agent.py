"""The agent WebSocket API (``/v1/agent/ws``): an agent's events in sequence order, and the
commands an agent desk sends. The protocol is documented in ``docs/agent-socket.md``.

Events come from the agent's feed in the store (``store.feed``): every routing event of the
worker and every message, typing and read change of the channels it works on, each with its
sequence (the feed row's id). A client that reconnects with the last sequence it saw gets exactly
what it missed. The socket reads the feed when a write wakes it (``store.fanout``) and polls it
as a fallback; it holds no conversation state.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.access import may_reach_channel, may_use_agent_socket
from api.after_chat import chosen_disposition, record_disposition
from api.agent_profiles import adopt_claimed_name, display_fields, worker_attributes
from api.canned_responses import for_agent as canned_for_agent
from api.conversations import (
    ConversationRefused,
    OutboundRequest,
    Writer,
    channel_task,
    check_may_write,
    start_outbound,
)
from api.deps import AppContext
from api.routing_calls import routed
from api.sockets.notes import contact_history, find_contact, with_notes, write_note
from api.sockets.presence import desk_open
from api.sockets.session import (
    CLOSE_FORBIDDEN,
    CommandError,
    FeedSocket,
    Handler,
    announce_typing,
    authenticate,
    channel_history,
    mark_read,
    send_to_channel,
    text_field,
)
from api.sockets.supervision import Supervision, refuse_unless_supervisor, supervised_task, supervised_worker
from api.tokens import TokenClaims
from api.twilio_shape import iso
from switchboard.store.channel_work import ACTING_RESERVATIONS, worked_channels
from switchboard.store.contacts import worker_identity
from switchboard.store.fanout import agent_key
from switchboard.store.feed import chat_ended_by, pre_engagement_data
from switchboard.store.models import (
    AgentFeedItem,
    Channel,
    FlexFlow,
    Member,
    Reservation,
    Task,
    TaskQueue,
    Worker,
    WorkspaceActivity,
    utcnow,
)
from workflows import sids
from workflows.channel_delivery import PROVIDER_CHANNEL_TYPES
from workflows.routing.messages import HANDED_OVER, ReservationChange, Transfer, WorkerActivityChange

router = APIRouter()

PROTOCOL = "switchboard.agent.v1"
# Reservation answers an agent may give, and the status each sets.
ANSWERS = {"accept": "accepted", "reject": "rejected", "wrapup": "wrapping", "complete": "completed"}


@router.websocket("/v1/agent/ws")
async def agent_socket(websocket: WebSocket) -> None:
    context: AppContext = websocket.app.state.context
    authenticated = await authenticate(websocket, PROTOCOL)
    if authenticated is None:
        return
    claims, resume_after = authenticated
    grants = claims.grants
    if not may_use_agent_socket(grants) or not grants.worker_sid:
        await websocket.close(CLOSE_FORBIDDEN, "the token grants no TaskRouter worker")
        return
    async with context.db.session() as session:
        worker = await session.get(Worker, grants.worker_sid)
    if worker is None or worker.workspace_sid != grants.workspace_sid:
        await websocket.close(CLOSE_FORBIDDEN, f"worker {grants.worker_sid} is not in workspace {grants.workspace_sid}")
        return
    attributes = json.loads(context.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
    agent = AgentSocket(
        context, websocket, claims, worker.sid, worker.workspace_sid, worker_identity(worker.friendly_name, attributes)
    )
    await agent.run(resume_after)


def task_age(task: Task) -> int:
    return max(0, int((utcnow() - task.date_created).total_seconds()))


class AgentSocket(FeedSocket):
    def __init__(
        self,
        context: AppContext,
        websocket: WebSocket,
        claims: TokenClaims,
        worker_sid: str,
        workspace_sid: str,
        identity: str,
    ) -> None:
        super().__init__(context, websocket, claims)
        self.worker_sid = worker_sid
        self.workspace_sid = workspace_sid
        self.identity = identity
        self.supervision = Supervision(context, websocket, workspace_sid)

    feed_model = AgentFeedItem

    async def run(self, resume_after: int | None) -> None:
        # While the socket is open the agent has a desk open (``api.sockets.presence``).
        async with desk_open(self.context, self.workspace_sid, self.worker_sid):
            try:
                await super().run(resume_after)
            finally:
                await self.supervision.close()

    def feed_query(self) -> SelectOfScalar[Any]:
        return select(AgentFeedItem).where(AgentFeedItem.worker_sid == self.worker_sid)

    def feed_key(self) -> str:
        return agent_key(self.worker_sid)

    def handlers(self) -> dict[str, Handler]:
        return {
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
            "directory": self._directory,
            "channel_info": self._channel_info,
            "start_conversation": self._start_conversation,
            "canned_responses": self._canned_responses,
            # The supervisor view (``api.sockets.supervision``); agents are refused (403).
            "supervise": self._supervise,
            "monitor": self._monitor,
            "unmonitor": self._unmonitor,
            "add_note": lambda frame: write_note(
                self.context, self.claims.grants, self.worker_sid, self.identity, frame
            ),
            "contact_history": lambda frame: contact_history(self.context, self.claims.grants, frame),
            "find_contact": lambda frame: find_contact(self.context, self.claims.grants, frame),
        }

    async def ready(self, last: int) -> dict[str, Any]:
        """Where the agent stands: its activity, open reservations (with their tasks, as the
        reservation events show them) and channels."""
        await adopt_claimed_name(self.context, self.workspace_sid, self.worker_sid, self.claims.name)
        async with self.context.db.session() as session:
            worker = await session.get(Worker, self.worker_sid)
            assert worker is not None
            held = (
                await session.exec(
                    select(Reservation, Task)
                    .join(Task, col(Task.sid) == col(Reservation.task_sid))
                    .where(
                        Reservation.worker_sid == self.worker_sid,
                        col(Reservation.reservation_status).in_(ACTING_RESERVATIONS),
                    )
                )
            ).all()
            channels = await worked_channels(session, self.worker_sid)
            pre_engagement = {
                task.sid: await pre_engagement_data(session, self.context.cipher, task.channel_sid) for _, task in held
            }
        cipher = self.context.cipher
        return {
            "type": "ready",
            "sequence": last,
            "role": self.claims.role,
            "worker": {
                "sid": worker.sid,
                "identity": self.identity,
                "activity_sid": worker.activity_sid,
                "activity_name": worker.activity_name,
                "available": worker.available,
                **display_fields(worker_attributes(cipher, worker)),
            },
            "reservations": [
                {
                    "sid": reservation.sid,
                    "task_sid": task.sid,
                    "status": reservation.reservation_status,
                    "channel_sid": task.channel_sid,
                    "task_attributes": json.loads(cipher.decrypt(task.attributes_enc, "task.attributes")),
                    "pre_engagement_data": pre_engagement[task.sid],
                    "task_age": task_age(task),
                    "task_channel_unique_name": task.task_channel_unique_name,
                    "queue_sid": task.task_queue_sid,
                    "date_created": iso(reservation.date_created),
                }
                for reservation, task in held
            ],
            "channels": list(channels),
            "dispositions": self.context.settings.wrapup_disposition_list,
            "token_expires_at": iso(self.claims.expires_at),
        }

    async def _may_see(self, channel_sid: str, *, watch: bool = False) -> None:
        """An agent works on channels it holds a task of and reads those it joined before; a
        supervisor also watches (``watch``) its service's; an admin any (``api.access``)."""
        async with self.context.db.session() as session:
            if watch:
                if not await may_reach_channel(session, self.claims.grants, channel_sid, watch=True):
                    raise CommandError(403, f"channel {channel_sid} is not one of this agent's channels")
                return
            try:
                await check_may_write(session, self.claims.grants, channel_sid)
            except ConversationRefused as exc:
                raise CommandError(exc.status, exc.message) from exc

    async def _channel(self, frame: dict[str, Any], *, watch: bool = False) -> str:
        channel_sid = text_field(frame, "channel_sid")
        assert channel_sid is not None
        await self._may_see(channel_sid, watch=watch)
        return channel_sid

    async def _set_activity(self, frame: dict[str, Any]) -> dict[str, Any]:
        wanted = text_field(frame, "activity")
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
        # A supervisor may move another agent of its workspace (``worker_sid``).
        worker_sid = text_field(frame, "worker_sid", required=False) or self.worker_sid
        if worker_sid != self.worker_sid:
            await supervised_worker(self.context, self.claims.grants, self.workspace_sid, worker_sid)
        change = WorkerActivityChange(worker_sid, found.sid, bool(frame.get("reject_pending")))
        await routed(self.context.routing.set_worker_activity(self.workspace_sid, change))
        return {
            "worker_sid": worker_sid,
            "activity_sid": found.sid,
            "activity_name": found.friendly_name,
            "available": found.available,
        }

    async def _answer(self, frame: dict[str, Any]) -> dict[str, Any]:
        reservation_sid = text_field(frame, "reservation_sid")
        async with self.context.db.session() as session:
            reservation = await session.get(Reservation, reservation_sid or "")
        if reservation is None or reservation.worker_sid != self.worker_sid:
            raise CommandError(404, f"reservation {reservation_sid} is not this agent's")
        status = ANSWERS[str(frame["command"])]
        disposition = chosen_disposition(self.context, frame) if status in ("wrapping", "completed") else None
        if disposition is not None:
            await record_disposition(self.context, self.workspace_sid, reservation.task_sid, disposition)
        change = ReservationChange(reservation.sid, status, text_field(frame, "activity_sid", required=False))
        result = await routed(self.context.routing.change_reservation(self.workspace_sid, change))
        return {"reservation_sid": reservation.sid, "task_sid": result.task_sid, "status": status}

    async def _send_message(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = text_field(frame, "channel_sid")
        assert channel_sid is not None
        # The client's key makes a resent command (after a reconnect) store the message once.
        key = text_field(frame, "key", required=False) or uuid.uuid4().hex
        writer = Writer(self.identity, self.claims.grants)
        return await send_to_channel(self.context, channel_sid, f"agent:{self.worker_sid}:{key}", writer, frame)

    async def _typing(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = await self._channel(frame)
        return await announce_typing(
            self.context, channel_sid, self.identity, except_worker=self.worker_sid, to_customer=True
        )

    async def _mark_read(self, frame: dict[str, Any]) -> dict[str, Any]:
        channel_sid = await self._channel(frame)
        return await mark_read(
            self.context, channel_sid, self.identity, frame, except_worker=self.worker_sid, to_customer=True
        )

    async def _transfer(self, frame: dict[str, Any]) -> dict[str, Any]:
        task_sid = text_field(frame, "task_sid")
        to_queue = text_field(frame, "to_queue_sid", required=False)
        to_worker = text_field(frame, "to_worker_sid", required=False)
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
        assert task_sid is not None
        if held is None:  # a supervisor transfers any agent's task of its workspace
            await supervised_task(self.context, self.claims.grants, self.workspace_sid, task_sid)
        transfer = Transfer(task_sid, sids.new_sid(sids.TASK), to_queue, to_worker)
        result = await routed(self.context.routing.transfer_task(self.workspace_sid, transfer))
        return {"task_sid": task_sid, "new_task_sid": result.task_sid}

    async def _supervise(self, frame: dict[str, Any]) -> dict[str, Any]:
        refuse_unless_supervisor(self.claims.grants, self.workspace_sid, "supervise")
        return await self.supervision.supervise()

    async def _monitor(self, frame: dict[str, Any]) -> dict[str, Any]:
        refuse_unless_supervisor(self.claims.grants, self.workspace_sid, "monitor")
        return await self.supervision.monitor(await self._channel(frame, watch=True))

    async def _unmonitor(self, frame: dict[str, Any]) -> dict[str, Any]:
        refuse_unless_supervisor(self.claims.grants, self.workspace_sid, "unmonitor")
        channel_sid = text_field(frame, "channel_sid")
        assert channel_sid is not None
        return self.supervision.unmonitor(channel_sid)

    async def _history(self, frame: dict[str, Any]) -> dict[str, Any]:
        page = await channel_history(self.context, await self._channel(frame, watch=True), frame)
        return await with_notes(self.context, page, frame)

    async def _directory(self, _frame: dict[str, Any]) -> dict[str, Any]:
        """The workspace's queues, workers and activities: transfer targets and the activity menu."""
        cipher = self.context.cipher
        async with self.context.db.session() as session:
            queues = (
                await session.exec(
                    select(TaskQueue)
                    .where(TaskQueue.workspace_sid == self.workspace_sid)
                    .order_by(col(TaskQueue.friendly_name))
                )
            ).all()
            workers = (
                await session.exec(
                    select(Worker).where(Worker.workspace_sid == self.workspace_sid).order_by(col(Worker.friendly_name))
                )
            ).all()
            activities = (
                await session.exec(
                    select(WorkspaceActivity)
                    .where(WorkspaceActivity.workspace_sid == self.workspace_sid)
                    .order_by(col(WorkspaceActivity.date_created))
                )
            ).all()
            outbound = (
                await session.exec(
                    select(FlexFlow)
                    .where(col(FlexFlow.channel_type).in_(PROVIDER_CHANNEL_TYPES), col(FlexFlow.enabled).is_(True))
                    .order_by(col(FlexFlow.friendly_name))
                )
            ).all()
        return {
            "queues": [{"sid": q.sid, "friendly_name": q.friendly_name} for q in queues],
            "workers": [
                {
                    "sid": w.sid,
                    "friendly_name": w.friendly_name,
                    "identity": worker_identity(w.friendly_name, attributes),
                    "activity_name": w.activity_name,
                    "available": w.available,
                    **display_fields(attributes),
                }
                for w in workers
                for attributes in [worker_attributes(cipher, w)]
            ],
            "activities": [
                {"sid": a.sid, "friendly_name": a.friendly_name, "available": a.available} for a in activities
            ],
            # Where the agent may start a conversation (start_conversation).
            "flex_flows": [
                {
                    "sid": f.sid,
                    "friendly_name": f.friendly_name,
                    "channel_type": f.channel_type,
                    "contact_identity": f.contact_identity,
                }
                for f in outbound
            ],
        }

    async def _canned_responses(self, _frame: dict[str, Any]) -> dict[str, Any]:
        """The workspace's canned responses for this agent (``api.canned_responses``)."""
        return {"canned_responses": await canned_for_agent(self.context, self.workspace_sid, self.worker_sid)}

    async def _channel_info(self, frame: dict[str, Any]) -> dict[str, Any]:
        """A conversation's details for the desk: the customer, members' read horizons, the task."""
        channel_sid = await self._channel(frame, watch=True)
        cipher = self.context.cipher
        async with self.context.db.session() as session:
            channel = await session.get(Channel, channel_sid)
            if channel is None:
                raise CommandError(404, f"channel {channel_sid} does not exist")
            members = (
                await session.exec(
                    select(Member)
                    .where(Member.channel_sid == channel_sid)
                    .order_by(col(Member.date_created), col(Member.sid))
                )
            ).all()
            task = await channel_task(session, channel_sid, self.worker_sid)
            reservation = None
            if task is not None:
                reservation = (
                    await session.exec(
                        select(Reservation)
                        .where(Reservation.task_sid == task.sid, Reservation.worker_sid == self.worker_sid)
                        .order_by(col(Reservation.date_created).desc())
                    )
                ).first()
        attributes: dict[str, Any] = json.loads(cipher.decrypt(channel.attributes_enc, "channel.attributes"))
        identities = [cipher.decrypt(m.identity_enc, "member.identity") for m in members]
        # A contact's channel opens with the contact as its first member.
        customer = identities[0] if identities and channel.contact_hash else None
        return {
            "sid": channel.sid,
            "friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
            "channel_type": channel.channel_type,
            "status": channel.status,
            "attributes": attributes,
            "customer": {"identity": customer, "name": attributes.get("from") or customer},
            "members": [
                {"identity": identity, "last_consumed_message_index": m.last_consumed_message_index}
                for identity, m in zip(identities, members, strict=True)
            ],
            "last_message_index": channel.last_message_index,
            "task": None
            if task is None
            else {
                "sid": task.sid,
                "reservation_sid": reservation.sid if reservation else None,
                "reservation_status": reservation.reservation_status if reservation else None,
                "assignment_status": task.assignment_status,
                # This agent transferred the task: it wraps up its part but no longer writes here.
                "handed_over": task.reason == HANDED_OVER,
                # Who ended the chat (the customer leaving the web chat), so a reloaded desk knows too.
                "ended_by": chat_ended_by(task.reason),
                "attributes": json.loads(cipher.decrypt(task.attributes_enc, "task.attributes")),
                "age": task_age(task),
                "queue_sid": task.task_queue_sid,
            },
        }

    async def _start_conversation(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The agent reaches out to a customer on SMS, WhatsApp or Messenger (the rules are
        ``api.conversations.start_outbound``'s)."""
        flow_sid, to = text_field(frame, "flex_flow_sid"), text_field(frame, "to")
        assert flow_sid is not None and to is not None
        body = frame.get("body")
        if body is not None and (not isinstance(body, str) or not body):
            raise CommandError(400, "start_conversation: 'body' must be non-empty text")
        request = OutboundRequest(
            flex_flow_sid=flow_sid,
            to=to,
            worker_sid=self.worker_sid,
            identity=self.identity,
            customer_name=text_field(frame, "customer_name", required=False),
            body=body,
            key=text_field(frame, "key", required=False) or uuid.uuid4().hex,
        )
        try:
            return await start_outbound(self.context, request)
        except ConversationRefused as exc:
            raise CommandError(exc.status, exc.message) from exc
