"""Typed dependencies: the process context, database sessions, the channel workflow client and
account authentication."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.twilio_shape import SERVICE_UNAVAILABLE, PageRequest, TwilioError, page_request
from settings import Settings
from store.crypto import Cipher, KeyedHasher
from store.db import Database
from workflows.starter import ChannelClient


@dataclass
class AppContext:
    """What one API process holds: configuration and connections, no conversation state."""

    settings: Settings
    db: Database
    cipher: Cipher
    hasher: KeyedHasher
    temporal: Client | None = field(default=None)

    @property
    def channels(self) -> ChannelClient:
        if self.temporal is None:
            raise TwilioError(503, "Temporal is not reachable yet; retry shortly", SERVICE_UNAVAILABLE)
        return ChannelClient(self.temporal, self.settings.task_queue)


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
PagingDep = Annotated[PageRequest, Depends(page_request)]
