"""A workspace's business hours: one row per workspace that has a schedule (a workspace without
one is always open). The schedule's rules are ``workflows.business_hours``; the ranges and
holidays are kept as JSON in that module's plain-data shape."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class BusinessHours(SQLModel, table=True):
    __tablename__ = "business_hours"

    workspace_sid: str = Field(primary_key=True, foreign_key="workspace.sid", max_length=34)
    enabled: bool = True
    time_zone: str = "UTC"
    # {"monday": ["09:00-12:30", "13:30-18:00"], ...}
    weekly_hours_json: str = "{}"
    # [{"date": "2026-12-24", "hours": ["09:00-13:00"], "name": "Christmas Eve"}, ...]
    holidays_json: str = "[]"
    away_message: str = ""
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
