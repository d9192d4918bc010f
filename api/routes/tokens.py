"""Switchboard's own ``POST /v1/Tokens``: a backend holding the account credentials mints an access
token for an agent, supervisor or admin (where Twilio's backends build an AccessToken locally with
an API key). Customer tokens, scoped to one channel, are minted by the web chat's sessions.
``POST /v1/Tokens/Refresh`` trades a valid token for a fresh one with the same grants, so the desk
and the widget stay signed in, within the session's bound (``token_session_max_seconds`` from its
first sign-in). ``POST /v1/Tokens/Revocations`` (Switchboard's own; Twilio has none) ends an
identity's sessions, or every session, without rotating the signing secret.

A token minted with a token belongs to the minter's sign-in: it keeps its origin and session
start, so it dies with the minter's API key and its session's bound."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form
from pydantic import Field

from api.deps import ClaimsDep, ContextDep, RestCallerDep, SessionDep, require_account
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.schemas.tokens import RevocationResource, TokenResource
from api.tokens import Grants, TokenError, mint
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso
from switchboard.settings import MAX_TOKEN_TTL_SECONDS, Settings
from switchboard.store.models import Service, Worker, Workspace
from switchboard.store.revocations import ALL_SCOPE, identity_scope, revoke

router = APIRouter(
    prefix="/v1/Tokens", tags=["tokens"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
)
refresh_router = APIRouter(prefix="/v1/Tokens", tags=["tokens"], responses=error_responses(401, 429))

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


def token_body(
    settings: Settings,
    identity: str,
    grants: Grants,
    ttl: int,
    *,
    origin: str,
    session_start: datetime | None = None,
) -> dict[str, Any]:
    """A new token for ``identity`` with ``grants``, as every token-minting endpoint answers it:
    signed in with ``origin``, in the session begun at ``session_start`` (default: now, a first
    sign-in); 401 once that session is past its bound."""
    try:
        minted = mint(settings, identity, grants, ttl, origin=origin, session_start=session_start)
    except TokenError as exc:
        raise TwilioError(401, exc.message, exc.code) from exc
    return {
        "token": minted.token,
        "identity": identity,
        "role": grants.role,
        "grants": grants.claim(identity),
        "expires_at": iso(minted.expires_at),
        "ttl": minted.ttl,
    }


@router.post("", status_code=201, response_model=TokenResource)
async def create_token(
    context: ContextDep, session: SessionDep, caller: RestCallerDep, form: Annotated[TokenForm, Form()]
) -> dict[str, Any]:
    if not form.identity:
        raise invalid("Identity", "is required")
    grants = await checked_grants(session, form)
    ttl = form.ttl or context.settings.token_ttl_seconds
    session_start = caller.claims.session_started_at if caller.claims is not None else None
    return token_body(context.settings, form.identity, grants, ttl, origin=caller.origin, session_start=session_start)


class RevocationForm(TwilioForm):
    identity: str | None = Field(None, alias="Identity", min_length=1, max_length=256)
    all: bool = Field(False, alias="All")


@router.post("/Revocations", status_code=201, response_model=RevocationResource)
async def create_revocation(
    context: ContextDep, session: SessionDep, form: Annotated[RevocationForm, Form()]
) -> dict[str, Any]:
    """End ``Identity``'s sessions, or every session (``All=true``), begun before now: their tokens
    are refused from the next request on, on every replica, and cannot be refreshed."""
    if form.all and form.identity is not None:
        raise invalid("All", "give Identity or All=true, not both")
    if not form.all and form.identity is None:
        raise invalid("Identity", "is required unless All=true")
    scope = ALL_SCOPE if form.all else identity_scope(context.hasher, form.identity or "")
    revoked_before = await revoke(session, scope)
    return {
        "account_sid": context.settings.account_sid,
        "scope": "all" if form.all else "identity",
        "identity": None if form.all else form.identity,
        "revoked_before": iso(revoked_before),
    }


@refresh_router.post("/Refresh", status_code=201, response_model=TokenResource)
async def refresh_token(context: ContextDep, claims: ClaimsDep) -> dict[str, Any]:
    """The same grants for as long as the presented token was minted for, never past the
    session's bound."""
    # Single sign-on tokens may live longer (or carry no iat): kept within what may be minted.
    ttl = min(max(int((claims.expires_at - claims.issued_at).total_seconds()), MIN_TTL_SECONDS), MAX_TOKEN_TTL_SECONDS)
    # Same sign-in, same bound: the refreshed token keeps the session's origin and start.
    return token_body(
        context.settings,
        claims.identity,
        claims.grants,
        ttl,
        origin=claims.origin,
        session_start=claims.session_started_at,
    )
