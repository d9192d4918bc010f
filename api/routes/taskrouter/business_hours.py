"""Switchboard's own ``/v1/Workspaces/{WS}/BusinessHours`` (Twilio has no such resource): a
workspace's time zone, weekly hours, holidays and away message, fetched and updated as one
singleton. Every workspace has one: until it is set, it is disabled (always open). The rule
itself is ``workflows.business_hours``; the answer says whether the workspace is open now and
when that next changes. An update reaches the router at once (``refresh``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import Field

from api.deps import CallDep, RestCall, SessionDep
from api.routes.taskrouter.common import load_workspace, workspace_url
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, invalid, iso
from switchboard.store.business_hours import schedule_data
from switchboard.store.models import BusinessHours, utcnow
from workflows.business_hours import Schedule, ScheduleError, status

router = APIRouter(prefix="/v1/Workspaces")

AWAY_MESSAGE_LENGTH = 1000
JSON_LENGTH = 65536


class BusinessHoursForm(TwilioForm):
    enabled: bool | None = Field(None, alias="Enabled")
    time_zone: str | None = Field(None, alias="TimeZone", max_length=64)
    weekly_hours: str | None = Field(None, alias="WeeklyHours", max_length=JSON_LENGTH)
    holidays: str | None = Field(None, alias="Holidays", max_length=JSON_LENGTH)
    away_message: str | None = Field(None, alias="AwayMessage", max_length=AWAY_MESSAGE_LENGTH)


def _json(text: str, parameter: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise invalid(parameter, "is not JSON") from None


def render_business_hours(call: RestCall, row: BusinessHours) -> dict[str, Any]:
    data = schedule_data(row)
    now = status(Schedule.from_data(data), datetime.now(UTC))
    return {
        "account_sid": call.account_sid,
        "workspace_sid": row.workspace_sid,
        "enabled": row.enabled,
        "time_zone": row.time_zone,
        "weekly_hours": data["weekly_hours"],
        "holidays": data["holidays"],
        "away_message": row.away_message,
        "open": now.open,
        "next_change": iso(now.next_change),
        "date_created": iso(row.date_created),
        "date_updated": iso(row.date_updated),
        "url": f"{workspace_url(call, row.workspace_sid)}/BusinessHours",
    }


async def _row(session: SessionDep, workspace_sid: str) -> BusinessHours:
    """The workspace's row, or a new disabled one (not stored until updated)."""
    await load_workspace(session, workspace_sid)
    row = await session.get(BusinessHours, workspace_sid)
    if row is None:
        row = BusinessHours(workspace_sid=workspace_sid, enabled=False)
        row.weekly_hours_json = json.dumps(Schedule().to_data()["weekly_hours"])
    return row


@router.get(
    "/{workspace_sid}/BusinessHours",
    response_model=schemas.BusinessHours,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_business_hours(call: CallDep, session: SessionDep, workspace_sid: str) -> dict[str, Any]:
    return render_business_hours(call, await _row(session, workspace_sid))


@router.post(
    "/{workspace_sid}/BusinessHours",
    response_model=schemas.BusinessHours,
    responses=error_responses(*REST_ERRORS, 404),
)
async def update_business_hours(
    call: CallDep, session: SessionDep, workspace_sid: str, form: Annotated[BusinessHoursForm, Form()]
) -> dict[str, Any]:
    row = await _row(session, workspace_sid)
    data = schedule_data(row)
    if form.time_zone is not None:
        data["time_zone"] = form.time_zone
    if form.weekly_hours is not None:
        data["weekly_hours"] = _json(form.weekly_hours, "WeeklyHours")
    if form.holidays is not None:
        data["holidays"] = _json(form.holidays, "Holidays")
    if form.away_message is not None:
        data["away_message"] = form.away_message
    # Setting any part of the schedule turns it on unless Enabled says otherwise.
    data["enabled"] = form.enabled if form.enabled is not None else True
    try:
        checked = Schedule.from_data(data).to_data()
    except ScheduleError as exc:
        raise invalid(exc.field, exc.message) from None
    row.enabled = checked["enabled"]
    row.time_zone = checked["time_zone"]
    row.weekly_hours_json = json.dumps(checked["weekly_hours"])
    row.holidays_json = json.dumps(checked["holidays"])
    row.away_message = checked["away_message"]
    row.date_updated = utcnow()
    session.add(row)
    await session.commit()
    await call.context.routing.refresh(workspace_sid)  # the router reads the new hours at once
    return render_business_hours(call, row)
