"""Studio v2: Flows with their immutable revisions, flow validation, and Executions with their
steps and contexts.

Definitions are checked with ``workflows.studio.definition``; a definition with errors (what
Twilio's Flow API refuses too) is refused (400 naming the state and the problem); what Twilio saves
but Switchboard cannot fully run (other widgets, Liquid that does not parse, unmapped functions,
Conversations triggers) is saved with warnings.
Executions run inside the contact's channel workflow: creating one is an update-with-start on the
channel of the Flex Flow that speaks from ``From``; their rows and steps are written by the
workflow's activities and only read here (or marked ended when the workflow no longer runs them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Form, Query, Response
from pydantic import Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.channels import contact_config, on_contact_channel
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas import studio as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import SERVICE_UNAVAILABLE, TwilioError, TwilioForm, invalid, iso, not_found, parse_date
from switchboard.store.models import FlexFlow, StudioExecution, StudioFlow, StudioFlowRevision, StudioStep, utcnow
from workflows import sids
from workflows.messages import ChannelConfig
from workflows.studio.definition import MAX_DEFINITION_CHARS, CheckedDefinition, parse_definition
from workflows.studio.messages import ExecutionStarted, StartExecution

router = APIRouter(prefix="/v2/Flows", tags=["studio"], dependencies=[Depends(require_account)])

FLOW = "FW"
# Twilio's code for a conflicting execution (the contact already has one running).
EXECUTION_CONFLICT = 20409

FlowStatus = Literal["draft", "published"]
ExecutionStatus = Literal["active", "ended"]

# Encrypted columns, each bound to its "<table>.<column>" (the activities seal them the same way).
EXECUTION_ADDRESS = "studio_execution.contact_channel_address"
EXECUTION_CONTEXT = "studio_execution.context"
STEP_CONTEXT = "studio_step.context"


# --- flows ------------------------------------------------------------------------------------


class CreateFlowForm(TwilioForm):
    """Create and Validate: name, status and definition are required, as in Twilio."""

    friendly_name: str = Field(alias="FriendlyName", min_length=1, max_length=256)
    status: FlowStatus = Field(alias="Status")
    definition: str = Field(alias="Definition", max_length=MAX_DEFINITION_CHARS)
    commit_message: str | None = Field(None, alias="CommitMessage", max_length=1024)


class UpdateFlowForm(TwilioForm):
    """Update: Status is required; every update makes a new revision."""

    status: FlowStatus = Field(alias="Status")
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=256)
    definition: str | None = Field(None, alias="Definition", max_length=MAX_DEFINITION_CHARS)
    commit_message: str | None = Field(None, alias="CommitMessage", max_length=1024)


def checked_definition(call: RestCall, text: str) -> CheckedDefinition:
    """The checked definition of ``text``, or a 400 naming each problem (state and message)."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise invalid("Definition", f"must be a JSON object ({exc})") from exc
    checked = parse_definition(raw, call.context.settings.function_urls)
    if checked.errors:
        raise invalid("Definition", "; ".join(str(problem) for problem in checked.errors))
    return checked


def flow_url(call: RestCall, flow_sid: str) -> str:
    return f"{call.url('')}/v2/Flows/{flow_sid}"


def flow_links(call: RestCall, flow_sid: str) -> dict[str, str]:
    url = flow_url(call, flow_sid)
    return {"test_users": f"{url}/TestUsers", "revisions": f"{url}/Revisions", "executions": f"{url}/Executions"}


def render_flow(call: RestCall, flow: StudioFlow, revision: StudioFlowRevision | None = None) -> dict[str, Any]:
    """A flow; with its latest revision for instances, without (nulls, as Twilio's lists) in lists."""
    url = flow_url(call, flow.sid)
    return {
        "sid": flow.sid,
        "account_sid": call.account_sid,
        "author_sid": None,
        "friendly_name": flow.friendly_name,
        "definition": json.loads(revision.definition_json) if revision else None,
        "status": flow.status,
        "revision": flow.revision,
        "commit_message": revision.commit_message if revision else None,
        "valid": revision.valid if revision else None,
        "errors": json.loads(revision.errors_json) if revision else None,
        "warnings": json.loads(revision.warnings_json) if revision else None,
        "webhook_url": f"{url}/Executions",
        "date_created": iso(flow.date_created),
        "date_updated": iso(flow.date_updated),
        "url": url,
        "links": flow_links(call, flow.sid),
    }


