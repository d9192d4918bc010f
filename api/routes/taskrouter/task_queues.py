"""TaskRouter TaskQueues (create, list, fetch, update, delete), with their TargetWorkers expression
checked, and listed by the worker attributes they target."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.activities import activity_names, apply_activity_sids
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    QueueOrder,
    apply_given,
    deleted,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    page_of,
    parsed_expression,
    required,
    save,
    statistics_links,
    workspace_url,
)
from api.routes.taskrouter.workflows import configured_queues
from api.routing_state import WorkerDirectory
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso
from switchboard.store.models import RoutingWorkflow, TaskQueue, Worker
from workflows import sids
from workflows.routing.expressions import ExpressionError, parse_expression

router = APIRouter(prefix=WORKSPACES_PATH)


class TaskQueueForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    target_workers: str | None = Field(None, alias="TargetWorkers", max_length=4096)
    max_reserved_workers: int | None = Field(None, alias="MaxReservedWorkers", ge=1, le=50)
    task_order: QueueOrder | None = Field(None, alias="TaskOrder")
    reservation_activity_sid: str | None = Field(None, alias="ReservationActivitySid")
    assignment_activity_sid: str | None = Field(None, alias="AssignmentActivitySid")


def render_task_queue(call: RestCall, queue: TaskQueue, names: dict[str, str]) -> dict[str, Any]:
    ws_url = workspace_url(call, queue.workspace_sid)
    url = f"{ws_url}/TaskQueues/{queue.sid}"

    def activity_url(sid: str | None) -> str | None:
        return f"{ws_url}/Activities/{sid}" if sid else None

    return {
        "account_sid": call.account_sid,
        "assignment_activity_sid": queue.assignment_activity_sid,
        "assignment_activity_name": names.get(queue.assignment_activity_sid or ""),
        "date_created": iso(queue.date_created),
        "date_updated": iso(queue.date_updated),
        "friendly_name": queue.friendly_name,
        "max_reserved_workers": queue.max_reserved_workers,
        "reservation_activity_sid": queue.reservation_activity_sid,
        "reservation_activity_name": names.get(queue.reservation_activity_sid or ""),
        "sid": queue.sid,
        "target_workers": queue.target_workers,
        "task_order": queue.task_order,
        "url": url,
        "workspace_sid": queue.workspace_sid,
        "links": {
            "assignment_activity": activity_url(queue.assignment_activity_sid),
            "reservation_activity": activity_url(queue.reservation_activity_sid),
            "workspace": ws_url,
            **statistics_links(url),
            "list_statistics": f"{ws_url}/TaskQueues/Statistics",
            "bulk_real_time_statistics": f"{ws_url}/TaskQueues/RealTimeStatistics",
        },
    }


async def task_queue_bodies(call: RestCall, session: SessionDep, queues: Sequence[TaskQueue]) -> list[dict[str, Any]]:
    """The queues rendered, with the names of their activities looked up at once."""
    names = await activity_names(
        session, [s for q in queues for s in (q.reservation_activity_sid, q.assignment_activity_sid)]
    )
    return [render_task_queue(call, q, names) for q in queues]


async def task_queue_body(call: RestCall, session: SessionDep, queue: TaskQueue) -> dict[str, Any]:
    [body] = await task_queue_bodies(call, session, [queue])
    return body


async def load_task_queue(session: SessionDep, workspace_sid: str, sid: str) -> TaskQueue:
    return await load_in_workspace(session, TaskQueue, workspace_sid, sid, "TaskQueue")


async def apply_task_queue_form(session: SessionDep, queue: TaskQueue, form: TaskQueueForm) -> None:
    await apply_activity_sids(
        session, queue.workspace_sid, queue, form, "reservation_activity_sid", "assignment_activity_sid"
    )
    if form.target_workers is not None:
        parsed_expression(form.target_workers, "TargetWorkers")
    apply_given(queue, form, "friendly_name", "target_workers", "max_reserved_workers", "task_order")


def targets(queue: TaskQueue, worker_attributes: dict[str, Any]) -> bool:
    """Whether the queue's TargetWorkers matches a worker of these attributes (an expression stored
    before expressions were checked, that does not parse, matches no one)."""
    try:
        expression = parse_expression(queue.target_workers)
    except ExpressionError:
        return False
    return expression.evaluate(worker_attributes)


@router.post(
    "/{workspace_sid}/TaskQueues",
    status_code=201,
    response_model=schemas.TaskQueue,
    responses=error_responses(*REST_ERRORS, 404),
)
async def create_task_queue(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[TaskQueueForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    friendly_name = required(form.friendly_name, "FriendlyName")
    queue = TaskQueue(sid=sids.new_sid(sids.TASK_QUEUE), workspace_sid=workspace_sid, friendly_name=friendly_name)
    await apply_task_queue_form(session, queue, form)
    await save(session, queue)
    return await task_queue_body(call, session, queue)


@router.get(
    "/{workspace_sid}/TaskQueues", response_model=schemas.TaskQueuePage, responses=error_responses(*REST_ERRORS, 404)
)
async def list_task_queues(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    worker_sid: Annotated[str | None, Query(alias="WorkerSid")] = None,
    evaluate_worker_attributes: Annotated[str | None, Query(alias="EvaluateWorkerAttributes")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    checks: list[Callable[[TaskQueue], bool]] = []
    if worker_sid is not None:
        worker = await session.get(Worker, worker_sid)
        if worker is None or worker.workspace_sid != workspace_sid:
            raise invalid("WorkerSid", f"worker {worker_sid} is not in workspace {workspace_sid}")
        directory = await WorkerDirectory.load(call.context, session, workspace_sid)
        checks.append(lambda queue: directory.in_queue(queue, worker))
    if evaluate_worker_attributes is not None:
        try:
            attributes = json.loads(evaluate_worker_attributes)
        except ValueError as exc:
            raise invalid("EvaluateWorkerAttributes", f"must be JSON ({exc})") from exc
        if not isinstance(attributes, dict):
            raise invalid("EvaluateWorkerAttributes", "must be a JSON object of worker attributes")
        checks.append(partial(targets, worker_attributes=attributes))
    keep = (lambda queue: all(check(queue) for check in checks)) if checks else None
    query = in_workspace(TaskQueue, workspace_sid)
    if friendly_name is not None:
        query = query.where(TaskQueue.friendly_name == friendly_name)
    query = query.order_by(*oldest_first(TaskQueue))
    render = partial(task_queue_bodies, call, session)
    return await page_of(call, session, query, paging, "task_queues", render, keep)


@router.get(
    "/{workspace_sid}/TaskQueues/{sid}", response_model=schemas.TaskQueue, responses=error_responses(*REST_ERRORS, 404)
)
async def fetch_task_queue(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return await task_queue_body(call, session, await load_task_queue(session, workspace_sid, sid))


@router.post(
    "/{workspace_sid}/TaskQueues/{sid}",
    response_model=schemas.TaskQueue,
    responses=error_responses(*REST_ERRORS, 404, 503),
)
async def update_task_queue(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[TaskQueueForm, Form()],
) -> dict[str, Any]:
    queue = await load_task_queue(session, workspace_sid, sid)
    await apply_task_queue_form(session, queue, form)
    await save(session, queue)
    await call.context.routing.refresh(workspace_sid)  # the router routes by the new targets at once
    return await task_queue_body(call, session, queue)


@router.delete("/{workspace_sid}/TaskQueues/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_task_queue(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    queue = await load_task_queue(session, workspace_sid, sid)
    workflows = (await session.exec(in_workspace(RoutingWorkflow, workspace_sid))).all()
    users = [w.sid for w in workflows if sid in configured_queues(w.configuration)]
    if users:
        raise TwilioError(400, f"TaskQueue {sid} is a target of Workflow {', '.join(users)}")
    return await deleted(session, queue)
