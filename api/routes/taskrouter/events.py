"""TaskRouter Events: what the workspace's router did, newest first, as Twilio lists them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import WORKSPACES_PATH, load_workspace, workspace_url
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import iso, not_found, parse_date
from switchboard.store.models import RoutingEventRow

router = APIRouter(prefix=WORKSPACES_PATH)
MINUTES_OF_A_CENTURY = 100 * 366 * 24 * 60


def render_event(call: RestCall, event: RoutingEventRow) -> dict[str, Any]:
    ws_url = workspace_url(call, event.workspace_sid)
    date = event.event_date if event.event_date.tzinfo else event.event_date.replace(tzinfo=UTC)
    actor_sid = event.worker_sid if event.resource_type in ("reservation", "worker") else None
    return {
        "account_sid": call.account_sid,
        "actor_sid": actor_sid,
        "actor_type": "worker" if actor_sid else "workspace",
        "actor_url": f"{ws_url}/Workers/{actor_sid}" if actor_sid else ws_url,
        "description": event.description,
        "event_data": {
            **json.loads(event.data_json),
            "task_sid": event.task_sid,
            "worker_sid": event.worker_sid,
            "reservation_sid": event.reservation_sid,
            "task_queue_sid": event.queue_sid,
            "workflow_sid": event.workflow_sid,
        },
        "event_date": iso(event.event_date),
        "event_date_ms": int(date.timestamp() * 1000),
        "event_type": event.event_type,
        "resource_sid": event.resource_sid,
        "resource_type": event.resource_type,
        "resource_url": ws_url,
        "sid": event.sid,
        "source": "Switchboard",
        "source_ip_address": None,
        "url": f"{ws_url}/Events/{event.sid}",
        "workspace_sid": event.workspace_sid,
    }


@router.get("/{workspace_sid}/Events", response_model=schemas.EventPage, responses=error_responses(*REST_ERRORS, 404))
async def list_events(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    event_type: Annotated[str | None, Query(alias="EventType")] = None,
    task_sid: Annotated[str | None, Query(alias="TaskSid")] = None,
    worker_sid: Annotated[str | None, Query(alias="WorkerSid")] = None,
    reservation_sid: Annotated[str | None, Query(alias="ReservationSid")] = None,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
    workflow_sid: Annotated[str | None, Query(alias="WorkflowSid")] = None,
    resource_sid: Annotated[str | None, Query(alias="ResourceSid")] = None,
    minutes: Annotated[int | None, Query(alias="Minutes", ge=1)] = None,
    start_date: Annotated[str | None, Query(alias="StartDate")] = None,
    end_date: Annotated[str | None, Query(alias="EndDate")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = select(RoutingEventRow).where(RoutingEventRow.workspace_sid == workspace_sid)
    for column, value in (
        (RoutingEventRow.event_type, event_type),
        (RoutingEventRow.task_sid, task_sid),
        (RoutingEventRow.worker_sid, worker_sid),
        (RoutingEventRow.reservation_sid, reservation_sid),
        (RoutingEventRow.queue_sid, task_queue_sid),
        (RoutingEventRow.workflow_sid, workflow_sid),
        (RoutingEventRow.resource_sid, resource_sid),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    start = parse_date(start_date, "StartDate")
    if minutes is not None:
        # A century back is every event; further would leave the calendar (a 500).
        start = datetime.now(UTC) - timedelta(minutes=min(minutes, MINUTES_OF_A_CENTURY))
    if start is not None:
        query = query.where(col(RoutingEventRow.event_date) >= start)
    end = parse_date(end_date, "EndDate")
    if end is not None:
        query = query.where(col(RoutingEventRow.event_date) <= end)
    query = query.order_by(col(RoutingEventRow.id).desc())
    return await call.offset_page(session, query, paging, "events", render_event)


@router.get("/{workspace_sid}/Events/{sid}", response_model=schemas.Event, responses=error_responses(*REST_ERRORS, 404))
async def fetch_event(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    event = (
        await session.exec(
            select(RoutingEventRow).where(RoutingEventRow.sid == sid, RoutingEventRow.workspace_sid == workspace_sid)
        )
    ).first()
    if event is None:
        raise not_found("Event", sid)
    return render_event(call, event)
