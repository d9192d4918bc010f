"""The router's placement rules, as functions over a routing snapshot that change nothing.

Which queue a task waits in (its workflow's filters and targets, ``skip_if``; a target without a
queue keeps the queue of the target before it, or takes the default filter's), which workers may take it (the queue's and
target's expressions, or the one known worker a target names), how much room a worker has per
task channel, the order tasks are offered in (priority, then queue order) and to whom (the
target's ``order_by``, then the longest idle worker), which timeouts have passed and when the
router must next wake. ``WorkspaceRouter`` applies them.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import workflow

from workflows.business_hours import is_open, next_change, schedule_from_json
from workflows.routing.expressions import ExpressionError, parse_expression, time_variables, time_zone
from workflows.routing.messages import DeskPresence, RoutedTask, RoutedWorker, RoutingSnapshot, WorkspaceConfig

logger = logging.getLogger(__name__)

# Tasks in these states hold capacity of their worker.
HOLDING = ("reserved", "assigned", "wrapping")
# The soonest the router reads desks again after a read (a margin over the activity's clock).
DESK_SWEEP_MIN_SECONDS = 1.0
# Target fields naming one worker through a task attribute (Known Agent Routing).
KNOWN_WORKER_FIELDS = ("known_worker_sid", "known_worker_friendly_name")


@dataclass(frozen=True)
class Route:
    """Where a task waits: the filter and target it reached, and their queue (None: none of its
    targets' queues, nor a default one, exists)."""

    filter_index: int | None
    target_index: int
    queue_sid: str | None
    target: dict[str, Any] | None


@dataclass(frozen=True)
class Offer:
    task_sid: str
    worker_sid: str


def matches(
    text: str | None,
    attributes: dict[str, Any],
    zone: str = "UTC",
    hours: str | None = None,
    **scopes: dict[str, Any],
) -> bool:
    """Whether an expression holds (no expression: it does), with TaskRouter's time of day
    variables at the workflow's clock in time zone ``zone``, and ``taskrouter.businessOpen`` by
    the business ``hours`` (``WorkspaceConfig.business_hours``). One that does not parse matches
    nothing: the API refuses those, so only a stale configuration gets here."""
    if not text:
        return True
    try:
        expression = parse_expression(text)
    except ExpressionError:
        # In a router run its logger (quiet during replay); called from elsewhere, this module's.
        (workflow.logger if workflow.in_workflow() else logger).warning(
            "expression %r does not parse; it matches nothing", text
        )
        return False
    # The router's clock keeps its runs deterministic; elsewhere (tests of these rules) the wall clock.
    now = workflow.now() if workflow.in_workflow() else datetime.now(UTC)
    business_open = is_open(schedule_from_json(hours), now)
    variables = time_variables(now.astimezone(time_zone(zone)), business_open)
    return expression.evaluate(attributes, taskrouter=variables, **scopes)


def filter_zone(config: WorkspaceConfig, workflow_sid: str, filter_index: int | None) -> str:
    """The time zone a filter's expressions read the time of day in: its own ``time_zone``, else
    the workspace's (UTC, as TaskRouter, unless the operator set another)."""
    filters = (
        config.workflows[workflow_sid].task_routing.get("filters") or [] if workflow_sid in config.workflows else []
    )
    own = filters[filter_index].get("time_zone") if filter_index is not None and filter_index < len(filters) else None
    return own if isinstance(own, str) and own else config.time_zone


def targets(config: WorkspaceConfig, workflow_sid: str, filter_index: int | None) -> list[dict[str, Any]]:
    """The targets of a workflow filter (none for the default filter, ``filter_index`` None)."""
    routing = config.workflows[workflow_sid].task_routing
    if filter_index is None:
        return []
    filters = routing.get("filters") or []
    return list(filters[filter_index].get("targets") or []) if filter_index < len(filters) else []


def current_target(config: WorkspaceConfig, task: RoutedTask) -> dict[str, Any] | None:
    listed = targets(config, task.workflow_sid, task.filter_index)
    return listed[task.target_index] if task.filter_index is not None and task.target_index < len(listed) else None


def target_queue(task_routing: dict[str, Any], listed: list[dict[str, Any]], index: int) -> str | None:
    """A target's queue: its own, else that of the nearest target before it in its filter (a
    target without a queue keeps the task in the queue it waits in), else the default filter's."""
    for target in reversed(listed[: index + 1]):
        queue = target.get("queue")
        if isinstance(queue, str) and queue:
            return queue
    default = (task_routing.get("default_filter") or {}).get("queue")
    return default if isinstance(default, str) else None


def task_attribute(path: str, attributes: dict[str, Any]) -> Any:
    """The task attribute at a dotted path (``task.`` optional); None when it is not there."""
    value: Any = attributes
    for part in path.removeprefix("task.").split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def known_worker_target(target: dict[str, Any] | None) -> bool:
    return target is not None and any(target.get(name) for name in KNOWN_WORKER_FIELDS)


def known_worker(snapshot: RoutingSnapshot, target: dict[str, Any], task: RoutedTask) -> RoutedWorker | None:
    """The worker a known-worker target names through the task's attributes, if it exists."""
    if target.get("known_worker_sid"):
        sid = task_attribute(target["known_worker_sid"], task.attributes)
        return snapshot.workers.get(sid) if isinstance(sid, str) else None
    name = task_attribute(target["known_worker_friendly_name"], task.attributes)
    return next((w for w in snapshot.workers.values() if isinstance(name, str) and w.friendly_name == name), None)


def order_clauses(text: str) -> list[tuple[str, bool]]:
    """An ``order_by`` as (worker attribute path, descending) clauses, e.g. from
    ``"worker.level DESC, worker.tenure ASC"``; ValueError when a clause is not of that form."""
    clauses = []
    for clause in text.split(","):
        match = re.fullmatch(r"\s*worker\.([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\s+(ASC|DESC)\s*", clause, re.I)
        if match is None:
            raise ValueError(f"{clause.strip()!r} is not 'worker.<attribute> ASC' or 'worker.<attribute> DESC'")
        clauses.append((match.group(1), match.group(2).upper() == "DESC"))
    return clauses


def order_rank(order_by: str | None, worker: RoutedWorker) -> tuple[tuple[int, float], ...]:
    """Where a target's ``order_by`` puts a worker (lower first); a worker without a numeric
    value for a clause comes after those with one, whatever the direction."""
    if not order_by:
        return ()
    try:
        clauses = order_clauses(order_by)
    except ValueError:
        return ()  # the API refuses these; a stale configuration orders by idle time alone
    rank = []
    for path, descending in clauses:
        value = task_attribute(path, worker.attributes)
        if isinstance(value, bool) or not isinstance(value, int | float):
            rank.append((1, 0.0))
        else:
            rank.append((0, -float(value) if descending else float(value)))
    return tuple(rank)


def route(snapshot: RoutingSnapshot, task: RoutedTask) -> Route | None:
    """Where a pending task waits from its current target on (first time: find its filter);
    None when it cannot be placed at all (its workflow or pinned queue is gone)."""
    config = snapshot.config
    spec = config.workflows.get(task.workflow_sid)
    if spec is None:
        return None
    if task.pinned_queue is not None:
        if task.pinned_queue not in config.queues:
            return None
        return Route(task.filter_index, task.target_index, task.pinned_queue, None)
    filter_index = task.filter_index
    if task.queue_sid is None and filter_index is None:
        for index, candidate in enumerate(spec.task_routing.get("filters") or []):
            zone = filter_zone(config, task.workflow_sid, index)
            expression = candidate.get("expression") or "1==1"
            if matches(expression, task.attributes, zone, config.business_hours, task=task.attributes):
                filter_index = index
                break
    listed = targets(config, task.workflow_sid, filter_index)
    target_index = task.target_index
    while target_index < len(listed):
        target = listed[target_index]
        queue_sid = target_queue(spec.task_routing, listed, target_index)
        if (
            queue_sid is not None
            and queue_sid in config.queues
            and not _skipped(snapshot, target, queue_sid, task)
            # A known worker missing, or not one the target admits, passes the task on.
            and not (known_worker_target(target) and not eligible_workers(snapshot, task, queue_sid, target))
        ):
            return Route(filter_index, target_index, queue_sid, target)
        target_index += 1
    default = (spec.task_routing.get("default_filter") or {}).get("queue")
    if default in config.queues:
        return Route(None, target_index, default, None)
    return Route(filter_index, target_index, None, None)


def _skipped(snapshot: RoutingSnapshot, target: dict[str, Any], queue_sid: str, task: RoutedTask) -> bool:
    skip_if = target.get("skip_if")
    if not skip_if:
        return False
    # TaskRouter's skip variables, over the workers the target admits: how many are available,
    # unavailable, and in each activity (``workers.WA...``).
    admitted = eligible_workers(snapshot, task, queue_sid, target)
    available = sum(1 for w in admitted if w.available)
    counts: dict[str, Any] = {sid: 0 for sid in snapshot.config.activities}
    counts.update(Counter(w.activity_sid for w in admitted))
    counts.update(available=available, unavailable=len(admitted) - available)
    zone = filter_zone(snapshot.config, task.workflow_sid, task.filter_index)
    return matches(skip_if, {"workers": counts}, zone, snapshot.config.business_hours, task=task.attributes)


def eligible_workers(
    snapshot: RoutingSnapshot, task: RoutedTask, queue_sid: str, target: dict[str, Any] | None
) -> list[RoutedWorker]:
    """Workers the queue's (and target's) expressions admit for the task, available or not."""
    if task.only_worker is not None:  # a transfer to a named worker
        named = snapshot.workers.get(task.only_worker)
        return [named] if named is not None else []
    queue = snapshot.config.queues[queue_sid]
    expression = (target or {}).get("expression")
    # The worker's own fields are worked out only for expressions that name them.
    held = _held(snapshot) if any(_names_worker_fields(text) for text in (queue.target_workers, expression)) else None

    workspace_zone, hours = snapshot.config.time_zone, snapshot.config.business_hours
    target_zone = filter_zone(snapshot.config, task.workflow_sid, task.filter_index)

    def admitted(worker: RoutedWorker) -> bool:
        scopes = {"worker": worker.attributes, "task": task.attributes}
        if held is not None:
            scopes["worker_fields"] = worker_fields(snapshot, worker, held)
        return matches(queue.target_workers, worker.attributes, workspace_zone, hours, **scopes) and matches(
            expression, worker.attributes, target_zone, hours, **scopes
        )

    pool: list[RoutedWorker] = list(snapshot.workers.values())
    if target is not None and known_worker_target(target):
        named = known_worker(snapshot, target, task)
        pool = [named] if named is not None else []
    return [worker for worker in pool if admitted(worker)]


def _names_worker_fields(text: str | None) -> bool:
    try:
        return bool(text) and parse_expression(text or "").names_worker_fields()
    except ExpressionError:
        return False


def _held(snapshot: RoutingSnapshot) -> Counter[tuple[str, str]]:
    """Tasks holding capacity, by (worker, task channel)."""
    return Counter(
        (t.worker_sid, t.task_channel) for t in snapshot.tasks.values() if t.worker_sid and t.status in HOLDING
    )


def worker_fields(snapshot: RoutingSnapshot, worker: RoutedWorker, held: Counter[tuple[str, str]]) -> dict[str, Any]:
    """What ``worker.sid``, ``worker.activity_sid``, ``worker.activity_name`` and
    ``worker.channel.<task channel unique name>.<field>`` name, as the Worker and Worker Channel
    resources have them (a channel the worker has off: unavailable, capacity 0); ``held`` counts
    the tasks holding capacity (``_held``)."""
    activity = snapshot.config.activities.get(worker.activity_sid)
    channels: dict[str, Any] = {}
    for name in sorted(set(snapshot.config.channels) | set(worker.capacity)):
        capacity = worker.capacity.get(name, 0)
        assigned = held[worker.sid, name]
        channels[name] = {
            "assigned_tasks": assigned,
            "available": name in worker.capacity,
            "available_capacity_percentage": max(capacity - assigned, 0) * 100 // capacity if capacity else 0,
            "configured_capacity": capacity,
        }
    return {
        "sid": worker.sid,
        "activity_sid": worker.activity_sid,
        "activity_name": activity.friendly_name if activity is not None else None,
        "channel": channels,
    }


def free_capacity(snapshot: RoutingSnapshot, worker: RoutedWorker, channel: str) -> int:
    used = sum(
        1
        for t in snapshot.tasks.values()
        if t.worker_sid == worker.sid and t.status in HOLDING and t.task_channel == channel
    )
    return worker.capacity.get(channel, 0) - used


def offers(snapshot: RoutingSnapshot, now: float) -> list[Offer]:
    """The offers to make now: waiting tasks by priority then queue order (FIFO or LIFO), each
    to the available worker with free capacity on its channel that the target's ``order_by``
    puts first, then the longest idle. An offer counts
    against its worker for the tasks after it, as the reservation will."""
    config = snapshot.config
    waiting = [t for t in snapshot.tasks.values() if t.status == "pending" and t.queue_sid is not None]
    offered: dict[tuple[str, str], int] = {}  # (worker, channel) -> offers made here
    assigned_at = {sid: w.last_assigned_at for sid, w in snapshot.workers.items()}

    def order(task: RoutedTask) -> tuple[int, float, str]:
        queue = config.queues.get(task.queue_sid or "")
        lifo = queue is not None and queue.task_order == "LIFO"
        return (-task.priority, -task.entered_queue_at if lifo else task.entered_queue_at, task.sid)

    made: list[Offer] = []
    for task in sorted(waiting, key=order):
        assert task.queue_sid is not None
        channel = task.task_channel
        target = current_target(config, task)
        candidates = [
            w
            for w in eligible_workers(snapshot, task, task.queue_sid, target)
            if w.available and free_capacity(snapshot, w, channel) - offered.get((w.sid, channel), 0) > 0
        ]
        # Workers who turned the task down come last: offered it again only when nobody else
        # can take it, and not before a reservation timeout has passed, so a task is never
        # stranded and a rejection is not answered by the same offer at once.
        fresh = [w for w in candidates if w.sid not in task.declined_by]
        candidates = fresh or (candidates if now >= task.declined_until else [])
        if not candidates:
            continue
        order_by = (target or {}).get("order_by")
        worker = min(candidates, key=lambda w: (order_rank(order_by, w), assigned_at[w.sid], w.sid))
        offered[worker.sid, channel] = offered.get((worker.sid, channel), 0) + 1
        assigned_at[worker.sid] = now
        made.append(Offer(task.sid, worker.sid))
    return made


def ttl_expired(task: RoutedTask, now: float) -> bool:
    """A task not yet accepted lives ``timeout`` seconds."""
    return task.status in ("pending", "reserved") and now >= task.created_at + task.timeout


def reservation_expired(task: RoutedTask, now: float) -> bool:
    return task.status == "reserved" and task.reservation_deadline is not None and now >= task.reservation_deadline


def target_expired(task: RoutedTask, now: float) -> bool:
    """The target's timeout passed with the task still waiting: it moves to the next target."""
    return task.status == "pending" and task.target_deadline is not None and now >= task.target_deadline


def next_deadline(snapshot: RoutingSnapshot, now: float, desk_sweep_at: float | None) -> float | None:
    """When the router must wake with nothing else happening: the soonest TTL, reservation or
    target timeout, end of a decline's wait, or desk read."""
    deadlines: list[float] = []
    for task in snapshot.tasks.values():
        if task.status in ("pending", "reserved"):
            deadlines.append(task.created_at + task.timeout)
        if task.status == "reserved" and task.reservation_deadline is not None:
            deadlines.append(task.reservation_deadline)
        if task.status == "pending" and task.target_deadline is not None:
            deadlines.append(task.target_deadline)
        if task.status == "pending" and task.declined_by and task.declined_until > now:
            deadlines.append(task.declined_until)
    if desk_sweep_at is not None:
        deadlines.append(desk_sweep_at)
    return min(deadlines) if deadlines else None


def next_business_change(snapshot: RoutingSnapshot, now: float) -> float | None:
    """When the business next opens or closes, while a task waits (``taskrouter.businessOpen``
    may then admit it, or send it elsewhere); None with no task waiting or no schedule."""
    if not any(task.status == "pending" for task in snapshot.tasks.values()):
        return None
    change = next_change(schedule_from_json(snapshot.config.business_hours), datetime.fromtimestamp(now, UTC))
    return None if change is None else change.timestamp()


def reserved_to(snapshot: RoutingSnapshot, worker_sid: str) -> list[RoutedTask]:
    return [t for t in snapshot.tasks.values() if t.worker_sid == worker_sid and t.status == "reserved"]


def activity_named(config: WorkspaceConfig, name: str) -> str | None:
    return next((a.sid for a in config.activities.values() if a.friendly_name == name), None)


def desk_departures(snapshot: RoutingSnapshot, departed: list[str], activity_sid: str) -> list[RoutedWorker]:
    """Agents whose last desk closed that must move to ``activity_sid``: those not there yet, and
    those there still holding an offer (it goes on to someone else)."""
    workers = (snapshot.workers.get(sid) for sid in departed)
    return [
        worker
        for worker in workers
        if worker is not None and (worker.activity_sid != activity_sid or reserved_to(snapshot, worker.sid))
    ]


def next_desk_sweep(presence: DeskPresence, now: float) -> float | None:
    """When to read desks again: when the first watched desk's grace period ends (None: no desk
    to watch), and not sooner than a margin after this read."""
    due = [at + presence.grace_seconds for at in presence.watch_from.values()]
    return max(min(due), now + DESK_SWEEP_MIN_SECONDS) if due else None