def render_list_flow(call: RestCall, flow: StudioFlow) -> dict[str, Any]:
    return render_flow(call, flow)


def render_revision(call: RestCall, revision: StudioFlowRevision, *, full: bool = True) -> dict[str, Any]:
    return {
        "sid": revision.flow_sid,
        "account_sid": call.account_sid,
        "author_sid": None,
        "friendly_name": revision.friendly_name,
        "definition": json.loads(revision.definition_json) if full else None,
        "status": revision.status,
        "revision": revision.revision,
        "commit_message": revision.commit_message,
        "valid": revision.valid if full else None,
        "errors": json.loads(revision.errors_json) if full else None,
        "date_created": iso(revision.date_created),
        "date_updated": iso(revision.date_updated),
        "url": f"{flow_url(call, revision.flow_sid)}/Revisions/{revision.revision}",
    }


def render_list_revision(call: RestCall, revision: StudioFlowRevision) -> dict[str, Any]:
    return render_revision(call, revision, full=False)


def new_revision(
    flow: StudioFlow, number: int, definition_text: str, checked: CheckedDefinition, commit_message: str | None
) -> StudioFlowRevision:
    return StudioFlowRevision(
        flow_sid=flow.sid,
        revision=number,
        friendly_name=flow.friendly_name,
        status=flow.status,
        commit_message=commit_message,
        definition_json=definition_text,
        valid=checked.valid,
        errors_json=json.dumps([problem.to_json() for problem in checked.errors]),
        warnings_json=json.dumps([problem.to_json() for problem in checked.warnings]),
    )


async def load_flow(session: SessionDep, flow_sid: str) -> StudioFlow:
    flow = await session.get(StudioFlow, flow_sid)
    if flow is None:
        raise not_found("Flow", flow_sid)
    return flow


async def latest_revision(session: SessionDep, flow: StudioFlow) -> StudioFlowRevision:
    revision = await session.get(StudioFlowRevision, (flow.sid, flow.revision))
    if revision is None:  # written in the same transaction as the flow
        raise TwilioError(500, f"flow {flow.sid} has lost its revision {flow.revision}", 20500)
    return revision


# Declared before "/{flow_sid}" so that "Validate" is not taken for a flow SID.
@router.post("/Validate", response_model=schemas.FlowValidation, responses=error_responses(*REST_ERRORS))
async def validate_flow(call: CallDep, form: Annotated[CreateFlowForm, Form()]) -> dict[str, Any]:
    checked_definition(call, form.definition)
    return {"valid": True}


@router.post("", status_code=201, response_model=schemas.Flow, responses=error_responses(*REST_ERRORS))
async def create_flow(
    call: CallDep,
    session: SessionDep,
    form: Annotated[CreateFlowForm, Form()],
) -> dict[str, Any]:
    checked = checked_definition(call, form.definition)
    flow = StudioFlow(sid=sids.new_sid(FLOW), friendly_name=form.friendly_name, status=form.status, revision=1)
    revision = new_revision(flow, 1, form.definition, checked, form.commit_message)
    session.add(flow)
    await session.flush()  # the flow row before the revision that refers to it
    session.add(revision)
    await session.commit()
    return render_flow(call, flow, revision)


