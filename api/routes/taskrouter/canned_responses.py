"""Canned responses (Switchboard's own; Twilio has none): a workspace's ready answers, for all its
agents or one queue's, that agents pick in the desk's composer by typing ``/`` and a shortcut.
Create, list (``TaskQueueSid`` filters), fetch, update, delete, in TaskRouter's style; the checks
are ``api.canned_responses``'s. Admins write them; supervisors read them (``api.access``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from api.canned_responses import checked_body, checked_queue, checked_shortcut, taken
from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    deleted,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    required,
    workspace_url,
)
from api.schemas import canned as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, iso
from switchboard.store.models import CannedResponse, utcnow
from workflows import sids

router = APIRouter(prefix=WORKSPACES_PATH)


class CannedResponseForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    shortcut: str | None = Field(None, alias="Shortcut", max_length=64)
    body: str | None = Field(None, alias="Body", max_length=65536)
    # Empty: for the whole workspace.
    task_queue_sid: str | None = Field(None, alias="TaskQueueSid", max_length=34)


def render_canned_response(call: RestCall, row: CannedResponse) -> dict[str, Any]:
    ws_url = workspace_url(call, row.workspace_sid)
    return {
        "account_sid": call.account_sid,
        "workspace_sid": row.workspace_sid,
        "sid": row.sid,
        "friendly_name": row.friendly_name,
        "shortcut": row.shortcut,
        "body": row.body,
        "task_queue_sid": row.task_queue_sid,
        "date_created": iso(row.date_created),
        "date_updated": iso(row.date_updated),
        "url": f"{ws_url}/CannedResponses/{row.sid}",
        "links": {
            "workspace": ws_url,
            "task_queue": f"{ws_url}/TaskQueues/{row.task_queue_sid}" if row.task_queue_sid else None,
        },
    }


async def saved(session: SessionDep, row: CannedResponse) -> None:
    session.add(row)
    try:
        await session.commit()
    except IntegrityError as exc:  # another response has the shortcut
        raise taken(row.shortcut) from exc


@router.post(
    "/{workspace_sid}/CannedResponses",
    status_code=201,
    response_model=schemas.CannedResponse,
    responses=error_responses(*REST_ERRORS, 404, 409),
)
async def create_canned_response(
    call: CallDep, session: SessionDep, workspace_sid: str, form: Annotated[CannedResponseForm, Form()]
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    row = CannedResponse(
        sid=sids.new_sid(sids.CANNED_RESPONSE),
        workspace_sid=workspace_sid,
        friendly_name=required(form.friendly_name, "FriendlyName"),
        shortcut=checked_shortcut(required(form.shortcut, "Shortcut")),
        body=checked_body(required(form.body, "Body")),
        task_queue_sid=await checked_queue(session, workspace_sid, form.task_queue_sid),
    )
    await saved(session, row)
    return render_canned_response(call, row)


@router.get(
    "/{workspace_sid}/CannedResponses",
    response_model=schemas.CannedResponsePage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_canned_responses(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = in_workspace(CannedResponse, workspace_sid)
    if task_queue_sid is not None:
        query = query.where(CannedResponse.task_queue_sid == task_queue_sid)
    query = query.order_by(*oldest_first(CannedResponse))
    return await call.offset_page(session, query, paging, "canned_responses", render_canned_response)


@router.get(
    "/{workspace_sid}/CannedResponses/{sid}",
    response_model=schemas.CannedResponse,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_canned_response(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    row = await load_in_workspace(session, CannedResponse, workspace_sid, sid, "CannedResponse")
    return render_canned_response(call, row)


@router.post(
    "/{workspace_sid}/CannedResponses/{sid}",
    response_model=schemas.CannedResponse,
    responses=error_responses(*REST_ERRORS, 404, 409),
)
async def update_canned_response(
    call: CallDep, session: SessionDep, workspace_sid: str, sid: str, form: Annotated[CannedResponseForm, Form()]
) -> dict[str, Any]:
    row = await load_in_workspace(session, CannedResponse, workspace_sid, sid, "CannedResponse")
    if form.friendly_name is not None:
        row.friendly_name = form.friendly_name
    if form.shortcut is not None:
        row.shortcut = checked_shortcut(form.shortcut)
    if form.body is not None:
        row.body = checked_body(form.body)
    if form.task_queue_sid is not None:
        row.task_queue_sid = await checked_queue(session, workspace_sid, form.task_queue_sid)
    row.date_updated = utcnow()
    await saved(session, row)
    return render_canned_response(call, row)


@router.delete("/{workspace_sid}/CannedResponses/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_canned_response(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    row = await load_in_workspace(session, CannedResponse, workspace_sid, sid, "CannedResponse")
    return await deleted(session, row)
