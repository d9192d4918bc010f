"""The customer WebSocket (``/v1/customer/ws``) behind the web chat widget: the events of the one
channel the customer's token is bound to, in sequence order, and the customer's commands. The
protocol is documented in ``docs/customer-socket.md``; conventions are the agent socket's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from api.access import may_use_customer_socket
from api.after_chat import rate_chat
from api.agent_profiles import CustomerView
from api.conversations import Writer, end_conversation
from api.deps import AppContext
from api.sockets.session import (
    CLOSE_FORBIDDEN,
    FeedSocket,
    Handler,
    announce_typing,
    authenticate,
    channel_history,
    mark_read,
    read_horizons,
    send_to_channel,
    text_field,
)
from api.tokens import TokenClaims
from api.twilio_shape import iso
from switchboard.store.fanout import customer_key
from switchboard.store.models import Channel, CustomerFeedItem

router = APIRouter()

PROTOCOL = "switchboard.customer.v1"


@router.websocket("/v1/customer/ws")
async def customer_socket(websocket: WebSocket) -> None:
    context: AppContext = websocket.app.state.context
    authenticated = await authenticate(websocket, PROTOCOL)
    if authenticated is None:
        return
    claims, resume_after = authenticated
    channel_sid = claims.grants.channel_sid
    if not may_use_customer_socket(claims.grants) or not channel_sid:
        await websocket.close(CLOSE_FORBIDDEN, "the token is not a customer's chat token")
        return
    async with context.db.session() as session:
        channel = await session.get(Channel, channel_sid)
    if channel is None:
        await websocket.close(CLOSE_FORBIDDEN, f"channel {channel_sid} does not exist")
        return
    await CustomerSocket(context, websocket, claims, channel_sid).run(resume_after)


class CustomerSocket(FeedSocket):
    def __init__(self, context: AppContext, websocket: WebSocket, claims: TokenClaims, channel_sid: str) -> None:
        super().__init__(context, websocket, claims)
        self.channel_sid = channel_sid
        self.identity = claims.identity
        self.view = CustomerView(context, channel_sid, claims.identity)

    feed_model = CustomerFeedItem

    def feed_query(self) -> SelectOfScalar[Any]:
        return select(CustomerFeedItem).where(CustomerFeedItem.channel_sid == self.channel_sid)

    def feed_key(self) -> str:
        return customer_key(self.channel_sid)

    def handlers(self) -> dict[str, Handler]:
        return {
            "send_message": self._send_message,
            "typing": self._typing,
            "mark_read": self._mark_read,
            "history": self._history,
            "end_chat": self._end_chat,
            "rate_chat": self._rate_chat,
        }

    async def ready(self, last: int) -> dict[str, Any]:
        async with self.context.db.session() as session:
            channel = await session.get(Channel, self.channel_sid)
        assert channel is not None
        return {
            "type": "ready",
            "sequence": last,
            "identity": self.identity,
            "channel": {
                "sid": channel.sid,
                "status": channel.status,
                "friendly_name": self.context.cipher.decrypt_optional(
                    channel.friendly_name_enc, "channel.friendly_name"
                ),
                "last_message_index": channel.last_message_index,
            },
            "read": await self.view.read_horizons(await read_horizons(self.context, self.channel_sid, self.identity)),
            "token_expires_at": iso(self.claims.expires_at),
        }

    async def shown(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.view.event(kind, data)

    async def _send_message(self, frame: dict[str, Any]) -> dict[str, Any]:
        # The client's key makes a resent command (after a reconnect) store the message once.
        key = text_field(frame, "key", required=False) or uuid.uuid4().hex
        writer = Writer(self.identity, self.claims.grants)
        return await send_to_channel(
            self.context, self.channel_sid, f"customer:{self.channel_sid}:{key}", writer, frame
        )

    async def _typing(self, _frame: dict[str, Any]) -> dict[str, Any]:
        return await announce_typing(self.context, self.channel_sid, self.identity, to_customer=False)

    async def _mark_read(self, frame: dict[str, Any]) -> dict[str, Any]:
        return await mark_read(self.context, self.channel_sid, self.identity, frame, to_customer=False)

    async def _history(self, frame: dict[str, Any]) -> dict[str, Any]:
        page = await channel_history(self.context, self.channel_sid, frame)
        return {**page, "messages": await self.view.messages(page["messages"])}

    async def _end_chat(self, _frame: dict[str, Any]) -> dict[str, Any]:
        task_sid = await end_conversation(self.context, self.channel_sid, "customer")
        return {"channel_sid": self.channel_sid, "task_sid": task_sid}

    async def _rate_chat(self, frame: dict[str, Any]) -> dict[str, Any]:
        return await rate_chat(self.context, self.channel_sid, frame)
