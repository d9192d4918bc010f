"""TaskRouter Tasks: create, update (cancel, wrap up, complete, attributes, priority), delete,
list and fetch. Creating and changing a task goes through the workspace's router, which answers
once the change is stored. A list can be filtered by an expression on the tasks' attributes
(EvaluateTaskAttributes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    WORKSPACES_PATH,
    in_workspace,
    json_object,
    load_in_workspace,
    load_workspace,
    page_of,
    parsed_expression,
    workspace_url,
)
from api.routing_calls import routed
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, invalid, iso
from switchboard.store.channel_work import LIVE_TASK_STATUSES
from switchboard.store.models import RoutingWorkflow, Task, TaskChannel, TaskQueue
from workflows import sids
from workflows.routing.expressions import Expression
from workflows.routing.messages import NewTask, TaskChange

router = APIRouter(prefix=WORKSPACES_PATH)

TASK_STATUSES: tuple[str, ...] = ("pending", "reserved", "assigned", "canceled", "completed", "wrapping")


class TaskNames:
    """Names and SIDs of a workspace's workflows, queues and channels, for rendering tasks."""

    def __init__(
        self, workflows: Sequence[RoutingWorkflow], queues: Sequence[TaskQueue], channels: Sequence[TaskChannel]
    ) -> None:
        self.workflows = {w.sid: w.friendly_name for w in workflows}
        self.queues = {q.sid: q.friendly_name for q in queues}
        self.channel_sids = {c.unique_name: c.sid for c in channels}

    @classmethod
    async def load(cls, session: SessionDep, workspace_sid: str) -> TaskNames:
        workflows = await session.exec(in_workspace(RoutingWorkflow, workspace_sid))
        queues = await session.exec(in_workspace(TaskQueue, workspace_sid))
        channels = await session.exec(in_workspace(TaskChannel, workspace_sid))
        return cls(workflows.all(), queues.all(), channels.all())


def task_attributes(call: RestCall, task: Task) -> dict[str, Any]:
    """The task's attributes, decrypted and parsed."""
    return json_object(call.context.cipher.decrypt(task.attributes_enc, "task.attributes"))


def attributes_match(call: RestCall, expression: Expression, task: Task) -> bool:
    return expression.evaluate(task_attributes(call, task))


def render_task(call: RestCall, task: Task, names: TaskNames) -> dict[str, Any]:
    ws_url = workspace_url(call, task.workspace_sid)
    url = f"{ws_url}/Tasks/{task.sid}"
    created = task.date_created if task.date_created.tzinfo else task.date_created.replace(tzinfo=UTC)
    return {
        "account_sid": call.account_sid,
        "age": max(0, int((datetime.now(UTC) - created).total_seconds())),
        "assignment_status": task.assignment_status,
        "attributes": call.context.cipher.decrypt(task.attributes_enc, "task.attributes"),
        "addons": "{}",
        "date_created": iso(task.date_created),
        "date_updated": iso(task.date_updated),
        "task_queue_entered_date": iso(task.task_queue_entered_date),
        "priority": task.priority,
        "reason": task.reason,
        "sid": task.sid,
        "task_queue_sid": task.task_queue_sid,
        "task_queue_friendly_name": names.queues.get(task.task_queue_sid or ""),
        "task_channel_sid": names.channel_sids.get(task.task_channel_unique_name),
        "task_channel_unique_name": task.task_channel_unique_name,
        "timeout": task.timeout,
        "workflow_sid": task.workflow_sid,
        "workflow_friendly_name": names.workflows.get(task.workflow_sid),
        "workspace_sid": task.workspace_sid,
        "url": url,
        "links": {
            "task_queue": f"{ws_url}/TaskQueues/{task.task_queue_sid}" if task.task_queue_sid else None,
            "workflow": f"{ws_url}/Workflows/{task.workflow_sid}",
            "workspace": ws_url,
            "reservations": f"{url}/Reservations",
        },
        "virtual_start_time": iso(task.date_created),
        "ignore_capacity": False,
        "routing_target": None,
    }


