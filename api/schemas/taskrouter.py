"""Response models of TaskRouter v1: workspaces and what they hold, in the key order the routes
render them."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class WorkspaceLinks(Resource):
    activities: str
    cumulative_statistics: str
    events: str
    real_time_statistics: str
    statistics: str
    task_channels: str
    task_queues: str
    tasks: str
    workers: str
    workflows: str


class Workspace(Resource):
    account_sid: str
    date_created: str
    date_updated: str
    default_activity_name: str | None
    default_activity_sid: str | None
    event_callback_url: str | None
    events_filter: str | None
    friendly_name: str
    multi_task_enabled: bool
    sid: str
    timeout_activity_name: str | None
    timeout_activity_sid: str | None
    prioritize_queue_order: str
    url: str
    links: WorkspaceLinks


class WorkspacePage(Resource):
    workspaces: list[Workspace]
    meta: PageMeta


class ActivityLinks(Resource):
    workers: str
    workspace: str


class Activity(Resource):
    account_sid: str
    available: bool
    date_created: str
    date_updated: str
    friendly_name: str
    sid: str
    workspace_sid: str
    url: str
    links: ActivityLinks


class ActivityPage(Resource):
    activities: list[Activity]
    meta: PageMeta


class TaskChannelLinks(Resource):
    workspace: str


class TaskChannel(Resource):
    account_sid: str
    date_created: str
    date_updated: str
    friendly_name: str
    sid: str
    unique_name: str
    workspace_sid: str
    channel_optimized_routing: bool | None
    url: str
    links: TaskChannelLinks


class TaskChannelPage(Resource):
    channels: list[TaskChannel]
    meta: PageMeta


class TaskQueueLinks(Resource):
    assignment_activity: str | None
    reservation_activity: str | None
    workspace: str
    statistics: str
    real_time_statistics: str
    cumulative_statistics: str
    list_statistics: str
    bulk_real_time_statistics: str


class TaskQueue(Resource):
    account_sid: str
    assignment_activity_sid: str | None
    assignment_activity_name: str | None
    date_created: str
    date_updated: str
    friendly_name: str
    max_reserved_workers: int
    reservation_activity_sid: str | None
    reservation_activity_name: str | None
    sid: str
    target_workers: str
    task_order: str
    url: str
    workspace_sid: str
    links: TaskQueueLinks


class TaskQueuePage(Resource):
    task_queues: list[TaskQueue]
    meta: PageMeta


class WorkflowLinks(Resource):
    statistics: str
    real_time_statistics: str
    cumulative_statistics: str
    workspace: str


class Workflow(Resource):
    account_sid: str
    assignment_callback_url: str | None
    configuration: str
    date_created: str
    date_updated: str
    document_content_type: str
    fallback_assignment_callback_url: str | None
    friendly_name: str
    sid: str
    task_reservation_timeout: int
    workspace_sid: str
    url: str
    links: WorkflowLinks


class WorkflowPage(Resource):
    workflows: list[Workflow]
    meta: PageMeta


class WorkerLinks(Resource):
    workspace: str
    channels: str
    reservations: str
    worker_statistics: str
    real_time_statistics: str
    cumulative_statistics: str
    activity: str
    worker_channels: str


class Worker(Resource):
    account_sid: str
    activity_name: str
    activity_sid: str
    attributes: str
    available: bool
    date_created: str
    date_status_changed: str
    date_updated: str
    friendly_name: str
    sid: str
    workspace_sid: str
    url: str
    links: WorkerLinks


class WorkerPage(Resource):
    workers: list[Worker]
    meta: PageMeta


class WorkerChannel(Resource):
    account_sid: str
    assigned_tasks: int
    available: bool
    available_capacity_percentage: int
    configured_capacity: int
    date_created: str
    date_updated: str
    sid: str
    task_channel_sid: str
    task_channel_unique_name: str
    worker_sid: str
    workspace_sid: str
    url: str


class WorkerChannelPage(Resource):
    channels: list[WorkerChannel]
    meta: PageMeta


class TaskLinks(Resource):
    task_queue: str | None
    workflow: str
    workspace: str
    reservations: str


class Task(Resource):
    account_sid: str
    age: int
    assignment_status: str
    attributes: str
    addons: str
    date_created: str
    date_updated: str
    task_queue_entered_date: str | None
    priority: int
    reason: str | None
    sid: str
    task_queue_sid: str | None
    task_queue_friendly_name: str | None
    task_channel_sid: str | None
    task_channel_unique_name: str
    timeout: int
    workflow_sid: str
    workflow_friendly_name: str | None
    workspace_sid: str
    url: str
    links: TaskLinks
    virtual_start_time: str
    ignore_capacity: bool
    routing_target: str | None


class TaskPage(Resource):
    tasks: list[Task]
    meta: PageMeta


class ReservationLinks(Resource):
    task: str
    worker: str
    workspace: str


class Reservation(Resource):
    account_sid: str
    date_created: str
    date_updated: str
    reservation_status: str
    sid: str
    task_sid: str
    worker_name: str
    worker_sid: str
    workspace_sid: str
    url: str
    links: ReservationLinks


class ReservationPage(Resource):
    reservations: list[Reservation]
    meta: PageMeta


class Event(Resource):
    account_sid: str
    actor_sid: str | None
    actor_type: str
    actor_url: str
    description: str
    # The event's details, with the SIDs it concerns (each null when it concerns none).
    event_data: dict[str, Any]
    event_date: str
    event_date_ms: int
    event_type: str
    resource_sid: str
    resource_type: str
    resource_url: str
    sid: str
    source: str
    source_ip_address: str | None
    url: str
    workspace_sid: str


class EventPage(Resource):
    events: list[Event]
    meta: PageMeta


class ActivityStatistic(Resource):
    sid: str
    friendly_name: str
    workers: int


class Durations(Resource):
    avg: int
    min: int
    max: int
    total: int


# The figures, as the combined Statistics resources nest them under ``realtime`` and
# ``cumulative``; the single resources add the account, the SIDs and their URL.


class WorkflowRealtime(Resource):
    longest_task_waiting_age: int
    longest_task_waiting_sid: str | None
    tasks_by_priority: dict[str, int]
    tasks_by_status: dict[str, int]
    total_tasks: int


class WorkspaceRealtime(WorkflowRealtime):
    activity_statistics: list[ActivityStatistic]
    total_workers: int


class TaskQueueRealtime(WorkflowRealtime):
    activity_statistics: list[ActivityStatistic]
    longest_relative_task_age_in_queue: int
    longest_relative_task_sid_in_queue: str | None
    total_available_workers: int
    total_eligible_workers: int


class PostChatRatings(Resource):
    """Switchboard's own: the window's post-chat ratings (1 to 5) of the web chat."""

    count: int
    average: float | None
    distribution: dict[str, int]


class WaitPercentiles(Resource):
    """Switchboard's own: nearest-rank percentiles (seconds) of the window's waits until accepted."""

    p50: int | None
    p90: int | None
    p95: int | None


class HandleDurations(Resource):
    avg: int | None
    min: int | None
    max: int | None
    total: int
    p50: int | None
    p90: int | None


class HandleTime(Resource):
    """Switchboard's own: talk and handle times (seconds) of the tasks completed in the window."""

    count: int
    talk: HandleDurations
    handle: HandleDurations


