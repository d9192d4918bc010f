"""Calls into a workspace's router from REST, the agent socket and the conversation rules: its
refusals as Twilio errors."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.twilio_shape import CONFLICT, SERVICE_UNAVAILABLE, TwilioError

T = TypeVar("T")
# The router's refusal types and the HTTP status each is.
STATUS = {"NotFound": 404, "NotLive": 409, "Conflict": 409, "Invalid": 400}


async def routed(call: Awaitable[T]) -> T:
    try:
        return await call
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in STATUS:
            status = STATUS[cause.type]
            raise TwilioError(status, cause.message, CONFLICT if status == 409 else None) from exc
        raise TwilioError(500, f"the workspace's router refused the change: {cause}", 20500) from exc
    except RPCError as exc:
        # The router stayed too busy to take the change: nothing was applied, retry later.
        raise TwilioError(
            503, f"the workspace's router is busy; retry shortly ({exc.message})", SERVICE_UNAVAILABLE
        ) from exc
