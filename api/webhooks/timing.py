"""How long provider webhooks take to answer (a 2xx answer means the message is durable), by
provider and status class, for ``switchboard_webhook_seconds``."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.observability import WEBHOOK_SECONDS

PREFIX = "/webhooks/"


class WebhookTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        provider = path[len(PREFIX) :].split("/", 1)[0] or "unknown"
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            WEBHOOK_SECONDS.labels(provider, f"{status // 100}xx").observe(time.perf_counter() - started)
