"""TaskRouter Reservations, under their task (``Tasks/{WT}/Reservations``) and their worker
(``Workers/{WK}/Reservations``). Answering one (accept, reject, wrap up, complete) goes through
the workspace's router."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query
from pydantic import Field
from sqlmodel import col, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import WORKSPACES_PATH, load_in_workspace, oldest_first, workspace_url
from api.routing_calls import routed
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, iso, not_found
from switchboard.store.models import Reservation, Task, Worker
from workflows.routing.messages import ReservationChange

router = APIRouter(prefix=WORKSPACES_PATH)

ReservationStatus = Literal[
    "pending", "accepted", "rejected", "timeout", "canceled", "rescinded", "wrapping", "completed"
]


class ReservationForm(TwilioForm):
    reservation_status: Literal["accepted", "rejected", "wrapping", "completed"] | None = Field(
        None, alias="ReservationStatus"
    )
    worker_activity_sid: str | None = Field(None, alias="WorkerActivitySid")


def render_reservation(call: RestCall, reservation: Reservation, worker_name: str) -> dict[str, Any]:
    ws_url = workspace_url(call, reservation.workspace_sid)
    return {
        "account_sid": call.account_sid,
        "date_created": iso(reservation.date_created),
        "date_updated": iso(reservation.date_updated),
        "reservation_status": reservation.reservation_status,
        "sid": reservation.sid,
        "task_sid": reservation.task_sid,
        "worker_name": worker_name,
        "worker_sid": reservation.worker_sid,
        "workspace_sid": reservation.workspace_sid,
        "url": f"{ws_url}/Tasks/{reservation.task_sid}/Reservations/{reservation.sid}",
        "links": {
            "task": f"{ws_url}/Tasks/{reservation.task_sid}",
            "worker": f"{ws_url}/Workers/{reservation.worker_sid}",
            "workspace": ws_url,
        },
    }


async def worker_names(session: SessionDep, rows: list[Reservation]) -> dict[str, str]:
    worker_sids = {r.worker_sid for r in rows}
    found = await session.exec(select(Worker).where(col(Worker.sid).in_(worker_sids)))
    return {w.sid: w.friendly_name for w in found}


async def reservation_page(
    call: RestCall,
    session: SessionDep,
    paging: PagingDep,
    owner: Any,
    status: str | None,
) -> dict[str, Any]:
    query = select(Reservation).where(owner)
    if status is not None:
        query = query.where(Reservation.reservation_status == status)
    rows = list(
        (
            await session.exec(
                query.order_by(*oldest_first(Reservation)).offset(paging.offset).limit(paging.page_size + 1)
            )
        ).all()
    )
    names = await worker_names(session, rows)
    items = [render_reservation(call, r, names.get(r.worker_sid, "")) for r in rows[: paging.page_size]]
    return call.page("reservations", items, paging, None, len(rows) > paging.page_size)


async def load_reservation(session: SessionDep, workspace_sid: str, sid: str, **owner: str) -> Reservation:
    reservation = await load_in_workspace(session, Reservation, workspace_sid, sid, "Reservation")
    if any(getattr(reservation, name) != value for name, value in owner.items()):
        raise not_found("Reservation", sid)
    return reservation


async def answer(
    call: RestCall, session: SessionDep, reservation: Reservation, form: ReservationForm
) -> dict[str, Any]:
    if form.reservation_status is not None:
        change = ReservationChange(reservation.sid, form.reservation_status, form.worker_activity_sid)
        await routed(call.context.routing.change_reservation(reservation.workspace_sid, change))
        await session.commit()  # end the read transaction: the router wrote the row
        await session.refresh(reservation)
    names = await worker_names(session, [reservation])
    return render_reservation(call, reservation, names.get(reservation.worker_sid, ""))


@router.get(
    "/{workspace_sid}/Tasks/{task_sid}/Reservations",
    response_model=schemas.ReservationPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_task_reservations(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    task_sid: str,
    paging: PagingDep,
    status: Annotated[ReservationStatus | None, Query(alias="ReservationStatus")] = None,
) -> dict[str, Any]:
    await load_in_workspace(session, Task, workspace_sid, task_sid, "Task")
    return await reservation_page(call, session, paging, Reservation.task_sid == task_sid, status)


@router.get(
    "/{workspace_sid}/Tasks/{task_sid}/Reservations/{sid}",
    response_model=schemas.Reservation,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_task_reservation(
    call: CallDep, session: SessionDep, workspace_sid: str, task_sid: str, sid: str
) -> dict[str, Any]:
    reservation = await load_reservation(session, workspace_sid, sid, task_sid=task_sid)
    names = await worker_names(session, [reservation])
    return render_reservation(call, reservation, names.get(reservation.worker_sid, ""))


@router.post(
    "/{workspace_sid}/Tasks/{task_sid}/Reservations/{sid}",
    response_model=schemas.Reservation,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def update_task_reservation(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    task_sid: str,
    sid: str,
    form: Annotated[ReservationForm, Form()],
) -> dict[str, Any]:
    reservation = await load_reservation(session, workspace_sid, sid, task_sid=task_sid)
    return await answer(call, session, reservation, form)


@router.get(
    "/{workspace_sid}/Workers/{worker_sid}/Reservations",
    response_model=schemas.ReservationPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_worker_reservations(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    worker_sid: str,
    paging: PagingDep,
    status: Annotated[ReservationStatus | None, Query(alias="ReservationStatus")] = None,
) -> dict[str, Any]:
    await load_in_workspace(session, Worker, workspace_sid, worker_sid, "Worker")
    return await reservation_page(call, session, paging, Reservation.worker_sid == worker_sid, status)


@router.get(
    "/{workspace_sid}/Workers/{worker_sid}/Reservations/{sid}",
    response_model=schemas.Reservation,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_worker_reservation(
    call: CallDep, session: SessionDep, workspace_sid: str, worker_sid: str, sid: str
) -> dict[str, Any]:
    reservation = await load_reservation(session, workspace_sid, sid, worker_sid=worker_sid)
    names = await worker_names(session, [reservation])
    return render_reservation(call, reservation, names.get(reservation.worker_sid, ""))


@router.post(
    "/{workspace_sid}/Workers/{worker_sid}/Reservations/{sid}",
    response_model=schemas.Reservation,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def update_worker_reservation(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    worker_sid: str,
    sid: str,
    form: Annotated[ReservationForm, Form()],
) -> dict[str, Any]:
    reservation = await load_reservation(session, workspace_sid, sid, worker_sid=worker_sid)
    return await answer(call, session, reservation, form)