TASK_ORDER_COLUMNS = {
    "DateCreated": Task.date_created,
    "VirtualStartTime": Task.date_created,
    "Priority": Task.priority,
}


def task_ordering(ordering: str | None) -> list[Any]:
    """``Attribute:asc|desc[,...]`` with DateCreated, Priority or VirtualStartTime; DateCreated
    ascending by default."""
    if not ordering:
        return [col(Task.date_created).asc(), col(Task.sid).asc()]
    clauses: list[Any] = []
    seen: set[str] = set()
    for part in ordering.split(","):
        attribute, _, direction = part.strip().partition(":")
        column = TASK_ORDER_COLUMNS.get(attribute)
        if column is None or direction not in ("asc", "desc") or attribute in seen:
            raise invalid(
                "Ordering",
                f"{part.strip()!r} is not Attribute:asc or Attribute:desc with Attribute one of "
                "DateCreated, Priority, VirtualStartTime (each at most once)",
            )
        seen.add(attribute)
        clauses.append(col(column).asc() if direction == "asc" else col(column).desc())
    if {"DateCreated", "VirtualStartTime"} <= seen:
        raise invalid("Ordering", "cannot pair DateCreated with VirtualStartTime")
    return [*clauses, col(Task.sid).asc()]


def sids_named(
    model: type[RoutingWorkflow] | type[TaskQueue], workspace_sid: str, friendly_name: str
) -> SelectOfScalar[str]:
    """The SIDs of this workspace's workflows (or queues) of this name, to filter tasks by."""
    return select(model.sid).where(model.workspace_sid == workspace_sid, model.friendly_name == friendly_name)


async def task_bodies(
    call: RestCall, session: SessionDep, workspace_sid: str, tasks: Sequence[Task]
) -> list[dict[str, Any]]:
    """The workspace's tasks rendered, with the names they refer to looked up at once."""
    names = await TaskNames.load(session, workspace_sid)
    return [render_task(call, task, names) for task in tasks]


