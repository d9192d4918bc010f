"""Headers every response carries (no MIME sniffing, no referrer, never framed, HTTPS pinned once
served over HTTPS) and the content security policies of the pages: the agent desk runs only its
own files; the demo and landing pages their own files and their inline blocks by hash; the widget
script's and the shared scripts' responses allow nothing (a script runs under its page's policy)."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Media shows as blob: URLs made from authenticated fetches; sockets go to this origin ('self'
# covers ws: and wss: to it).
DESK_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SCRIPT_POLICY = "default-src 'none'; frame-ancestors 'none'"
PATH_POLICIES = (("/desk", DESK_POLICY), ("/webchat/", SCRIPT_POLICY), ("/shared/", SCRIPT_POLICY))

INLINE = re.compile(r"<(script|style)(\s[^>]*)?>(.*?)</\1>", re.DOTALL | re.IGNORECASE)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(html: str) -> str:
    """A page's policy: its own origin, and each inline script and style block by its hash, so
    nothing injected runs."""
    scripts, styles = ["'self'"], ["'self'"]
    for tag, attributes, body in INLINE.findall(html):
        if tag.lower() == "style":
            styles.append(_sha256(body))
        elif "src=" not in (attributes or "").lower():
            scripts.append(_sha256(body))
    return (
        f"default-src 'self'; script-src {' '.join(scripts)}; style-src {' '.join(styles)}; "
        "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        policy = next((p for prefix, p in PATH_POLICIES if path.startswith(prefix)), None)
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE_HEADERS.items():
                    headers.setdefault(name, value)
                if policy is not None:
                    headers.setdefault("Content-Security-Policy", policy)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
