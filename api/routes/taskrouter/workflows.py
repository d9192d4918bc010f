"""TaskRouter Workflows (create, list, fetch, update, delete), with their configuration checked
against Twilio's fields (any other is refused by name), the workspace's task queues and the
expression language."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlmodel import select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    apply_given,
    apply_given_urls,
    deleted,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    parsed_expression,
    refuse_while_active_tasks,
    required,
    save,
    statistics_links,
    workspace_url,
)
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso
from switchboard.store.models import RoutingWorkflow, Task, TaskQueue
from workflows import sids
from workflows.routing.expressions import time_zone
from workflows.routing.placement import KNOWN_WORKER_FIELDS, order_clauses

router = APIRouter(prefix=WORKSPACES_PATH)


class WorkflowForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    configuration: str | None = Field(None, alias="Configuration", max_length=65536)
    assignment_callback_url: str | None = Field(None, alias="AssignmentCallbackUrl", max_length=2048)
    fallback_assignment_callback_url: str | None = Field(None, alias="FallbackAssignmentCallbackUrl", max_length=2048)
    task_reservation_timeout: int | None = Field(None, alias="TaskReservationTimeout", ge=1, le=86400)


def configured_queues(configuration: str) -> set[str]:
    """The queue SIDs a stored configuration targets."""
    routing = json.loads(configuration).get("task_routing", {})
    targets = [t for f in routing.get("filters") or [] for t in f.get("targets") or []]
    if isinstance(routing.get("default_filter"), dict):
        targets.append(routing["default_filter"])
    return {t["queue"] for t in targets if isinstance(t, dict) and isinstance(t.get("queue"), str)}


# Every field of Twilio's workflow configuration document; any other is refused, by name.
ROUTING_FIELDS = ("filters", "default_filter")
# ``time_zone`` is Switchboard's: the zone the filter's time of day variables read in.
FILTER_FIELDS = ("filter_friendly_name", "expression", "targets", "time_zone")
TARGET_FIELDS = ("queue", "expression", "priority", "timeout", "order_by", "skip_if", *KNOWN_WORKER_FIELDS)
# A task attribute, as known-worker targets name one: "task.agent_sid", "task.customer.agent".
TASK_ATTRIBUTE = re.compile(r"task(\.[A-Za-z_][\w-]*)+")


def refuse_unknown_fields(item: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for name in item:
        if name not in known:
            raise invalid("Configuration", f"{where}.{name} is not a workflow configuration field")


def check_queue(queue: Any, where: str, workspace_sid: str, queues: set[str]) -> None:
    if not isinstance(queue, str) or not queue:
        raise invalid("Configuration", f"{where} has no queue (a TaskQueue SID)")
    if not sids.is_sid(queue, sids.TASK_QUEUE):
        raise invalid("Configuration", f"{where} queue {queue!r} is not a TaskQueue SID (WQ followed by 32 hex digits)")
    if queue not in queues:
        raise invalid("Configuration", f"{where} queue {queue} is not a TaskQueue of workspace {workspace_sid}")


def check_target(target: Any, where: str, workspace_sid: str, queues: set[str], *, inherits_queue: bool) -> None:
    """A filter target: its fields are Twilio's, its queue (if given) is this workspace's, its
    expressions parse. Without a queue it keeps the queue of the target before it, or takes the
    default filter's (``inherits_queue``: there is one of those)."""

    def problem(text: str) -> TwilioError:
        return invalid("Configuration", f"{where}{text}")

    if not isinstance(target, dict):
        raise problem(" must be an object")
    refuse_unknown_fields(target, TARGET_FIELDS, where)
    if target.get("queue") is not None or not inherits_queue:
        if target.get("queue") is None:
            raise problem(" has no queue (a TaskQueue SID), and no default_filter to take one from")
        check_queue(target["queue"], where, workspace_sid, queues)
    for name in ("priority", "timeout"):
        value = target.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise problem(f".{name} must be a non-negative integer")
    for name in ("expression", "skip_if", "order_by", *KNOWN_WORKER_FIELDS):
        if target.get(name) is not None and not isinstance(target[name], str):
            raise problem(f".{name} must be a string")
    for name in ("expression", "skip_if"):
        if target.get(name) is not None:
            parsed_expression(target[name], "Configuration", f"{where}.{name}")
    if target.get("order_by"):
        try:
            order_clauses(target["order_by"])
        except ValueError as exc:
            raise problem(f".order_by: {exc}") from None
    named = [name for name in KNOWN_WORKER_FIELDS if target.get(name) is not None]
    if len(named) > 1:
        raise problem(": give known_worker_sid or known_worker_friendly_name, not both")
    for name in named:
        if not TASK_ATTRIBUTE.fullmatch(target[name]):
            raise problem(f".{name} must name a task attribute, such as 'task.last_agent_sid'")


