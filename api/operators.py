"""Who counts as an operator, and the lock on the operational endpoints.

An operator proves itself with the account's credentials or an API key (HTTP Basic, what a
Prometheus scrape config's ``basic_auth`` sends) or an ``admin`` access token (Bearer). The codec
(``api.routes.codec``) takes operators only. ``/metrics`` and the API reference (``/docs``,
``/redoc``, ``/openapi.json``) take them only too while ``operational_endpoints_auth`` is on, the
default: the metrics name every queue and show the traffic, and the reference maps every route,
which is no one's business but the operators' on an API that faces the internet. ``/healthz``
stays open for load balancers and orchestrators.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.security import HTTPBasicCredentials
from sqlmodel.ext.asyncio.session import AsyncSession

from api.access import may_read_operations
from api.deps import (
    BAD_CREDENTIALS,
    FORBIDDEN,
    AppContext,
    BasicDep,
    ContextDep,
    SessionDep,
    basic_caller,
    bearer_token,
    verified_claims,
)
from api.tokens import Grants
from api.twilio_shape import TwilioError

OPERATOR_CREDENTIALS = "Authentication Error - operator credentials are required"


async def operator_caller(
    request: Request,
    context: AppContext,
    session: AsyncSession,
    credentials: HTTPBasicCredentials | None,
    allowed: Callable[[Grants], bool],
    what: str,
) -> str | None:
    """Who the request's credentials prove to be: the account SID, an API key's SID, or the
    identity of a token ``allowed`` lets through; None when it offers none. 401 for credentials
    that prove nothing, 403 for a token of another role."""
    if credentials is not None:
        caller = await basic_caller(context, session, credentials)
        if caller is None:
            raise TwilioError(401, BAD_CREDENTIALS)
        return caller
    token = bearer_token(request)
    if token is None:
        return None
    claims = await verified_claims(context, token)
    if not allowed(claims.grants):
        raise TwilioError(403, f"Only operators may {what}", FORBIDDEN)
    return claims.identity


async def operators_only_when_locked(
    request: Request, context: ContextDep, session: SessionDep, credentials: BasicDep
) -> None:
    """The lock on ``/metrics`` and the API reference (``operational_endpoints_auth``)."""
    if not context.settings.operational_endpoints_auth:
        return
    what = "read the metrics and the API reference"
    if await operator_caller(request, context, session, credentials, may_read_operations, what) is None:
        raise TwilioError(401, OPERATOR_CREDENTIALS)
