"""Typed dependencies: the process context, database sessions, the channel workflow client,
account authentication (the account's credentials or an API key, or an access token the REST
policy in ``api.access`` lets through) and access token (Bearer) authentication.

``verified_claims`` is where every access token is checked (REST, both socket handshakes and
their ``renew``, refresh, media, codec): signature and claims, then revocation in the store."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client

from api.access import may_use_rest
from api.lookups import LookupCache
from api.rate_limits import SESSIONS, TOKEN, RateLimits, client_ip
from api.tokens import ACCOUNT_ORIGIN, REVOKED, Grants, TokenClaims, TokenError, verify_token
from api.twilio_shape import SERVICE_UNAVAILABLE, PageRequest, TwilioError, base_url, page_body, page_request
from switchboard.settings import Settings
from switchboard.store.api_keys import valid_api_key
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.fanout import FeedWaiters
from switchboard.store.revocations import revocation
from workflows.routing.client import RoutingClient
from workflows.starter import ChannelClient

RowT = TypeVar("RowT")


@dataclass
class AppContext:
    """What one API process holds: configuration and connections, no conversation state."""

    settings: Settings
    db: Database
    cipher: Cipher
    hasher: KeyedHasher
    temporal: Client | None = field(default=None)
    feeds: FeedWaiters = field(default_factory=FeedWaiters)
    rate_limits: RateLimits = field(init=False)
    # Flex Flows and contacts' channels, invalidated by the keys the feeds' subscription hears.
    lookups: LookupCache = field(init=False)

    def __post_init__(self) -> None:
        self.rate_limits = RateLimits(self.settings)
        feeds = self.feeds
        self.lookups = LookupCache(self.settings.lookup_cache_seconds, lambda: feeds.subscribed)
        feeds.add_listener(self.lookups.invalidate)

    def _temporal(self) -> Client:
        if self.temporal is None:
            raise TwilioError(503, "Temporal is not reachable yet; retry shortly", SERVICE_UNAVAILABLE)
        return self.temporal

    @property
    def temporal_client(self) -> Client:
        return self._temporal()

    @property
    def channels(self) -> ChannelClient:
        return ChannelClient(self._temporal(), self.settings.task_queue)

    @property
    def routing(self) -> RoutingClient:
        return RoutingClient(self._temporal(), self.settings.task_queue)


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(context: ContextDep) -> AsyncIterator[AsyncSession]:
    async with context.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_channels(context: ContextDep) -> ChannelClient:
    return context.channels


ChannelsDep = Annotated[ChannelClient, Depends(get_channels)]

basic_auth = HTTPBasic(auto_error=False)
BasicDep = Annotated[HTTPBasicCredentials | None, Depends(basic_auth)]
FORBIDDEN = 20403
BAD_CREDENTIALS = "Authentication Error - invalid username or password"


def is_account(settings: Settings, credentials: HTTPBasicCredentials) -> bool:
    """The account SID and auth token, compared in constant time."""
    return bool(
        secrets.compare_digest(credentials.username.encode(), settings.account_sid.encode())
        & secrets.compare_digest(credentials.password.encode(), settings.auth_token.encode())
    )


async def basic_caller(context: AppContext, session: AsyncSession, credentials: HTTPBasicCredentials) -> str | None:
    """Who HTTP Basic credentials prove to be: the account SID, or an API key's SID (a key that was
    revoked, i.e. deleted, proves nothing from that moment on); None when they prove nothing."""
    if is_account(context.settings, credentials):
        return context.settings.account_sid
    if await valid_api_key(session, context.hasher, credentials.username, credentials.password):
        return credentials.username
    return None


def bearer_token(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def verified_claims(context: AppContext, token: str) -> TokenClaims:
    """The token's claims, or 401 in Twilio's error shape with the token error's code. In a thread:
    verifying a single sign-on token may fetch the identity provider's keys."""
    try:
        claims = await asyncio.to_thread(verify_token, context.settings, token)
    except TokenError as exc:
        raise TwilioError(401, exc.message, exc.code) from exc
    await refuse_revoked(context, claims)
    return claims


async def refuse_revoked(context: AppContext, claims: TokenClaims) -> None:
    """401 (20101) once the token's API key, identity or every session was revoked (one query)."""
    async with context.db.session() as session:
        revoked = await revocation(session, context.hasher, claims.identity, claims.origin, claims.session_started_at)
    if revoked is not None:
        raise TwilioError(401, revoked.message(claims.origin), REVOKED)


@dataclass(frozen=True)
class Caller:
    """Who made a REST call: the ``origin`` a token they mint carries (``account``, an API key's
    SID, or the presented token's own), and the presented token's claims, if any."""

    origin: str
    claims: TokenClaims | None = None