def checked_configuration(text: str, workspace_sid: str, queues: set[str]) -> str:
    """The configuration as given, once it is a task_routing object of Twilio's fields only, whose
    every queue is a TaskQueue of this workspace and whose every expression parses. It is stored
    as written."""
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise invalid("Configuration", f"must be JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("task_routing"), dict):
        raise invalid("Configuration", 'must be a JSON object with a "task_routing" object')
    for name in config:
        if name != "task_routing":
            raise invalid("Configuration", f"{name} is not a workflow configuration field")
    routing = config["task_routing"]
    refuse_unknown_fields(routing, ROUTING_FIELDS, "task_routing")
    default = routing.get("default_filter")
    filters = routing.get("filters", [])
    if not isinstance(filters, list):
        raise invalid("Configuration", "task_routing.filters must be a list")
    for index, item in enumerate(filters):
        where = f"task_routing.filters[{index}]"
        if not isinstance(item, dict):
            raise invalid("Configuration", f"{where} must be an object")
        refuse_unknown_fields(item, FILTER_FIELDS, where)
        for name in ("expression", "filter_friendly_name", "time_zone"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise invalid("Configuration", f"{where}.{name} must be a string")
        if item.get("time_zone") is not None:
            try:
                time_zone(item["time_zone"])
            except ValueError as unknown:
                raise invalid("Configuration", f"{where}.time_zone: {unknown}") from unknown
        if item.get("expression") is not None:
            parsed_expression(item["expression"], "Configuration", f"{where}.expression")
        targets = item.get("targets")
        if not isinstance(targets, list) or not targets:
            raise invalid("Configuration", f"{where}.targets must be a non-empty list")
        for t_index, target in enumerate(targets):
            inherits = t_index > 0 or default is not None
            check_target(target, f"{where}.targets[{t_index}]", workspace_sid, queues, inherits_queue=inherits)
    if default is not None:
        if not isinstance(default, dict):
            raise invalid("Configuration", "task_routing.default_filter must be an object with a queue")
        # The default filter is a queue alone: Twilio's takes no timeout, and no other field acts there.
        refuse_unknown_fields(default, ("queue",), "task_routing.default_filter")
        check_queue(default.get("queue"), "task_routing.default_filter", workspace_sid, queues)
    return text


async def workspace_queues(session: SessionDep, workspace_sid: str) -> set[str]:
    query = select(TaskQueue.sid).where(TaskQueue.workspace_sid == workspace_sid)
    return set((await session.exec(query)).all())


def render_workflow(call: RestCall, routing: RoutingWorkflow) -> dict[str, Any]:
    ws_url = workspace_url(call, routing.workspace_sid)
    url = f"{ws_url}/Workflows/{routing.sid}"
    return {
        "account_sid": call.account_sid,
        "assignment_callback_url": routing.assignment_callback_url,
        "configuration": routing.configuration,
        "date_created": iso(routing.date_created),
        "date_updated": iso(routing.date_updated),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": routing.fallback_assignment_callback_url,
        "friendly_name": routing.friendly_name,
        "sid": routing.sid,
        "task_reservation_timeout": routing.task_reservation_timeout,
        "workspace_sid": routing.workspace_sid,
        "url": url,
        "links": {**statistics_links(url), "workspace": ws_url},
    }


async def load_workflow(session: SessionDep, workspace_sid: str, sid: str) -> RoutingWorkflow:
    return await load_in_workspace(session, RoutingWorkflow, workspace_sid, sid, "Workflow")


async def apply_workflow_form(session: SessionDep, routing: RoutingWorkflow, form: WorkflowForm) -> None:
    if form.configuration is not None:
        queues = await workspace_queues(session, routing.workspace_sid)
        routing.configuration = checked_configuration(form.configuration, routing.workspace_sid, queues)
    apply_given_urls(routing, form, "assignment_callback_url", "fallback_assignment_callback_url")
    apply_given(routing, form, "friendly_name", "task_reservation_timeout")


@router.post(
    "/{workspace_sid}/Workflows",
    status_code=201,
    response_model=schemas.Workflow,
    responses=error_responses(*REST_ERRORS, 404),
)
async def create_workflow(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[WorkflowForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    friendly_name = required(form.friendly_name, "FriendlyName")
    required(form.configuration, "Configuration")  # checked, and set, with the rest of the form
    routing = RoutingWorkflow(
        sid=sids.new_sid(sids.WORKFLOW), workspace_sid=workspace_sid, friendly_name=friendly_name, configuration="{}"
    )
    await apply_workflow_form(session, routing, form)
    await save(session, routing)
    return render_workflow(call, routing)


@router.get(
    "/{workspace_sid}/Workflows", response_model=schemas.WorkflowPage, responses=error_responses(*REST_ERRORS, 404)
)
async def list_workflows(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = in_workspace(RoutingWorkflow, workspace_sid)
    if friendly_name is not None:
        query = query.where(RoutingWorkflow.friendly_name == friendly_name)
    query = query.order_by(*oldest_first(RoutingWorkflow))
    return await call.offset_page(session, query, paging, "workflows", render_workflow)


@router.get(
    "/{workspace_sid}/Workflows/{sid}", response_model=schemas.Workflow, responses=error_responses(*REST_ERRORS, 404)
)
async def fetch_workflow(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_workflow(call, await load_workflow(session, workspace_sid, sid))


@router.post(
    "/{workspace_sid}/Workflows/{sid}",
    response_model=schemas.Workflow,
    responses=error_responses(*REST_ERRORS, 404, 503),
)
async def update_workflow(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[WorkflowForm, Form()],
) -> dict[str, Any]:
    routing = await load_workflow(session, workspace_sid, sid)
    await apply_workflow_form(session, routing, form)
    await save(session, routing)
    await call.context.routing.refresh(workspace_sid)  # the router routes by the new configuration at once
    return render_workflow(call, routing)


@router.delete("/{workspace_sid}/Workflows/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_workflow(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    routing = await load_workflow(session, workspace_sid, sid)
    await refuse_while_active_tasks(session, f"Workflow {sid}", Task.workflow_sid == sid)
    return await deleted(session, routing)
