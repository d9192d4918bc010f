"""What a request body may weigh: a declared ``Content-Length`` over the limit is answered 413
before a byte of the body is read; a body without one (chunked) is counted as it streams and cut
off at the limit. Uploads (``/v1/Media``) may weigh the media limit and their multipart framing,
Studio definitions theirs; everything else ``request_max_bytes``."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.twilio_shape import INVALID_PARAMETER, TOO_LARGE, error_response
from switchboard.settings import Settings
from workflows.studio.definition import MAX_DEFINITION_CHARS

# Multipart boundaries, headers and the other form fields around an uploaded file.
MULTIPART_ALLOWANCE = 64 * 1024
# A form-encoded Studio definition: JSON's punctuation takes up to three bytes each once encoded.
STUDIO_FORM_BYTES = 3 * MAX_DEFINITION_CHARS + MULTIPART_ALLOWANCE


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so that FastAPI's body parsing passes it
    on as it is (rendered by :func:`body_too_large_handler`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


def too_large_message(limit: int) -> str:
    return f"Request entity too large: the body must be at most {limit} bytes"


def body_limit_for(settings: Settings, path: str) -> int:
    if path.startswith("/v1/Media"):
        return settings.media_max_bytes + MULTIPART_ALLOWANCE
    if path.startswith("/v2/Flows"):
        return max(settings.request_max_bytes, STUDIO_FORM_BYTES)
    return settings.request_max_bytes


def too_large(limit: int) -> Response:
    return error_response(413, too_large_message(limit), TOO_LARGE)


async def body_too_large_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return too_large(exc.limit)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(self.settings, str(scope["path"]))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "Content-Length is not a number", INVALID_PARAMETER)(scope, receive, send)
                return
            if int(declared) > limit:
                await too_large(limit)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            # Read outside a route (where the app's handler answers it): answer here if we still can.
            if started:
                raise
            await too_large(exc.limit)(scope, receive, send)
