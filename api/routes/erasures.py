"""Erasing a contact's data on request (``/v1/Erasures``) and the audit trail of erasures and
retention sweeps (``/v1/AuditEvents``). Operators only: account credentials, an API key or an
admin token. The address asked about is hashed at once; neither the store nor Temporal keeps it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from pydantic import Field
from sqlmodel import col, select

from api.deps import CallDep, ContextDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas import operators as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, iso, not_found
from switchboard.store.contacts import address_hash, identity_hash
from switchboard.store.models import AuditEvent, Erasure
from workflows import sids
from workflows.retention import ContactErasure
from workflows.retention_messages import ErasureRequest

router = APIRouter(prefix="/v1", tags=["retention"], dependencies=[Depends(require_account)])


class ErasureForm(TwilioForm):
    # A phone number, whatsapp:…, messenger:…, or a web chat identity, exactly as the channel has it.
    address: str = Field(alias="Address", min_length=1, max_length=256)


def render_erasure(call: RestCall, erasure: Erasure) -> dict[str, Any]:
    return {
        "sid": erasure.sid,
        "account_sid": call.account_sid,
        "status": erasure.status,
        "counts": json.loads(erasure.counts),
        "requested_by": erasure.requested_by,
        "date_created": iso(erasure.date_created),
        "date_updated": iso(erasure.date_updated),
        "url": call.url(f"/v1/Erasures/{erasure.sid}"),
    }


def render_audit_event(call: RestCall, event: AuditEvent) -> dict[str, Any]:
    return {
        "sid": event.sid,
        "account_sid": call.account_sid,
        "event_type": event.event_type,
        "actor": event.actor,
        "subject": event.subject,
        "details": json.loads(event.details),
        "date_created": iso(event.date_created),
        "url": call.url(f"/v1/AuditEvents/{event.sid}"),
    }


@router.post("/Erasures", status_code=201, response_model=schemas.Erasure, responses=error_responses(*REST_ERRORS, 503))
async def create_erasure(
    call: CallDep, context: ContextDep, session: SessionDep, form: Annotated[ErasureForm, Form()]
) -> dict[str, Any]:
    """Start erasing: the contact's channels end and everything they hold goes, across Flex Flows
    and services; ``status`` turns ``completed`` with the counts when it is done."""
    hashed = address_hash(context.hasher, form.address)
    erasure = Erasure(sid=sids.new_sid(sids.ERASURE), address_hash=hashed, requested_by=call.account_sid)
    session.add(erasure)
    await session.commit()
    request = ErasureRequest(
        erasure_sid=erasure.sid,
        address_hash=hashed,
        identity_hash=identity_hash(context.hasher, form.address),
        requested_by=erasure.requested_by,
        audit_sid=sids.new_sid(sids.AUDIT_EVENT),
    )
    await context.temporal_client.start_workflow(
        ContactErasure.run, request, id=erasure.sid, task_queue=context.settings.task_queue
    )
    return render_erasure(call, erasure)


@router.get("/Erasures/{sid}", response_model=schemas.Erasure, responses=error_responses(*REST_ERRORS, 404))
async def fetch_erasure(call: CallDep, session: SessionDep, sid: str) -> dict[str, Any]:
    erasure = await session.get(Erasure, sid)
    if erasure is None:
        raise not_found("Erasure", sid)
    return render_erasure(call, erasure)


@router.get("/AuditEvents", response_model=schemas.AuditEventPage, responses=error_responses(*REST_ERRORS))
async def list_audit_events(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = select(AuditEvent).order_by(col(AuditEvent.date_created).desc(), col(AuditEvent.sid))
    return await call.offset_page(session, query, paging, "audit_events", render_audit_event)
