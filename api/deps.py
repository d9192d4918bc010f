"""Typed dependencies: the process context, database sessions, the channel workflow client,
account authentication and access token (Bearer) authentication."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client

from api.rate_limits import SESSIONS, TOKEN, RateLimits, client_ip
from api.tokens import TokenClaims, TokenError, verify_token
from api.twilio_shape import SERVICE_UNAVAILABLE, PageRequest, TwilioError, base_url, page_body, page_request
from settings import Settings
from store.crypto import Cipher, KeyedHasher
from store.db import Database
from store.fanout import FeedWaiters
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

    def __post_init__(self) -> None:
        self.rate_limits = RateLimits(self.settings)

    def _temporal(self) -> Client:
        if self.temporal is None:
            raise TwilioError(503, "Temporal is not reachable yet; retry shortly", SERVICE_UNAVAILABLE)
        return self.temporal

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


def require_account(
    context: ContextDep, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_auth)]
) -> str:
    """HTTP Basic with the account SID and auth token; answers the account SID."""
    settings = context.settings
    if credentials is None or not (
        secrets.compare_digest(credentials.username.encode(), settings.account_sid.encode())
        & secrets.compare_digest(credentials.password.encode(), settings.auth_token.encode())
    ):
        raise TwilioError(401, "Authentication Error - invalid username or password")
    return settings.account_sid


AccountDep = Annotated[str, Depends(require_account)]


def claims_from_bearer(context: ContextDep, connection: HTTPConnection) -> TokenClaims:
    """``Authorization: Bearer <access token>`` (HTTP requests and WebSocket handshakes alike),
    verified; 401 in Twilio's error shape, with the token error's code, otherwise."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TwilioError(401, "Authentication Error - an access token is required (Authorization: Bearer)")
    try:
        return verify_token(context.settings, token.strip())
    except TokenError as exc:
        raise TwilioError(401, exc.message, exc.code) from exc


async def rate_limited_claims(
    context: ContextDep, claims: Annotated[TokenClaims, Depends(claims_from_bearer)]
) -> TokenClaims:
    """The bearer's claims, once the call is counted against the token's rate limit."""
    await context.rate_limits.check(TOKEN, claims.jti, "this access token")
    return claims


ClaimsDep = Annotated[TokenClaims, Depends(rate_limited_claims)]


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