@router.get("/{workspace_sid}/Tasks", response_model=schemas.TaskPage, responses=error_responses(*REST_ERRORS, 404))
async def list_tasks(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    assignment_status: Annotated[list[str] | None, Query(alias="AssignmentStatus")] = None,
    workflow_sid: Annotated[str | None, Query(alias="WorkflowSid")] = None,
    workflow_name: Annotated[str | None, Query(alias="WorkflowName")] = None,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
    task_queue_name: Annotated[str | None, Query(alias="TaskQueueName")] = None,
    priority: Annotated[int | None, Query(alias="Priority", ge=0, le=2**31 - 1)] = None,
    ordering: Annotated[str | None, Query(alias="Ordering")] = None,
    has_addons: Annotated[bool | None, Query(alias="HasAddons")] = None,
    evaluate_task_attributes: Annotated[str | None, Query(alias="EvaluateTaskAttributes")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    keep: Callable[[Task], bool] | None = None
    if evaluate_task_attributes is not None:
        expression = parsed_expression(evaluate_task_attributes, "EvaluateTaskAttributes")
        # The attributes are encrypted at rest: the database cannot filter on them.
        keep = partial(attributes_match, call, expression)
    query = in_workspace(Task, workspace_sid)
    if assignment_status:
        # Repeated, or comma-separated as many scripts send it.
        statuses = {s.strip() for value in assignment_status for s in value.split(",") if s.strip()}
        unknown = sorted(statuses - set(TASK_STATUSES))
        if unknown:
            raise invalid("AssignmentStatus", f"{', '.join(unknown)} is not one of {', '.join(TASK_STATUSES)}")
        query = query.where(col(Task.assignment_status).in_(statuses))
    if workflow_sid is not None:
        query = query.where(Task.workflow_sid == workflow_sid)
    if workflow_name is not None:
        query = query.where(col(Task.workflow_sid).in_(sids_named(RoutingWorkflow, workspace_sid, workflow_name)))
    if task_queue_sid is not None:
        query = query.where(Task.task_queue_sid == task_queue_sid)
    if task_queue_name is not None:
        query = query.where(col(Task.task_queue_sid).in_(sids_named(TaskQueue, workspace_sid, task_queue_name)))
    if priority is not None:
        query = query.where(Task.priority == priority)
    if has_addons:  # Switchboard runs no Add-ons: no task has any
        query = query.where(col(Task.sid).is_(None))
    query = query.order_by(*task_ordering(ordering))
    render = partial(task_bodies, call, session, workspace_sid)
    return await page_of(call, session, query, paging, "tasks", render, keep)


@router.get("/{workspace_sid}/Tasks/{sid}", response_model=schemas.Task, responses=error_responses(*REST_ERRORS, 404))
async def fetch_task(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    task = await load_in_workspace(session, Task, workspace_sid, sid, "Task")
    [body] = await task_bodies(call, session, workspace_sid, [task])
    return body


class TaskForm(TwilioForm):
    attributes: str | None = Field(None, alias="Attributes", max_length=32768)
    workflow_sid: str | None = Field(None, alias="WorkflowSid")
    task_channel: str | None = Field(None, alias="TaskChannel")
    priority: int | None = Field(None, alias="Priority", ge=0, le=2**31 - 1)
    timeout: int | None = Field(None, alias="Timeout", ge=1, le=365 * 86400)
    assignment_status: str | None = Field(None, alias="AssignmentStatus")
    reason: str | None = Field(None, alias="Reason", max_length=1024)


def attributes_text(value: str | None) -> str:
    text = value or "{}"
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise invalid("Attributes", f"must be valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise invalid("Attributes", "must be a JSON object")
    return text


@router.post(
    "/{workspace_sid}/Tasks",
    status_code=201,
    response_model=schemas.Task,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def create_task(
    call: CallDep, session: SessionDep, workspace_sid: str, form: Annotated[TaskForm, Form()]
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    workflow_sid = form.workflow_sid
    if workflow_sid is None:
        # Twilio picks the workspace's workflow when there is exactly one.
        flows = (await session.exec(in_workspace(RoutingWorkflow, workspace_sid))).all()
        if len(flows) != 1:
            raise invalid("WorkflowSid", "is required when the workspace has more than one workflow")
        workflow_sid = flows[0].sid
    new = NewTask(
        sids.new_sid(sids.TASK),
        workflow_sid,
        form.task_channel or "default",
        attributes_text(form.attributes),
        form.priority or 0,
        form.timeout or 86400,
    )
    result = await routed(call.context.routing.create_task(workspace_sid, new))
    return await fetch_task(call, session, workspace_sid, result.task_sid or new.task_sid)


@router.post(
    "/{workspace_sid}/Tasks/{sid}", response_model=schemas.Task, responses=error_responses(*REST_ERRORS, 404, 409, 503)
)
async def update_task(
    call: CallDep, session: SessionDep, workspace_sid: str, sid: str, form: Annotated[TaskForm, Form()]
) -> dict[str, Any]:
    await load_in_workspace(session, Task, workspace_sid, sid, "Task")
    if form.assignment_status not in (None, "canceled", "wrapping", "completed"):
        raise invalid("AssignmentStatus", "must be canceled, wrapping or completed")
    change = TaskChange(
        sid,
        form.assignment_status,
        form.reason,
        attributes_text(form.attributes) if form.attributes is not None else None,
        form.priority,
    )
    await routed(call.context.routing.change_task(workspace_sid, change))
    await session.commit()  # end the read transaction: the router wrote the row
    return await fetch_task(call, session, workspace_sid, sid)


@router.delete("/{workspace_sid}/Tasks/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404, 409, 503))
async def delete_task(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> Response:
    """A live task is canceled first, so no worker keeps it."""
    task = await load_in_workspace(session, Task, workspace_sid, sid, "Task")
    if task.assignment_status in LIVE_TASK_STATUSES:
        change = TaskChange(sid, "canceled", "deleted")
        await routed(call.context.routing.change_task(workspace_sid, change))
        await session.commit()
        task = await load_in_workspace(session, Task, workspace_sid, sid, "Task")
    await session.delete(task)
    await session.commit()
    return Response(status_code=204)
