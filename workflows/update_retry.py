"""Retrying the client's updates that Temporal turned away without applying them.

Temporal admits a bounded number of updates in flight per workflow (10 by default): a busy
workflow turns the rest away (RESOURCE_EXHAUSTED). Updates admitted but not yet accepted when the
run continues as new are aborted as "workflow is closing" (UNAVAILABLE; RESOURCE_EXHAUSTED for an
update-with-start). The SDK retries these a few times; under load that is not always enough. None
of them was applied, so they are retried here with jittered backoff, for up to a minute. Callers
make their updates idempotent (a message carries its key from the first try)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")
RETRIED = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE)
BUSY_RETRY_SECONDS = 60.0


async def while_busy(call: Callable[[], Awaitable[T]]) -> T:
    delay, waited = 0.02, 0.0
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status not in RETRIED or waited > BUSY_RETRY_SECONDS:
                raise
        pause = delay * (0.5 + random.random())
        await asyncio.sleep(pause)
        waited += pause
        delay = min(delay * 2, 1.0)
