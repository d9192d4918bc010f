"""Switchboard's own ``POST /v1/Tokens``: a backend holding the account credentials mints an access
token for an agent, supervisor or admin (where Twilio's backends build an AccessToken locally with
an API key). Customer tokens, scoped to one channel, are minted by the web chat's sessions.
``POST /v1/Tokens/Refresh`` trades a valid token for a fresh one with the same grants, so the desk
and the widget stay signed in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form
from pydantic import Field

from api.deps import ClaimsDep, ContextDep, SessionDep, require_account
from api.tokens import Grants, mint_token
from api.twilio_shape import TwilioForm, invalid, iso
from settings import MAX_TOKEN_TTL_SECONDS, Settings
from store.models import Service, Worker, Workspace

router = APIRouter(prefix="/v1/Tokens", tags=["tokens"], dependencies=[Depends(require_account)])
refresh_router = APIRouter(prefix="/v1/Tokens", tags=["tokens"])

MIN_TTL_SECONDS = 60
# Roles minted here; customer tokens are scoped to a channel and minted where the channel is made.
RestRole = Literal["agent", "supervisor", "admin"]


class TokenForm(TwilioForm):
    identity: str | None = Field(None, alias="Identity", max_length=256)
    ttl: int | None = Field(None, alias="Ttl", ge=MIN_TTL_SECONDS, le=MAX_TOKEN_TTL_SECONDS)
    role: RestRole = Field("agent", alias="Role")
    chat_service_sid: str | None = Field(None, alias="ChatServiceSid")
    workspace_sid: str | None = Field(None, alias="WorkspaceSid")
    worker_sid: str | None = Field(None, alias="WorkerSid")


async def checked_grants(session: SessionDep, form: TokenForm) -> Grants:
    """The grants the form asks for, each SID checked to exist where it must."""
    if form.chat_service_sid is not None and await session.get(Service, form.chat_service_sid) is None:
        raise invalid("ChatServiceSid", f"chat service {form.chat_service_sid} does not exist")
    if form.workspace_sid is not None and await session.get(Workspace, form.workspace_sid) is None:
        raise invalid("WorkspaceSid", f"workspace {form.workspace_sid} does not exist")
    if form.worker_sid is not None:
        if form.workspace_sid is None:
            raise invalid("WorkspaceSid", "is required when WorkerSid is given")
        worker = await session.get(Worker, form.worker_sid)
        if worker is None or worker.workspace_sid != form.workspace_sid:
            raise invalid("WorkerSid", f"worker {form.worker_sid} does not exist in workspace {form.workspace_sid}")
    return Grants(
        role=form.role,
        chat_service_sid=form.chat_service_sid,
        workspace_sid=form.workspace_sid,
        worker_sid=form.worker_sid,
    )


def token_body(settings: Settings, identity: str, grants: Grants, ttl: int) -> dict[str, Any]:
    """A new token for ``identity`` with ``grants``, as every token-minting endpoint answers it."""
    token, expires_at = mint_token(settings, identity, grants, ttl)
    return {
        "token": token,
        "identity": identity,
        "role": grants.role,
        "grants": grants.claim(identity),
        "expires_at": iso(expires_at),
        "ttl": ttl,
    }


@router.post("", status_code=201)
async def create_token(context: ContextDep, session: SessionDep, form: Annotated[TokenForm, Form()]) -> dict[str, Any]:
    if not form.identity:
        raise invalid("Identity", "is required")
    grants = await checked_grants(session, form)
    return token_body(context.settings, form.identity, grants, form.ttl or context.settings.token_ttl_seconds)


@refresh_router.post("/Refresh", status_code=201)
async def refresh_token(context: ContextDep, claims: ClaimsDep) -> dict[str, Any]:
    """The same grants for as long as the presented token was minted for."""
    # Single sign-on tokens may live longer (or carry no iat): kept within what may be minted.
    ttl = min(max(int((claims.expires_at - claims.issued_at).total_seconds()), MIN_TTL_SECONDS), MAX_TOKEN_TTL_SECONDS)
    return token_body(context.settings, claims.identity, claims.grants, ttl)
