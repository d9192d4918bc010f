"""TaskRouter tables: workspaces with their activities, task channels, task queues and routing
workflows, and the routing tasks flows and integrations create."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class Workspace(SQLModel, table=True):
    __tablename__ = "workspace"

    sid: str = Field(primary_key=True, max_length=34)
    friendly_name: str
    event_callback_url: str | None = None
    # Comma-separated event types to call event_callback_url for; None = every event.
    events_filter: str | None = None
    # Activities of this workspace (not foreign keys: a workspace and its activities refer to
    # each other, and the workspace row comes first).
    default_activity_sid: str | None = Field(default=None, max_length=34)
    timeout_activity_sid: str | None = Field(default=None, max_length=34)
    multi_task_enabled: bool = True
    prioritize_queue_order: str = "FIFO"  # FIFO | LIFO
    template: str | None = None  # NONE | FIFO, as given at creation
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class WorkspaceActivity(SQLModel, table=True):
    __tablename__ = "workspace_activity"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    friendly_name: str
    # Whether a worker in this activity can be offered tasks.
    available: bool = False
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class TaskChannel(SQLModel, table=True):
    __tablename__ = "task_channel"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    friendly_name: str
    unique_name: str
    channel_optimized_routing: bool | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("workspace_sid", "unique_name"),)


class TaskQueue(SQLModel, table=True):
    __tablename__ = "task_queue"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    friendly_name: str
    # TaskRouter's worker expression, stored as given (the router parses it).
    target_workers: str = "1==1"
    task_order: str = "FIFO"  # FIFO | LIFO
    max_reserved_workers: int = 1
    reservation_activity_sid: str | None = Field(default=None, max_length=34)
    assignment_activity_sid: str | None = Field(default=None, max_length=34)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class RoutingWorkflow(SQLModel, table=True):
    """TaskRouter's Workflow (named so as not to be mistaken for a Temporal workflow)."""

    __tablename__ = "routing_workflow"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    friendly_name: str
    # JSON text: {"task_routing": {"filters": [{"expression", "targets": [{"queue", ...}]}],
    # "default_filter": {"queue": "WQ..."}}}, as given.
    configuration: str
    assignment_callback_url: str | None = None
    fallback_assignment_callback_url: str | None = None
    task_reservation_timeout: int = 120
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class Task(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    workflow_sid: str = Field(max_length=34)
    task_channel_unique_name: str
    # JSON text: names, addresses and pre-engagement data live here, so it is encrypted.
    attributes_enc: str
    assignment_status: str = "pending"  # pending | reserved | assigned | wrapping | completed | canceled
    reason: str | None = None
    priority: int = 0
    timeout: int = 86400
    # The chat channel this task is about (Switchboard's link; Flex keeps it in the attributes).
    channel_sid: str | None = Field(default=None, index=True)
    # The queue the workflow put the task in, once it has; and when.
    task_queue_sid: str | None = Field(default=None, index=True, max_length=34)
    task_queue_entered_date: datetime | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class Worker(SQLModel, table=True):
    """An agent. ``attributes_enc`` is JSON text (``routing.skills``, ``routing.levels``, names,
    contact details), encrypted."""

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    friendly_name: str
    attributes_enc: str
    activity_sid: str = Field(max_length=34)
    activity_name: str
    available: bool = False
    date_status_changed: datetime = Field(default_factory=utcnow)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("workspace_sid", "friendly_name"),)


class WorkerChannel(SQLModel, table=True):
    """A worker's capacity on one task channel."""

    __tablename__ = "worker_channel"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    worker_sid: str = Field(foreign_key="worker.sid", index=True, max_length=34)
    task_channel_sid: str = Field(max_length=34)
    task_channel_unique_name: str
    configured_capacity: int = 1
    available: bool = True
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("worker_sid", "task_channel_sid"),)


class Reservation(SQLModel, table=True):
    """A task offered to a worker."""

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    task_sid: str = Field(index=True, max_length=34)
    worker_sid: str = Field(index=True, max_length=34)
    # pending | accepted | rejected | timeout | canceled | rescinded | wrapping | completed
    reservation_status: str = "pending"
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class RoutingEventRow(SQLModel, table=True):
    """A TaskRouter event. ``id`` orders a workspace's events: readers resume from the last id
    they saw."""

    __tablename__ = "taskrouter_event"

    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    event_type: str = Field(index=True)
    description: str
    resource_type: str
    resource_sid: str
    task_sid: str | None = Field(default=None, index=True)
    worker_sid: str | None = Field(default=None, index=True)
    reservation_sid: str | None = None
    queue_sid: str | None = None
    workflow_sid: str | None = None
    # JSON: the event's details (statuses, channel, ages); no customer data.
    data_json: str = "{}"
    event_date: datetime