class CumulativeCounts(Resource):
    avg_task_acceptance_time: int
    start_time: str
    end_time: str
    reservations_created: int
    reservations_accepted: int
    reservations_rejected: int
    reservations_timed_out: int
    reservations_canceled: int
    reservations_rescinded: int
    split_by_wait_time: dict[str, Any] | None
    wait_duration_until_accepted: Durations
    wait_duration_until_canceled: Durations
    tasks_canceled: int
    tasks_completed: int
    tasks_deleted: int
    tasks_moved: int
    switchboard_post_chat_ratings: PostChatRatings
    switchboard_wait_time_percentiles: WaitPercentiles
    switchboard_handle_time: HandleTime


class WorkspaceCumulative(CumulativeCounts):
    tasks_created: int
    tasks_timed_out_in_workflow: int


class WorkflowCumulative(CumulativeCounts):
    tasks_entered: int
    tasks_timed_out_in_workflow: int


class TaskQueueCumulative(CumulativeCounts):
    tasks_entered: int
    wait_duration_in_queue_until_accepted: Durations


class WorkspaceRealTimeStatistics(WorkspaceRealtime):
    account_sid: str
    workspace_sid: str
    url: str


class TaskQueueRealTimeStatistics(TaskQueueRealtime):
    account_sid: str
    task_queue_sid: str
    workspace_sid: str
    url: str


