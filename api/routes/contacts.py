"""Finding a contact (``GET /v1/Contacts?Address=…`` or ``?Identity=…``, Switchboard's own): the
conversations of the customer at that exact address or identity, latest first, each with its
interactions and their outcomes. The value is hashed with the keyed hash the store looks contacts
up by; no plaintext is searched. Account credentials, API keys and admin tokens see every channel;
a supervisor token its chat service's (``api.access``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.contacts import found_conversations
from api.deps import CallDep, ContextDep, PagingDep, RestCallerDep, require_account
from api.schemas.contacts import ContactConversationPage
from api.schemas.resources import REST_ERRORS, error_responses
from api.tokens import Grants
from api.twilio_shape import invalid

router = APIRouter(prefix="/v1", tags=["contacts"], dependencies=[Depends(require_account)])


@router.get("/Contacts", response_model=ContactConversationPage, responses=error_responses(*REST_ERRORS))
async def find_contact(
    call: CallDep,
    context: ContextDep,
    caller: RestCallerDep,
    paging: PagingDep,
    address: Annotated[str | None, Query(alias="Address", min_length=1, max_length=256)] = None,
    identity: Annotated[str | None, Query(alias="Identity", min_length=1, max_length=256)] = None,
) -> dict[str, Any]:
    if (address is None) == (identity is None):
        raise invalid("Address", "give one of Address (a phone number, whatsapp:…) or Identity")
    grants = caller.claims.grants if caller.claims is not None else Grants(role="admin")
    found = await found_conversations(context, grants, address, identity)
    page = found[paging.offset : paging.offset + paging.page_size]
    return call.page("conversations", page, paging, None, len(found) > paging.offset + paging.page_size)
