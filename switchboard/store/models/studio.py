"""Studio tables: flows with their immutable revisions, executions and their steps."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class StudioFlow(SQLModel, table=True):
    __tablename__ = "studio_flow"

    sid: str = Field(primary_key=True, max_length=34)
    friendly_name: str
    status: str = "draft"  # draft | published
    # The latest revision; every change to the definition, name or status makes a new one.
    revision: int = 1
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class StudioFlowRevision(SQLModel, table=True):
    """One revision of a flow. ``definition_json`` is the definition exactly as given, so a flow
    exported from Twilio's console keeps properties Switchboard does not read."""

    __tablename__ = "studio_flow_revision"

    flow_sid: str = Field(primary_key=True, max_length=34, foreign_key="studio_flow.sid")
    revision: int = Field(primary_key=True)
    friendly_name: str
    status: str
    commit_message: str | None = None
    definition_json: str
    valid: bool = True
    errors_json: str = "[]"
    warnings_json: str = "[]"
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class StudioExecution(SQLModel, table=True):
    """One run of a flow for one contact, on the contact's channel."""

    __tablename__ = "studio_execution"

    sid: str = Field(primary_key=True, max_length=34)
    flow_sid: str = Field(index=True, max_length=34)
    flow_revision: int
    channel_sid: str | None = Field(default=None, index=True)
    contact_channel_address_enc: str
    status: str = "active"  # active | ended
    # The execution's whole context (trigger, flow, widgets) as JSON.
    context_enc: str
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class StudioStep(SQLModel, table=True):
    """One widget run of an execution: what it did (``context_enc``, JSON) and where it went."""

    __tablename__ = "studio_step"

    sid: str = Field(primary_key=True, max_length=34)
    execution_sid: str = Field(index=True, max_length=34)
    flow_sid: str = Field(max_length=34)
    # Order of the step within its execution.
    position: int
    name: str
    transitioned_from: str
    transitioned_to: str
    context_enc: str
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
