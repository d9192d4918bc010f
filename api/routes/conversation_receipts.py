"""Conversations v1 delivery receipts: ``.../Conversations/{CH}/Messages/{IM}/Receipts`` (list and
fetch by ``DY`` SID), one per message sent to an SMS or WhatsApp participant
(``api.conversation_bindings``), moved along by the provider's status callbacks."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import col, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import load_channel, message_of
from api.routes.conversations_v1 import Scope, default_scope, service_scope
from api.schemas import conversation_receipts as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import iso, not_found
from switchboard.store.models import DeliveryReceipt, Message

# Twilio's receipt statuses; a message the provider has only queued has none yet.
RECEIPT_STATUSES = frozenset({"read", "failed", "delivered", "undelivered", "sent"})


def render_receipt(call: RestCall, scope: Scope, receipt: DeliveryReceipt) -> dict[str, Any]:
    path = f"{scope.path}/{receipt.channel_sid}/Messages/{receipt.message_sid}/Receipts/{receipt.sid}"
    return {
        "account_sid": call.account_sid,
        "conversation_sid": receipt.channel_sid,
        "sid": receipt.sid,
        "message_sid": receipt.message_sid,
        "channel_message_sid": receipt.provider_sid,
        "participant_sid": receipt.participant_sid,
        "status": receipt.status if receipt.status in RECEIPT_STATUSES else None,
        "error_code": receipt.error_code or 0,
        "date_created": iso(receipt.date_created),
        "date_updated": iso(receipt.date_updated),
        "url": call.url(path),
    }


def receipts_router(prefix: str, scope_of: Callable[..., Awaitable[Scope]]) -> APIRouter:
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )

    async def message(session: SessionDep, scope: Scope, conversation_sid: str, message_sid: str) -> Message:
        channel = await load_channel(session, scope.service_sid, conversation_sid, "Conversation")
        return await message_of(session, channel, message_sid)

    @router.get(
        "/{conversation_sid}/Messages/{message_sid}/Receipts",
        response_model=schemas.DeliveryReceiptPage,
        responses=error_responses(404),
    )
    async def list_receipts(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        message_sid: str,
        paging: PagingDep,
    ) -> dict[str, Any]:
        """The message's receipts, oldest first."""
        row = await message(session, scope, conversation_sid, message_sid)
        query = select(DeliveryReceipt).where(DeliveryReceipt.message_sid == row.sid)
        query = query.order_by(col(DeliveryReceipt.date_created), col(DeliveryReceipt.sid))
        return await call.offset_page(
            session, query, paging, "delivery_receipts", lambda c, r: render_receipt(c, scope, r)
        )

    @router.get(
        "/{conversation_sid}/Messages/{message_sid}/Receipts/{sid}",
        response_model=schemas.DeliveryReceipt,
        responses=error_responses(404),
    )
    async def fetch_receipt(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        message_sid: str,
        sid: str,
    ) -> dict[str, Any]:
        row = await message(session, scope, conversation_sid, message_sid)
        receipt = await session.get(DeliveryReceipt, sid)
        if receipt is None or receipt.message_sid != row.sid:
            raise not_found("DeliveryReceipt", sid)
        return render_receipt(call, scope, receipt)

    return router


router = receipts_router("/v1/Conversations", default_scope)
service_router = receipts_router("/v1/Services/{chat_service_sid}/Conversations", service_scope)
