"""What the TaskRouter resource families share: loading workspace-scoped rows, URLs and links,
applying the optional fields of a form, checking expressions, refusing deletes of rows still in use,
and paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlparse

from fastapi import Response
from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.deps import RestCall, SessionDep
from api.routing_state import json_object as json_object  # the routes' home for it
from api.twilio_shape import PageRequest, TwilioError, TwilioForm, invalid, not_found
from switchboard.store.channel_work import LIVE_TASK_STATUSES
from switchboard.store.models import Task, Workspace, utcnow
from workflows.routing.expressions import Expression, ExpressionError, parse_expression, unsupported

WORKSPACES_PATH = "/v1/Workspaces"
# Lists filtered by an expression read their rows in batches of this many.
FILTER_BATCH = 500
NAME_LENGTH = 64
QueueOrder = Literal["FIFO", "LIFO"]

T = TypeVar("T")
RowT = TypeVar("RowT")


class Dated(Protocol):
    """A TaskRouter row: every one has a SID and creation and update dates."""

    sid: str
    date_created: datetime
    date_updated: datetime


class InWorkspace(Dated, Protocol):
    """A row that belongs to a workspace (all but the workspace itself)."""

    workspace_sid: str


DatedT = TypeVar("DatedT", bound=Dated)
ScopedT = TypeVar("ScopedT", bound=InWorkspace)


# --- URLs and links ---------------------------------------------------------------------------


def workspace_url(call: RestCall, workspace_sid: str) -> str:
    return f"{call.url('')}{WORKSPACES_PATH}/{workspace_sid}"


def links(url: str, **paths: str) -> dict[str, str]:
    """``{name: url/path}`` for the resources below ``url``, in the order given."""
    return {name: f"{url}/{path}" for name, path in paths.items()}


def statistics_links(url: str) -> dict[str, str]:
    return links(
        url,
        statistics="Statistics",
        real_time_statistics="RealTimeStatistics",
        cumulative_statistics="CumulativeStatistics",
    )


def checked_url(value: str | None, parameter: str) -> str | None:
    """An absolute http(s) URL; an empty value clears the setting."""
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise invalid(parameter, "must be an absolute http(s) URL")
    return value


# --- loading and listing ----------------------------------------------------------------------


async def load_workspace(session: SessionDep, workspace_sid: str) -> Workspace:
    workspace = await session.get(Workspace, workspace_sid)
    if workspace is None:
        raise not_found("Workspace", workspace_sid)
    return workspace


async def load_in_workspace(
    session: SessionDep, model: type[ScopedT], workspace_sid: str, sid: str, resource: str
) -> ScopedT:
    """The ``model`` row ``sid`` of this workspace; 404 naming ``resource`` when there is none."""
    row = await session.get(model, sid)
    if row is None or row.workspace_sid != workspace_sid:
        raise not_found(resource, sid)
    return row


def in_workspace(model: type[ScopedT], workspace_sid: str) -> SelectOfScalar[ScopedT]:
    return select(model).where(col(model.workspace_sid) == workspace_sid)


def oldest_first(model: type[Dated]) -> tuple[Any, Any]:
    """The order of a list: by creation date, then SID."""
    return col(model.date_created), col(model.sid)


async def page_of(
    call: RestCall,
    session: SessionDep,
    query: SelectOfScalar[RowT],
    paging: PageRequest,
    key: str,
    render: Callable[[Sequence[RowT]], Awaitable[list[dict[str, Any]]]],
    keep: Callable[[RowT], bool] | None = None,
) -> dict[str, Any]:
    """Like ``RestCall.offset_page``, for resources whose rendering looks up related rows once per
    page. ``keep``, when given, filters rows in Python (an expression the database cannot run):
    the query is read in batches until the page, and one row past it, are found."""
    if keep is None:
        rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
    else:
        rows = await kept_rows(session, query, keep, paging.offset + paging.page_size + 1)
        rows = rows[paging.offset :]
    items = await render(rows[: paging.page_size])
    return call.page(key, items, paging, None, len(rows) > paging.page_size)


async def kept_rows(
    session: SessionDep, query: SelectOfScalar[RowT], keep: Callable[[RowT], bool], wanted: int
) -> Sequence[RowT]:
    """The first ``wanted`` rows of ``query`` (already ordered) that ``keep`` keeps."""
    kept: list[RowT] = []
    start = 0
    while len(kept) < wanted:
        batch = (await session.exec(query.offset(start).limit(FILTER_BATCH))).all()
        kept.extend(row for row in batch if keep(row))
        if len(batch) < FILTER_BATCH:
            break
        start += FILTER_BATCH
    return kept[:wanted]


# --- expressions ------------------------------------------------------------------------------


def parsed_expression(text: str, parameter: str, where: str = "") -> Expression:
    """``text`` parsed as a TaskRouter expression; a 400 naming ``parameter`` (and ``where`` in
    it, for a path inside a document) and the position of the problem otherwise, or the expression
    and what in it the router cannot evaluate (refused here rather than never matching)."""
    try:
        expression = parse_expression(text)
    except ExpressionError as exc:
        raise invalid(parameter, f"{where}: {exc}" if where else str(exc)) from None
    problem = unsupported(expression)
    if problem is not None:
        message = f"expression {text!r} is not supported: {problem}"
        raise invalid(parameter, f"{where}: {message}" if where else message)
    return expression


# --- forms ------------------------------------------------------------------------------------


def required(value: T | None, parameter: str) -> T:
    if value is None:
        raise invalid(parameter, "is required")
    return value


def given(form: TwilioForm, *names: str) -> Iterator[tuple[str, Any, str]]:
    """``(field, value, parameter)`` for each of the named optional fields the form gives (they
    are None when absent); ``parameter`` is the field's name on the wire, for errors."""
    for name in names:
        value = getattr(form, name)
        if value is not None:
            yield name, value, type(form).model_fields[name].alias or name


def apply_given(row: Dated, form: TwilioForm, *names: str) -> None:
    """Copies the named fields the form gives onto the row, and stamps it updated."""
    for name, value, _ in given(form, *names):
        setattr(row, name, value)
    row.date_updated = utcnow()


def apply_given_urls(row: Dated, form: TwilioForm, *names: str) -> None:
    """Sets the named URL fields the form gives, once they are absolute http(s) URLs (an empty
    value clears one)."""
    for name, value, parameter in given(form, *names):
        setattr(row, name, checked_url(value, parameter))


# --- saving and deleting ----------------------------------------------------------------------


async def save(session: SessionDep, row: Dated) -> None:
    session.add(row)
    await session.commit()


async def deleted(session: SessionDep, row: Dated) -> Response:
    """Deletes the row; the empty 204 a delete answers."""
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


async def refuse_while_referenced(
    session: SessionDep, referrers: SelectOfScalar[str], refusal: Callable[[str], str]
) -> None:
    """A 400 if ``referrers`` (the SIDs of rows that refer to what is to be deleted) finds any;
    ``refusal`` words it, given the first SID."""
    first = (await session.exec(referrers)).first()
    if first is not None:
        raise TwilioError(400, refusal(first))


async def refuse_while_active_tasks(session: SessionDep, resource: str, *where: ColumnElement[bool] | bool) -> None:
    """A 400 naming ``resource`` if a live task (one matching ``where``) still needs it."""
    live = select(Task.sid).where(*where, col(Task.assignment_status).in_(LIVE_TASK_STATUSES))
    await refuse_while_referenced(session, live, lambda task: f"{resource} has active Tasks (for example {task})")