async def rest_caller(request: Request, context: ContextDep, session: SessionDep, credentials: BasicDep) -> Caller:
    """The REST API's caller: HTTP Basic with the account SID and auth token or an API key's SID
    and secret, or a Bearer access token whose role ``api.access.may_use_rest`` lets through."""
    if credentials is not None:
        caller = await basic_caller(context, session, credentials)
        if caller is None:
            raise TwilioError(401, BAD_CREDENTIALS)
        return Caller(ACCOUNT_ORIGIN if caller == context.settings.account_sid else caller)
    token = bearer_token(request)
    if token is None:
        raise TwilioError(401, BAD_CREDENTIALS)
    claims = await verified_claims(context, token)
    if not may_use_rest(claims.grants, request.method, request.url.path):
        raise TwilioError(
            403, f"Forbidden: a {claims.role} token may not {request.method} {request.url.path}", FORBIDDEN
        )
    await rate_limited_claims(context, claims)
    return Caller(claims.origin, claims)


RestCallerDep = Annotated[Caller, Depends(rest_caller)]


async def require_account(context: ContextDep, caller: RestCallerDep) -> str:
    """Any REST caller ``rest_caller`` lets through; answers the account SID."""
    return context.settings.account_sid


AccountDep = Annotated[str, Depends(require_account)]


def require_account_token(context: ContextDep, credentials: BasicDep) -> str:
    """The account SID and auth token only (as Twilio's Keys resource: an API key cannot make or
    revoke keys, so a leaked one cannot outlive its revocation)."""
    if credentials is None or not is_account(context.settings, credentials):
        raise TwilioError(401, BAD_CREDENTIALS)
    return context.settings.account_sid


async def claims_from_bearer(context: ContextDep, connection: HTTPConnection) -> TokenClaims:
    """``Authorization: Bearer <access token>`` (HTTP requests and WebSocket handshakes alike),
    verified; 401 in Twilio's error shape, with the token error's code, otherwise."""
    token = bearer_token(connection)
    if token is None:
        raise TwilioError(401, "Authentication Error - an access token is required (Authorization: Bearer)")
    return await verified_claims(context, token)


def operator_claims(context: AppContext, caller: str) -> TokenClaims:
    """What account credentials or an API key amount to where access tokens are checked: an admin."""
    now = datetime.now(UTC)
    origin = ACCOUNT_ORIGIN if caller == context.settings.account_sid else caller
    return TokenClaims(
        jti="",
        issuer=context.settings.jwt_issuer,
        audience=context.settings.jwt_audience,
        account_sid=context.settings.account_sid,
        identity=caller,
        grants=Grants(role="admin"),
        issued_at=now,
        not_before=now,
        expires_at=now + timedelta(seconds=context.settings.token_ttl_seconds),
        origin=origin,
        session_started_at=now,
    )


async def caller_claims(
    request: Request, context: ContextDep, session: SessionDep, credentials: BasicDep
) -> TokenClaims:
    """A Bearer access token's claims, or an admin's for the account's credentials or an API key."""
    if credentials is not None:
        caller = await basic_caller(context, session, credentials)
        if caller is None:
            raise TwilioError(401, BAD_CREDENTIALS)
        return operator_claims(context, caller)
    return await claims_from_bearer(context, request)


async def rate_limited_claims(context: AppContext, claims: TokenClaims) -> TokenClaims:
    """``claims``, once the call is counted against the token's rate limit (account credentials
    and API keys, which carry no token id, are not limited here)."""
    if claims.jti:
        await context.rate_limits.check(TOKEN, claims.jti, "this access token")
    return claims


async def bearer_caller(
    context: ContextDep, claims: Annotated[TokenClaims, Depends(claims_from_bearer)]
) -> TokenClaims:
    return await rate_limited_claims(context, claims)


async def any_caller(context: ContextDep, claims: Annotated[TokenClaims, Depends(caller_claims)]) -> TokenClaims:
    return await rate_limited_claims(context, claims)


ClaimsDep = Annotated[TokenClaims, Depends(bearer_caller)]
CallerDep = Annotated[TokenClaims, Depends(any_caller)]


async def limit_web_chats_per_address(request: Request, context: ContextDep) -> None:
    """Web chat channels opened from one client address (widget sessions, Flex WebChannels)."""
    await context.rate_limits.check(SESSIONS, client_ip(request), "opening web chats from one address")


PagingDep = Annotated[PageRequest, Depends(page_request)]


@dataclass(frozen=True)
class RestCall:
    """One authenticated REST call: what rendering Twilio resources and pages needs."""

    request: Request
    context: AppContext
    account_sid: str

    def url(self, path: str) -> str:
        return base_url(self.request, self.context.settings.public_url) + path

    def page(
        self, key: str, items: Sequence[dict[str, Any]], paging: PageRequest, next_token: str | None, has_next: bool
    ) -> dict[str, Any]:
        return page_body(self.request, self.context.settings.public_url, key, items, paging, next_token, has_next)

    async def offset_page(
        self,
        session: AsyncSession,
        query: SelectOfScalar[RowT],
        paging: PageRequest,
        key: str,
        render: Callable[[RestCall, RowT], dict[str, Any]],
    ) -> dict[str, Any]:
        """A page of ``query`` (already ordered) by offset; one row more tells if there is a next."""
        rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
        items = [render(self, row) for row in rows[: paging.page_size]]
        return self.page(key, items, paging, None, len(rows) > paging.page_size)


def rest_call(request: Request, context: ContextDep, account: AccountDep) -> RestCall:
    return RestCall(request, context, account)


CallDep = Annotated[RestCall, Depends(rest_call)]
