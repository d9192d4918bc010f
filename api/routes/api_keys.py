"""API keys in Twilio's shape (``/2010-04-01/Accounts/{AccountSid}/Keys``): create (the secret is
answered once, then only its keyed hash is kept), list, fetch, rename and revoke (delete). A key's
SID and secret work as HTTP Basic username and password wherever the account's credentials do;
managing keys takes the account's auth token itself, as on Twilio, so a leaked key cannot make
itself successors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import Field
from sqlmodel import col, select

from api.deps import ContextDep, PagingDep, SessionDep, require_account_token
from api.schemas import operators as schemas
from api.schemas.resources import error_responses
from api.twilio_shape import PageRequest, TwilioForm, not_found
from switchboard.store.api_keys import new_api_key
from switchboard.store.models import ApiKey, utcnow

PREFIX = "/2010-04-01/Accounts/{account_sid}"
# A bad parameter, anything but the account's own credentials, another account or an unknown key.
KEY_ERRORS = (400, 401, 404)
router = APIRouter(prefix=PREFIX, tags=["api keys"], dependencies=[Depends(require_account_token)])


class KeyForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=64)


def rfc2822(value: datetime) -> str:
    """The 2010 API's dates: ``Mon, 13 Jun 2016 22:50:08 +0000``."""
    return format_datetime(value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC))


def key_body(key: ApiKey) -> dict[str, Any]:
    return {
        "sid": key.sid,
        "friendly_name": key.friendly_name,
        "date_created": rfc2822(key.date_created),
        "date_updated": rfc2822(key.date_updated),
    }


def ours(context: ContextDep, account_sid: str) -> None:
    # Another account's keys do not exist here.
    if account_sid != context.settings.account_sid:
        raise not_found("Account", account_sid)


async def load_key(session: SessionDep, sid: str) -> ApiKey:
    key = await session.get(ApiKey, sid)
    if key is None:
        raise not_found("Key", sid)
    return key


def page_uris(request: Request, paging: PageRequest, has_next: bool) -> dict[str, Any]:
    """The 2010 API's paging fields (relative URIs, ``start`` and ``end`` as item positions)."""

    def uri(page: int) -> str:
        return f"{request.url.path}?{urlencode({'PageSize': paging.page_size, 'Page': page})}"

    return {
        "uri": uri(paging.page),
        "first_page_uri": uri(0),
        "previous_page_uri": uri(paging.page - 1) if paging.page > 0 else None,
        "next_page_uri": uri(paging.page + 1) if has_next else None,
        "page": paging.page,
        "page_size": paging.page_size,
        "start": paging.offset,
    }


@router.post("/Keys.json", status_code=201, response_model=schemas.NewKey, responses=error_responses(*KEY_ERRORS))
async def create_key(
    context: ContextDep, session: SessionDep, account_sid: str, form: Annotated[KeyForm, Form()]
) -> dict[str, Any]:
    ours(context, account_sid)
    key, secret = new_api_key(context.hasher, form.friendly_name)
    session.add(key)
    await session.commit()
    return {**key_body(key), "secret": secret}


@router.get("/Keys.json", response_model=schemas.KeyPage, responses=error_responses(*KEY_ERRORS))
async def list_keys(
    request: Request, context: ContextDep, session: SessionDep, account_sid: str, paging: PagingDep
) -> dict[str, Any]:
    ours(context, account_sid)
    query = select(ApiKey).order_by(col(ApiKey.date_created), col(ApiKey.sid))
    rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
    keys = [key_body(row) for row in rows[: paging.page_size]]
    paging_fields = page_uris(request, paging, len(rows) > paging.page_size)
    return {"keys": keys, **paging_fields, "end": paging.offset + max(len(keys) - 1, 0)}


@router.get("/Keys/{sid}.json", response_model=schemas.Key, responses=error_responses(*KEY_ERRORS))
async def fetch_key(context: ContextDep, session: SessionDep, account_sid: str, sid: str) -> dict[str, Any]:
    ours(context, account_sid)
    return key_body(await load_key(session, sid))


@router.post("/Keys/{sid}.json", response_model=schemas.Key, responses=error_responses(*KEY_ERRORS))
async def update_key(
    context: ContextDep, session: SessionDep, account_sid: str, sid: str, form: Annotated[KeyForm, Form()]
) -> dict[str, Any]:
    ours(context, account_sid)
    key = await load_key(session, sid)
    if form.friendly_name is not None:
        key.friendly_name = form.friendly_name
        key.date_updated = utcnow()
        session.add(key)
        await session.commit()
    return key_body(key)


@router.delete("/Keys/{sid}.json", status_code=204, responses=error_responses(*KEY_ERRORS))
async def delete_key(context: ContextDep, session: SessionDep, account_sid: str, sid: str) -> Response:
    """Revokes the key: the next request made with it is refused."""
    ours(context, account_sid)
    await session.delete(await load_key(session, sid))
    await session.commit()
    return Response(status_code=204)
