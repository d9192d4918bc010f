"""TaskRouter workspaces, workers and reservations, made through the REST API."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tests.helpers.stack import Stack, eventually


class Routing:
    """A workspace with a queue and a workflow, made through TaskRouter's REST API."""

    def __init__(self, stack: Stack) -> None:
        taskrouter = stack.twilio().taskrouter.v1
        self.workspace = taskrouter.workspaces.create(friendly_name="support")
        queue = taskrouter.workspaces(self.workspace.sid).task_queues.create(
            friendly_name="Everyone", target_workers="1==1"
        )
        config = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
        self.workflow = taskrouter.workspaces(self.workspace.sid).workflows.create(
            friendly_name="Assign to Anyone", configuration=json.dumps(config)
        )
        channels = taskrouter.workspaces(self.workspace.sid).task_channels.list()
        self.chat_channel = next(c for c in channels if c.unique_name == "chat")
        self.stack = stack

    def tasks(self) -> list[Any]:
        return list(self.stack.twilio().taskrouter.v1.workspaces(self.workspace.sid).tasks.list())

    def task_for(self, channel_sid: str) -> Any:
        [task] = [t for t in self.tasks() if json.loads(t.attributes).get("channelSid") == channel_sid]
        return task


def available_activity(routing: Routing) -> str:
    activities = routing.stack.twilio().taskrouter.v1.workspaces(routing.workspace.sid).activities.list()
    return str(next(a.sid for a in activities if a.friendly_name == "Available"))


def offline_activity(routing: Routing) -> str:
    activities = routing.stack.twilio().taskrouter.v1.workspaces(routing.workspace.sid).activities.list()
    return str(next(a.sid for a in activities if a.friendly_name == "Offline"))


def add_worker(routing: Routing, name: str, attributes: dict[str, Any], available: bool = True) -> Any:
    workspace = routing.stack.twilio().taskrouter.v1.workspaces(routing.workspace.sid)
    activity = available_activity(routing) if available else offline_activity(routing)
    return workspace.workers.create(friendly_name=name, attributes=json.dumps(attributes), activity_sid=activity)


def pending_reservation(routing: Routing, worker_sid: str) -> Any:
    workspace = routing.stack.twilio().taskrouter.v1.workspaces(routing.workspace.sid)
    [reservation] = workspace.workers(worker_sid).reservations.list(reservation_status="pending")
    return reservation


@dataclass
class Space:
    """A workspace configured through the official client: one queue of the workers with the
    "support" skill, and a workflow sending support tasks (and, by default, every task) there."""

    sid: str
    workspace: Any
    activities: dict[str, str]
    queue: Any
    workflow: Any

    def add_worker(self, name: str, *, available: bool = True, skills: tuple[str, ...] = ("support",)) -> Any:
        return self.workspace.workers.create(
            friendly_name=name,
            attributes=json.dumps({"routing": {"skills": list(skills)}, "contact_uri": f"client:{name}"}),
            activity_sid=self.activities["Available" if available else "Offline"],
        )

    def create_task(self, channel: str = "chat", priority: int = 0, **attributes: Any) -> Any:
        return self.workspace.tasks.create(
            attributes=json.dumps({"type": "support", **attributes}),
            workflow_sid=self.workflow.sid,
            task_channel=channel,
            priority=priority,
        )

    def reservations(self, task_sid: str) -> dict[str, str]:
        """The task's reservations: worker SID -> status (each worker is offered a task once here)."""
        return {r.worker_sid: r.reservation_status for r in self.workspace.tasks(task_sid).reservations.list()}

    def pending(self, worker_sid: str, count: int = 1) -> list[Any]:
        """Waits for the worker's ``count`` pending reservations (oldest first)."""

        def check() -> list[Any]:
            found = self.workspace.workers(worker_sid).reservations.list(reservation_status="pending")
            assert len(found) == count, [(r.task_sid, r.reservation_status) for r in found]
            return list(found)

        return eventually(check)

    def event_types(self, task_sid: str) -> list[tuple[str, str | None]]:
        """The task's events, oldest first, with the worker each concerns."""
        events = self.workspace.events.list(task_sid=task_sid)
        return [(e.event_type, e.event_data.get("worker_sid")) for e in reversed(events)]


def new_space(stack: Stack, **workspace: str) -> Space:
    taskrouter = stack.twilio().taskrouter.v1
    ws = taskrouter.workspaces.create(friendly_name=f"routing {uuid.uuid4().hex[:8]}", **workspace)
    context = taskrouter.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in context.activities.list()}
    queue = context.task_queues.create(friendly_name="Support", target_workers='routing.skills HAS "support"')
    routing = {
        "task_routing": {
            "filters": [
                {
                    "filter_friendly_name": "support",
                    "expression": 'type == "support"',
                    "targets": [{"queue": queue.sid}],
                }
            ],
            "default_filter": {"queue": queue.sid},
        }
    }
    flow = context.workflows.create(friendly_name="Support", configuration=json.dumps(routing))
    return Space(ws.sid, context, activities, queue, flow)
