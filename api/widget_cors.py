"""CORS for what the web chat widget calls from the pages that embed it (another origin than the
API's): sessions, token refresh and media. The rest of the API answers same-origin only."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WIDGET_PATHS = ("/v1/Webchat/", "/v1/Tokens/Refresh", "/v1/Media")


class WidgetCors:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        # Bearer tokens, never cookies: no credentials mode, so "*" may stand for any page.
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(WIDGET_PATHS):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