class WorkflowRealTimeStatistics(WorkflowRealtime):
    account_sid: str
    workflow_sid: str
    workspace_sid: str
    url: str


class WorkspaceCumulativeStatistics(WorkspaceCumulative):
    account_sid: str
    workspace_sid: str
    url: str


class TaskQueueCumulativeStatistics(TaskQueueCumulative):
    account_sid: str
    task_queue_sid: str
    workspace_sid: str
    url: str


class WorkflowCumulativeStatistics(WorkflowCumulative):
    account_sid: str
    workflow_sid: str
    workspace_sid: str
    url: str


class WorkspaceStatistics(Resource):
    realtime: WorkspaceRealtime
    cumulative: WorkspaceCumulative
    account_sid: str
    workspace_sid: str
    url: str


class TaskQueuesStatistics(Resource):
    account_sid: str
    cumulative: TaskQueueCumulative
    realtime: TaskQueueRealtime
    task_queue_sid: str
    workspace_sid: str


class TaskQueueStatistics(TaskQueuesStatistics):
    url: str


class TaskQueuesStatisticsPage(Resource):
    task_queues_statistics: list[TaskQueuesStatistics]
    meta: PageMeta


class WorkflowStatistics(Resource):
    account_sid: str
    cumulative: WorkflowCumulative
    realtime: WorkflowRealtime
    workflow_sid: str
    workspace_sid: str
    url: str


class WorkersRealTimeStatistics(Resource):
    account_sid: str
    activity_statistics: list[ActivityStatistic]
    total_workers: int
    workspace_sid: str
    url: str


class ActivityDuration(Resource):
    sid: str
    friendly_name: str
    avg: int
    min: int
    max: int
    total: int


class WorkersCumulative(Resource):
    start_time: str
    end_time: str
    activity_durations: list[ActivityDuration]
    reservations_created: int
    reservations_accepted: int
    reservations_rejected: int
    reservations_timed_out: int
    reservations_canceled: int
    reservations_rescinded: int
    switchboard_wait_time_percentiles: WaitPercentiles
    switchboard_handle_time: HandleTime


class WorkersCumulativeStatistics(WorkersCumulative):
    account_sid: str
    workspace_sid: str
    url: str


class WorkersRealtime(Resource):
    activity_statistics: list[ActivityStatistic]
    total_workers: int


class WorkersStatistics(Resource):
    realtime: WorkersRealtime
    cumulative: WorkersCumulative
    account_sid: str
    workspace_sid: str
    url: str


class WorkerStatistics(Resource):
    cumulative: WorkersCumulative
    account_sid: str
    workspace_sid: str
    worker_sid: str
    url: str


class BulkQueueRealtime(Resource):
    task_queue_sid: str
    longest_task_waiting_age: int
    longest_task_waiting_sid: str | None
    total_tasks: int
    total_eligible_workers: int
    total_available_workers: int
    tasks_by_status: dict[str, int]
    tasks_by_priority: dict[str, int]
    activity_statistics: list[ActivityStatistic]


class TaskQueuesBulkRealTimeStatistics(Resource):
    account_sid: str
    workspace_sid: str
    task_queue_data: list[BulkQueueRealtime]
    task_queue_response_count: int
    url: str


class BusinessHours(Resource):
    """Switchboard's own: a workspace's schedule (``/v1/Workspaces/{WS}/BusinessHours``)."""

    account_sid: str
    workspace_sid: str
    enabled: bool
    time_zone: str
    weekly_hours: dict[str, list[str]]
    holidays: list[dict[str, Any]]
    away_message: str
    open: bool
    next_change: str | None
    date_created: str
    date_updated: str
    url: str
