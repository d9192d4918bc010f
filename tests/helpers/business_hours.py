"""Business hours set through ``/v1/Workspaces/{WS}/BusinessHours``: schedules closed or open now,
whatever the hour the tests run at."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_WEEK = {day: ["00:00-24:00"] for day in DAYS}
AWAY = "We are closed for the holiday. Happy holidays from the whole team!"
# Open around the clock.
OPEN_NOW = {"TimeZone": "UTC", "WeeklyHours": json.dumps(ALL_WEEK), "Holidays": "[]"}


def closed_today() -> dict[str, str]:
    """Open all week, but today and tomorrow (UTC) are holidays: closed now, whatever the hour,
    until midnight UTC after tomorrow."""
    now = datetime.now(UTC)
    holidays = [
        {"date": now.date().isoformat(), "name": "Today"},
        {"date": (now + timedelta(days=1)).date().isoformat()},
    ]
    return {
        "TimeZone": "UTC",
        "WeeklyHours": json.dumps(ALL_WEEK),
        "Holidays": json.dumps(holidays),
        "AwayMessage": AWAY,
    }


def set_hours(http: httpx.Client, workspace_sid: str, form: dict[str, str]) -> dict[str, Any]:
    response = http.post(f"/v1/Workspaces/{workspace_sid}/BusinessHours", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