@router.get("", response_model=schemas.FlowPage, responses=error_responses(*REST_ERRORS))
async def list_flows(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = select(StudioFlow).order_by(col(StudioFlow.date_created), col(StudioFlow.sid))
    return await call.offset_page(session, query, paging, "flows", render_list_flow)


@router.get("/{flow_sid}", response_model=schemas.Flow, responses=error_responses(*REST_ERRORS, 404))
async def fetch_flow(call: CallDep, session: SessionDep, flow_sid: str) -> dict[str, Any]:
    flow = await load_flow(session, flow_sid)
    return render_flow(call, flow, await latest_revision(session, flow))


@router.post("/{flow_sid}", response_model=schemas.Flow, responses=error_responses(*REST_ERRORS, 404, 409))
async def update_flow(
    call: CallDep,
    session: SessionDep,
    flow_sid: str,
    form: Annotated[UpdateFlowForm, Form()],
) -> dict[str, Any]:
    flow = await load_flow(session, flow_sid)
    previous = await latest_revision(session, flow)
    definition_text = form.definition if form.definition is not None else previous.definition_json
    checked = checked_definition(call, definition_text)
    flow.status = form.status
    if form.friendly_name is not None:
        flow.friendly_name = form.friendly_name
    flow.revision = previous.revision + 1
    flow.date_updated = utcnow()
    revision = new_revision(flow, flow.revision, definition_text, checked, form.commit_message)
    session.add(flow)
    session.add(revision)
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent update took this revision number
        await session.rollback()
        raise TwilioError(409, f"flow {flow_sid} was changed concurrently; retry the update", 20409) from exc
    return render_flow(call, flow, revision)


@router.delete("/{flow_sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404, 409))
async def delete_flow(session: SessionDep, flow_sid: str) -> Response:
    """Deletes the flow with its revisions and its ended executions; refused while any execution
    of it is active (end those first with ``Status=ended``)."""
    flow = await load_flow(session, flow_sid)
    active = select(StudioExecution.sid).where(StudioExecution.flow_sid == flow.sid, StudioExecution.status == "active")
    running = (await session.exec(active)).first()
    if running is not None:
        raise TwilioError(
            409,
            f"flow {flow.sid} has active executions (e.g. {running}); end them (Status=ended) before deleting it",
            EXECUTION_CONFLICT,
        )
    await session.exec(delete(StudioStep).where(col(StudioStep.flow_sid) == flow.sid))
    await session.exec(delete(StudioExecution).where(col(StudioExecution.flow_sid) == flow.sid))
    await session.exec(delete(StudioFlowRevision).where(col(StudioFlowRevision.flow_sid) == flow.sid))
    await session.delete(flow)
    await session.commit()
    return Response(status_code=204)


# --- revisions --------------------------------------------------------------------------------


@router.get(
    "/{flow_sid}/Revisions", response_model=schemas.FlowRevisionPage, responses=error_responses(*REST_ERRORS, 404)
)
async def list_revisions(call: CallDep, session: SessionDep, flow_sid: str, paging: PagingDep) -> dict[str, Any]:
    flow = await load_flow(session, flow_sid)
    query = (
        select(StudioFlowRevision)
        .where(StudioFlowRevision.flow_sid == flow.sid)
        .order_by(col(StudioFlowRevision.revision).desc())
    )
    return await call.offset_page(session, query, paging, "revisions", render_list_revision)


@router.get(
    "/{flow_sid}/Revisions/{revision}",
    response_model=schemas.FlowRevision,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_revision(call: CallDep, session: SessionDep, flow_sid: str, revision: str) -> dict[str, Any]:
    """A revision by number, or ``LatestPublished`` / ``LatestRevision``."""
    flow = await load_flow(session, flow_sid)
    row: StudioFlowRevision | None
    if revision == "LatestRevision":
        row = await session.get(StudioFlowRevision, (flow.sid, flow.revision))
    elif revision == "LatestPublished":
        query = (
            select(StudioFlowRevision)
            .where(StudioFlowRevision.flow_sid == flow.sid, StudioFlowRevision.status == "published")
            .order_by(col(StudioFlowRevision.revision).desc())
        )
        row = (await session.exec(query.limit(1))).first()
    elif revision.isascii() and revision.isdigit() and len(revision) <= 9:
        row = await session.get(StudioFlowRevision, (flow.sid, int(revision)))
    else:
        raise invalid("Revision", "must be a revision number, LatestPublished or LatestRevision")
    if row is None:
        raise not_found("FlowRevision", f"{flow.sid}/{revision}")
    return render_revision(call, row)


# --- executions -------------------------------------------------------------------------------


class CreateExecutionForm(TwilioForm):
    to: str = Field(alias="To", min_length=1, max_length=256)
    from_: str = Field(alias="From", min_length=1, max_length=256)
    parameters: str | None = Field(None, alias="Parameters", max_length=65536)


class UpdateExecutionForm(TwilioForm):
    status: ExecutionStatus = Field(alias="Status")


class ExecutionStarter(Protocol):
    """What starting an execution needs of ``workflows.starter.ChannelClient``."""

    async def start_execution(self, config: ChannelConfig, start: StartExecution) -> ExecutionStarted: ...


def parse_parameters(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise invalid("Parameters", f"must be a JSON object ({exc})") from exc
    if not isinstance(value, dict):
        raise invalid("Parameters", f"must be a JSON object, not {type(value).__name__}")
    return value


def execution_failure(exc: WorkflowUpdateFailedError) -> TwilioError:
    """Twilio's error for a channel workflow that refused to start an execution."""
    cause = exc.cause
    kind = cause.type if isinstance(cause, ApplicationError) else None
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    if kind == "ExecutionActive":
        return TwilioError(
            409, f"the contact already has an active execution; end it before starting another ({message})", 20409
        )
    if kind == "FlowNotRunnable":
        return TwilioError(400, message)
    if kind == "ChannelClosed":
        return TwilioError(
            503,
            f"the contact's conversation is moving to a new channel; retry shortly ({message})",
            SERVICE_UNAVAILABLE,
        )
    return TwilioError(500, f"the channel could not start the execution: {message}", 20500)


async def start_on_contact_channel(
    channels: ExecutionStarter, config: ChannelConfig, start: StartExecution
) -> ExecutionStarted:
    """Start ``start`` on the contact's channel (or its successor, if it closed meanwhile)."""
    try:
        return await on_contact_channel(config, lambda target: channels.start_execution(target, start))
    except WorkflowUpdateFailedError as exc:
        raise execution_failure(exc) from exc


def execution_url(call: RestCall, flow_sid: str, execution_sid: str) -> str:
    return f"{flow_url(call, flow_sid)}/Executions/{execution_sid}"


def decrypted_json(call: RestCall, stored: str, column: str) -> Any:
    return json.loads(call.context.cipher.decrypt(stored, column))


def render_execution(call: RestCall, execution: StudioExecution) -> dict[str, Any]:
    url = execution_url(call, execution.flow_sid, execution.sid)
    return {
        "sid": execution.sid,
        "account_sid": call.account_sid,
        "flow_sid": execution.flow_sid,
        "contact_sid": None,
        "contact_channel_address": call.context.cipher.decrypt(
            execution.contact_channel_address_enc, EXECUTION_ADDRESS
        ),
        "context": decrypted_json(call, execution.context_enc, EXECUTION_CONTEXT),
        "flow_version": execution.flow_revision,
        "status": execution.status,
        "initiated_by": None,
        "date_created": iso(execution.date_created),
        "date_updated": iso(execution.date_updated),
        "url": url,
        "links": {"steps": f"{url}/Steps", "execution_context": f"{url}/Context"},
    }


async def load_execution(session: SessionDep, flow_sid: str, execution_sid: str) -> StudioExecution:
    execution = await session.get(StudioExecution, execution_sid)
    if execution is None or execution.flow_sid != flow_sid:
        raise not_found("Execution", execution_sid)
    return execution


async def flex_flow_speaking_from(session: SessionDep, address: str) -> FlexFlow:
    query = (
        select(FlexFlow)
        .where(FlexFlow.contact_identity == address, col(FlexFlow.enabled).is_(True))
        .order_by(col(FlexFlow.date_created), col(FlexFlow.sid))
    )
    flex_flow = (await session.exec(query.limit(1))).first()
    if flex_flow is None:
        raise invalid(
            "From",
            f"no enabled Flex Flow speaks from {address}: an execution runs on the contact's conversation "
            "of the Flex Flow whose ContactIdentity is the From address",
        )
    return flex_flow


@router.post(
    "/{flow_sid}/Executions",
    status_code=201,
    response_model=schemas.Execution,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def create_execution(
    call: CallDep,
    session: SessionDep,
    flow_sid: str,
    form: Annotated[CreateExecutionForm, Form()],
) -> dict[str, Any]:
    """Studio's REST trigger (``incomingRequest``) on the contact's current channel."""
    flow = await load_flow(session, flow_sid)
    parameters = parse_parameters(form.parameters)
    flex_flow = await flex_flow_speaking_from(session, form.from_)
    config = await contact_config(call.context, session, flex_flow, form.to)
    start = StartExecution(sids.new_sid(sids.EXECUTION), flow.sid, form.to, form.from_, parameters)
    started = await start_on_contact_channel(call.context.channels, config, start)
    execution = await session.get(StudioExecution, started.execution_sid)
    if execution is None:
        raise TwilioError(500, f"execution {started.execution_sid} started but was not recorded", 20500)
    return render_execution(call, execution)


@router.get(
    "/{flow_sid}/Executions", response_model=schemas.ExecutionPage, responses=error_responses(*REST_ERRORS, 404)
)
async def list_executions(
    call: CallDep,
    session: SessionDep,
    flow_sid: str,
    paging: PagingDep,
    date_created_from: Annotated[str | None, Query(alias="DateCreatedFrom")] = None,
    date_created_to: Annotated[str | None, Query(alias="DateCreatedTo")] = None,
    status: Annotated[ExecutionStatus | None, Query(alias="status")] = None,
    status_pascal: Annotated[ExecutionStatus | None, Query(alias="Status")] = None,
) -> dict[str, Any]:
    """Newest first."""
    flow = await load_flow(session, flow_sid)
    query = select(StudioExecution).where(StudioExecution.flow_sid == flow.sid)
    since = parse_date(date_created_from, "DateCreatedFrom")
    until = parse_date(date_created_to, "DateCreatedTo")
    if since is not None:
        query = query.where(col(StudioExecution.date_created) >= since)
    if until is not None:
        query = query.where(col(StudioExecution.date_created) <= until)
    wanted = status or status_pascal
    if wanted is not None:
        query = query.where(StudioExecution.status == wanted)
    query = query.order_by(col(StudioExecution.date_created).desc(), col(StudioExecution.sid).desc())
    return await call.offset_page(session, query, paging, "executions", render_execution)


@router.get(
    "/{flow_sid}/Executions/{execution_sid}",
    response_model=schemas.Execution,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_execution(call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str) -> dict[str, Any]:
    return render_execution(call, await load_execution(session, flow_sid, execution_sid))


async def end_execution(call: RestCall, session: SessionDep, execution: StudioExecution) -> None:
    """Ask the channel running ``execution`` to end it; when no channel runs it any more (the
    workflow is gone, closed, or does not know it), mark the row ended here."""
    if execution.status == "active" and execution.channel_sid is not None:
        try:
            await call.context.channels.end_execution(execution.channel_sid, execution.sid)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise TwilioError(503, f"could not reach the execution's channel: {exc.message}", 20503) from exc
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "ChannelClosed"):
                raise TwilioError(500, f"the channel could not end the execution: {cause}", 20500) from exc
        # The workflow records its end itself; re-read what it wrote before touching the row.
        await session.refresh(execution)
    if execution.status != "ended":
        execution.status = "ended"
        execution.date_updated = utcnow()
        session.add(execution)
        await session.commit()


@router.post(
    "/{flow_sid}/Executions/{execution_sid}",
    response_model=schemas.Execution,
    responses=error_responses(*REST_ERRORS, 404, 503),
)
async def update_execution(
    call: CallDep,
    session: SessionDep,
    flow_sid: str,
    execution_sid: str,
    form: Annotated[UpdateExecutionForm, Form()],
) -> dict[str, Any]:
    """Only ``Status=ended`` is allowed: it ends a running execution."""
    if form.status != "ended":
        raise invalid("Status", "an execution can only be updated to ended")
    execution = await load_execution(session, flow_sid, execution_sid)
    await end_execution(call, session, execution)
    return render_execution(call, execution)


@router.delete(
    "/{flow_sid}/Executions/{execution_sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404, 503)
)
async def delete_execution(call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str) -> Response:
    """Ends the execution if it is still active, then deletes it with its steps."""
    execution = await load_execution(session, flow_sid, execution_sid)
    await end_execution(call, session, execution)
    await session.exec(delete(StudioStep).where(col(StudioStep.execution_sid) == execution.sid))
    await session.delete(execution)
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/{flow_sid}/Executions/{execution_sid}/Context",
    response_model=schemas.ExecutionContext,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_execution_context(
    call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str
) -> dict[str, Any]:
    execution = await load_execution(session, flow_sid, execution_sid)
    return {
        "account_sid": call.account_sid,
        "context": decrypted_json(call, execution.context_enc, EXECUTION_CONTEXT),
        "flow_sid": execution.flow_sid,
        "execution_sid": execution.sid,
        "url": f"{execution_url(call, execution.flow_sid, execution.sid)}/Context",
    }


# --- steps ------------------------------------------------------------------------------------


async def widget_types(session: SessionDep, execution: StudioExecution) -> dict[str, str]:
    """State name -> widget type in the revision the execution runs (a step's ``type``)."""
    revision = await session.get(StudioFlowRevision, (execution.flow_sid, execution.flow_revision))
    if revision is None:
        return {}
    try:
        states: Sequence[Any] = json.loads(revision.definition_json).get("states") or []
    except (ValueError, AttributeError):
        return {}
    return {
        state["name"]: state["type"]
        for state in states
        if isinstance(state, dict) and isinstance(state.get("name"), str) and isinstance(state.get("type"), str)
    }


def render_step(call: RestCall, step: StudioStep, types: dict[str, str]) -> dict[str, Any]:
    url = f"{execution_url(call, step.flow_sid, step.execution_sid)}/Steps/{step.sid}"
    return {
        "sid": step.sid,
        "account_sid": call.account_sid,
        "flow_sid": step.flow_sid,
        "execution_sid": step.execution_sid,
        "parent_step_sid": None,
        "name": step.name,
        "context": decrypted_json(call, step.context_enc, STEP_CONTEXT),
        "transitioned_from": step.transitioned_from,
        "transitioned_to": step.transitioned_to,
        # A step is named after its event; the widget that ran is the one it transitioned from.
        "type": types.get(step.transitioned_from),
        "date_created": iso(step.date_created),
        "date_updated": iso(step.date_updated),
        "url": url,
        "links": {"step_context": f"{url}/Context"},
    }


async def load_step(
    session: SessionDep, flow_sid: str, execution_sid: str, step_sid: str
) -> tuple[StudioExecution, StudioStep]:
    execution = await load_execution(session, flow_sid, execution_sid)
    step = await session.get(StudioStep, step_sid)
    if step is None or step.execution_sid != execution.sid:
        raise not_found("ExecutionStep", step_sid)
    return execution, step


@router.get(
    "/{flow_sid}/Executions/{execution_sid}/Steps",
    response_model=schemas.StepPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_steps(
    call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str, paging: PagingDep
) -> dict[str, Any]:
    """In the order the steps ran."""
    execution = await load_execution(session, flow_sid, execution_sid)
    types = await widget_types(session, execution)
    query = (
        select(StudioStep)
        .where(StudioStep.execution_sid == execution.sid)
        .order_by(col(StudioStep.position), col(StudioStep.sid))
    )
    return await call.offset_page(session, query, paging, "steps", lambda c, step: render_step(c, step, types))


@router.get(
    "/{flow_sid}/Executions/{execution_sid}/Steps/{step_sid}",
    response_model=schemas.Step,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_step(
    call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str, step_sid: str
) -> dict[str, Any]:
    execution, step = await load_step(session, flow_sid, execution_sid, step_sid)
    return render_step(call, step, await widget_types(session, execution))


@router.get(
    "/{flow_sid}/Executions/{execution_sid}/Steps/{step_sid}/Context",
    response_model=schemas.StepContext,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_step_context(
    call: CallDep, session: SessionDep, flow_sid: str, execution_sid: str, step_sid: str
) -> dict[str, Any]:
    _, step = await load_step(session, flow_sid, execution_sid, step_sid)
    return {
        "account_sid": call.account_sid,
        "context": decrypted_json(call, step.context_enc, STEP_CONTEXT),
        "execution_sid": step.execution_sid,
        "flow_sid": step.flow_sid,
        "step_sid": step.sid,
        "url": f"{execution_url(call, step.flow_sid, step.execution_sid)}/Steps/{step.sid}/Context",
    }
