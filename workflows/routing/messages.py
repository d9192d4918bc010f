"""Dataclasses that cross the routing workflow's boundary: its input and carried state, the
updates REST and activities make, and the inputs and outputs of its activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The reason a task handed over by a transfer wraps up with: its agent's part in the conversation
# is over (``store.channel_work``), though the reservation stays open for its wrap-up.
HANDED_OVER = "transferred"


def router_id(workspace_sid: str) -> str:
    """The workflow id of a workspace's router."""
    return f"router-{workspace_sid}"


@dataclass
class QueueSpec:
    sid: str
    friendly_name: str
    target_workers: str
    task_order: str = "FIFO"


@dataclass
class WorkflowSpec:
    sid: str
    friendly_name: str
    # ``task_routing``: ``filters`` [{filter_friendly_name, expression, targets: [{queue,
    # expression, priority, timeout, skip_if, order_by, known_worker_sid or
    # known_worker_friendly_name}]}] and ``default_filter`` {queue}.
    task_routing: dict[str, Any]
    task_reservation_timeout: int = 120


@dataclass
class ActivitySpec:
    sid: str
    friendly_name: str
    available: bool


@dataclass
class RoutedWorker:
    sid: str
    friendly_name: str
    attributes: dict[str, Any]
    activity_sid: str
    available: bool
    # Task channel unique name -> configured capacity, for the channels the worker has on.
    capacity: dict[str, int]
    # When the worker last got a task: the longest idle worker is offered first.
    last_assigned_at: float = 0.0


@dataclass
class WorkspaceConfig:
    workspace_sid: str
    friendly_name: str
    event_callback_url: str | None
    timeout_activity_sid: str | None
    activities: dict[str, ActivitySpec]
    queues: dict[str, QueueSpec]
    workflows: dict[str, WorkflowSpec]
    # Task channel unique name -> SID.
    channels: dict[str, str]
    # The event types posted to ``event_callback_url`` (None: all).
    events_filter: list[str] | None = None
    # The time zone (IANA name) expressions read ``taskrouter.currentTime`` etc. in, unless a
    # filter names its own: the operator's setting, UTC by default as at TaskRouter.
    time_zone: str = "UTC"
    # The workspace's business hours (``workflows.business_hours`` plain data, as JSON text) that
    # ``taskrouter.businessOpen`` reads; None: no schedule, always open.
    business_hours: str | None = None


@dataclass
class RoutedTask:
    sid: str
    workflow_sid: str
    task_channel: str
    priority: int
    timeout: int
    attributes: dict[str, Any]
    created_at: float
    channel_sid: str | None = None
    status: str = "pending"  # pending | reserved | assigned | wrapping
    queue_sid: str | None = None
    entered_queue_at: float = 0.0
    # The workflow filter that matched (None: the default filter) and the target within it.
    filter_index: int | None = None
    target_index: int = 0
    # When the current target gives up and the task moves to the next one.
    target_deadline: float | None = None
    reservation_sid: str | None = None
    worker_sid: str | None = None
    reservation_deadline: float | None = None
    # Workers that rejected or let the offer time out: offered this task again only when nobody
    # else can take it, and not before ``declined_until``.
    declined_by: list[str] = field(default_factory=list)
    declined_until: float = 0.0
    # A transfer to a named worker: only that worker may take it; to a queue: that queue.
    only_worker: str | None = None
    pinned_queue: str | None = None


@dataclass
class RoutingSnapshot:
    """What a router run starts from: configuration, workers and the live tasks."""

    config: WorkspaceConfig
    workers: dict[str, RoutedWorker]
    tasks: dict[str, RoutedTask]


@dataclass
class RouterInput:
    workspace_sid: str
    carried: RoutingSnapshot | None = None
    # Events whose callback post has not been made yet.
    unsent_events: list[RoutingEvent] = field(default_factory=list)
    # A refresh was asked for and not yet done.
    refresh: bool = False
    # When the router next reads which agents have a desk open (None: no desk to watch).
    desk_sweep_at: float | None = None


# --- updates -----------------------------------------------------------------------------------


@dataclass
class NewTask:
    task_sid: str
    workflow_sid: str
    task_channel: str
    attributes: str
    priority: int = 0
    timeout: int = 86400
    channel_sid: str | None = None
    # A transfer to one worker, or to one queue (the workflow's filters are skipped).
    only_worker: str | None = None
    queue_sid: str | None = None


@dataclass
class Transfer:
    """Hand an assigned task's conversation to a queue or a named worker: a new task on the same
    channel, while the original one wraps up."""

    task_sid: str
    new_task_sid: str
    to_queue_sid: str | None = None
    to_worker_sid: str | None = None


@dataclass
class TaskChange:
    task_sid: str
    # canceled | wrapping | completed (None: attributes/priority only)
    assignment_status: str | None = None
    reason: str | None = None
    attributes: str | None = None
    priority: int | None = None


@dataclass
class ReservationChange:
    reservation_sid: str
    # accepted | rejected | wrapping | completed
    status: str
    # On reject: the activity the worker moves to.
    activity_sid: str | None = None


@dataclass
class WorkerActivityChange:
    worker_sid: str
    activity_sid: str
    # Twilio's RejectPendingReservations: whether pending offers are rejected (else rescinded only
    # when the new activity is unavailable).
    reject_pending: bool = False


@dataclass
class RoutingResult:
    """The answer of a routing update: the rows it changed, as the store now has them."""

    task_sid: str | None = None
    reservation_sid: str | None = None
    worker_sid: str | None = None


# --- activities ----------------------------------------------------------------------------------


@dataclass
class RoutingEvent:
    sid: str
    event_type: str
    description: str
    resource_type: str  # task | reservation | worker | workspace
    resource_sid: str
    timestamp: float
    task_sid: str | None = None
    worker_sid: str | None = None
    reservation_sid: str | None = None
    queue_sid: str | None = None
    workflow_sid: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskRow:
    """A task's routing fields as the store keeps them."""

    sid: str
    assignment_status: str
    queue_sid: str | None
    reason: str | None = None
    attributes: str | None = None
    priority: int | None = None
    entered_queue_at: float | None = None


@dataclass
class ReservationRow:
    sid: str
    task_sid: str
    worker_sid: str
    status: str


@dataclass
class WorkerRow:
    sid: str
    activity_sid: str
    activity_name: str
    available: bool


@dataclass
class RoutingWrite:
    """One transaction of routing changes: created and changed rows, and their events."""

    workspace_sid: str
    new_task: NewTask | None = None
    tasks: list[TaskRow] = field(default_factory=list)
    reservations: list[ReservationRow] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    events: list[RoutingEvent] = field(default_factory=list)


@dataclass
class EventCallback:
    url: str
    workspace_sid: str
    workspace_name: str
    event: RoutingEvent


@dataclass
class ChannelNotice:
    """What the router tells a conversation's channel workflow."""

    channel_sid: str
    task_sid: str
    worker_sid: str | None = None
    # A transfer: the channel now follows ``task_sid`` instead of this task.
    replaces_task_sid: str | None = None


@dataclass
class DeskPresence:
    """Which of a workspace's agents have a desk open (``store.desks.sweep``), with the policy the
    router applies to those who left."""

    grace_seconds: float
    # The activity (by name) an agent whose last desk went ``grace_seconds`` ago moves to.
    activity_name: str
    # Agents to look at again, and when (epoch seconds): ``grace_seconds`` after these times.
    watch_from: dict[str, float] = field(default_factory=dict)
    # Agents whose last desk went ``grace_seconds`` ago or more.
    departed: list[str] = field(default_factory=list)
