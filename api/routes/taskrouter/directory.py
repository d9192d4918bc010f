"""Which workers an expression or a queue admits, read from the store: the Workers list's
``TargetWorkersExpression``, ``TaskQueueSid`` and ``TaskQueueName`` and the TaskQueues list's
``WorkerSid`` (what Flex plugins' transfer directories ask). The router decides who gets a task;
these lists evaluate the same expressions over the same fields, as the store has them now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from api.deps import RestCall, SessionDep
from api.routes.taskrouter.common import json_object
from switchboard.store.business_hours import workspace_schedule
from switchboard.store.models import Reservation, Task, TaskQueue, Worker, WorkerChannel
from workflows.business_hours import Schedule, is_open
from workflows.routing.expressions import Expression, ExpressionError, parse_expression, time_variables, time_zone

# The reservations and task states that hold a worker's capacity, as the router counts them.
HOLDING_RESERVATIONS = ("pending", "accepted", "wrapping")
HOLDING_TASKS = ("reserved", "assigned", "wrapping")


@dataclass
class WorkerDirectory:
    """A workspace's workers' fields and channels, read once for one list call."""

    call: RestCall
    channels: dict[str, list[WorkerChannel]]
    held: Counter[tuple[str, str]]
    time_of_day: dict[str, Any]

    @classmethod
    async def load(cls, call: RestCall, session: SessionDep, workspace_sid: str) -> WorkerDirectory:
        rows = (await session.exec(select(WorkerChannel).where(WorkerChannel.workspace_sid == workspace_sid))).all()
        channels: dict[str, list[WorkerChannel]] = {}
        for row in rows:
            channels.setdefault(row.worker_sid, []).append(row)
        holding = await session.exec(
            select(Reservation.worker_sid, Task.task_channel_unique_name)
            .join(Task, col(Reservation.task_sid) == col(Task.sid))
            .where(
                Task.workspace_sid == workspace_sid,
                col(Reservation.reservation_status).in_(HOLDING_RESERVATIONS),
                col(Task.assignment_status).in_(HOLDING_TASKS),
            )
        )
        zone = time_zone(call.context.settings.taskrouter_time_zone)
        held = Counter((worker, channel) for worker, channel in holding)
        now = datetime.now(zone)
        hours = await workspace_schedule(session, workspace_sid)
        business_open = is_open(None if hours is None else Schedule.from_data(hours), now)
        return cls(call, channels, held, time_variables(now, business_open))

    def fields(self, worker: Worker) -> dict[str, Any]:
        """``worker.sid``, ``friendly_name``, ``activity_sid``, ``activity_name`` and
        ``worker.channel.<unique name>.<field>``, as the router's expressions see them."""
        channels: dict[str, Any] = {}
        for row in self.channels.get(worker.sid, []):
            capacity = row.configured_capacity if row.available else 0
            assigned = self.held[worker.sid, row.task_channel_unique_name]
            channels[row.task_channel_unique_name] = {
                "assigned_tasks": assigned,
                "available": row.available,
                "available_capacity_percentage": max(capacity - assigned, 0) * 100 // capacity if capacity else 0,
                "configured_capacity": capacity,
            }
        return {
            "sid": worker.sid,
            "friendly_name": worker.friendly_name,
            "activity_sid": worker.activity_sid,
            "activity_name": worker.activity_name,
            "channel": channels,
        }

    def admits(self, expression: Expression, worker: Worker) -> bool:
        attributes = json_object(self.call.context.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
        fields = self.fields(worker)
        # TaskRouter lets a list filter name the worker's own fields bare too (``friendly_name``);
        # an attribute of the same name wins.
        plain = {name: value for name, value in fields.items() if name != "channel"}
        return expression.evaluate(
            {**plain, **attributes}, worker=attributes, worker_fields=fields, taskrouter=self.time_of_day
        )

    def in_queue(self, queue: TaskQueue, worker: Worker) -> bool:
        """Whether the queue's TargetWorkers admits the worker (an expression stored before
        expressions were checked, that does not parse, admits no one)."""
        try:
            expression = parse_expression(queue.target_workers)
        except ExpressionError:
            return False
        return self.admits(expression, worker)
