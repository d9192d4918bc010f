"""Twilio's REST conventions in one place: error bodies, dates, resource URLs, form models with
PascalCase names, and list paging with ``meta.next_page_url``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

# Twilio's error codes used here.
INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
NOT_FOUND = 20404
METHOD_NOT_ALLOWED = 20004
CONFLICT = 50300
# Programmable Chat's "Channel with provided unique name already exists".
UNIQUE_NAME_TAKEN = 50307
SERVICE_UNAVAILABLE = 20503
TOO_LARGE = 20413
TOO_MANY_REQUESTS = 20429
# Programmable Chat's "Message body parameter is too long" (a body over 32 KiB).
MESSAGE_BODY_TOO_LONG = 50504
MESSAGE_BODY_MAX_BYTES = 32 * 1024


class TwilioError(Exception):
    """Raised by routes; rendered as Twilio's error body with the HTTP status."""

    def __init__(
        self, status: int, message: str, code: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.code = code or {
            400: INVALID_PARAMETER,
            401: AUTHENTICATE,
            404: NOT_FOUND,
            413: TOO_LARGE,
            429: TOO_MANY_REQUESTS,
        }.get(status, status)


def invalid(parameter: str, problem: str) -> TwilioError:
    return TwilioError(400, f"Invalid parameter {parameter}: {problem}")


def not_found(resource: str, sid: str) -> TwilioError:
    return TwilioError(404, f"The requested resource {resource} {sid} was not found")


def message_body_problem(body: str | None) -> str | None:
    """What is wrong with a message body wherever messages enter (REST, sockets, webhooks): over
    Programmable Chat's 32 KiB (of UTF-8), or None."""
    if body is not None and len(body.encode("utf-8", "surrogatepass")) > MESSAGE_BODY_MAX_BYTES:
        return f"the message body is longer than {MESSAGE_BODY_MAX_BYTES} bytes (32 KiB of UTF-8)"
    return None


def check_message_body(body: str | None, parameter: str = "Body") -> None:
    problem = message_body_problem(body)
    if problem is not None:
        raise TwilioError(400, f"Invalid parameter {parameter}: {problem}", MESSAGE_BODY_TOO_LONG)


def error_response(status: int, message: str, code: int, headers: dict[str, str] | None = None) -> JSONResponse:
    # A 401 tells HTTP clients which scheme to answer with.
    if status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="Switchboard"', **(headers or {})}
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


async def twilio_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TwilioError)
    return error_response(exc.status, exc.message, exc.code, exc.headers)


# Twilio's codes for answers Starlette gives before any route runs.
HTTP_ERROR_CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A path or method Switchboard does not serve (and any other ``HTTPException``) answers in
    Twilio's error body, never FastAPI's ``{"detail": ...}``."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"The requested resource {request.url.path} was not found"
    elif status == 405:
        message = f"Method {request.method} not allowed for {request.url.path}"
    else:
        message = str(exc.detail)
    code = HTTP_ERROR_CODES.get(status) or TwilioError(status, message).code
    return error_response(status, message, code, dict(exc.headers) if exc.headers else None)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 becomes Twilio's 400 naming each parameter (by its wire name) and problem."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        name = ".".join(location) or "request"
        problems.append(f"{name}: {error.get('msg', 'invalid')}")
    return error_response(400, "Invalid parameter " + "; ".join(problems), INVALID_PARAMETER)


class TwilioForm(BaseModel):
    """Base of form models: fields are declared snake_case with PascalCase aliases; unknown
    parameters are ignored as Twilio does."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=False)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC datetimes
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: str | None, parameter: str) -> datetime | None:
    """A date-time filter parameter (ISO 8601; naive means UTC); a 400 naming it otherwise."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError as exc:
        raise invalid(parameter, "must be an ISO 8601 date-time") from exc
    except OverflowError as exc:  # the first or last hours of the calendar, moved to UTC
        raise invalid(parameter, "is out of range") from exc


def base_url(request: Request, public_url: str) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


# Far beyond any list, and within what a database's OFFSET takes.
MAX_PAGE = 10_000_000


@dataclass(frozen=True)
class PageRequest:
    """Twilio's paging parameters. ``page_token`` is opaque to clients: lists that page by a key
    (messages by index) put the last key there; the rest page by offset."""

    page: int
    page_size: int
    page_token: str | None

    @property
    def offset(self) -> int:
        return self.page * self.page_size


def page_request(request: Request) -> PageRequest:
    params = request.query_params
    try:
        page_size = int(params.get("PageSize", "50"))
        page = int(params.get("Page", "0"))
    except ValueError as exc:
        raise invalid("PageSize/Page", "must be integers") from exc
    if not 1 <= page_size <= 1000:
        raise invalid("PageSize", "must be between 1 and 1000")
    if not 0 <= page <= MAX_PAGE:
        raise invalid("Page", f"must be between 0 and {MAX_PAGE}")
    return PageRequest(page, page_size, params.get("PageToken"))


def page_body(
    request: Request,
    public_url: str,
    key: str,
    items: Sequence[dict[str, Any]],
    paging: PageRequest,
    next_token: str | None,
    has_next: bool,
) -> dict[str, Any]:
    url = base_url(request, public_url) + request.url.path
    kept = {k: v for k, v in request.query_params.items() if k not in ("Page", "PageSize", "PageToken")}

    def page_url(page: int, token: str | None) -> str:
        query = {**kept, "PageSize": paging.page_size, "Page": page}
        if token:
            query["PageToken"] = token
        return f"{url}?{urlencode(query)}"

    return {
        key: list(items),
        "meta": {
            "page": paging.page,
            "page_size": paging.page_size,
            "first_page_url": page_url(0, None),
            "previous_page_url": page_url(paging.page - 1, None) if paging.page > 0 and not next_token else None,
            "url": page_url(paging.page, paging.page_token),
            "next_page_url": page_url(paging.page + 1, next_token) if has_next else None,
            "key": key,
        },
    }


class PageMeta(BaseModel):
    """The ``meta`` object of every Twilio list page (``page_body`` fills it)."""

    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str


class ErrorBody(BaseModel):
    """Twilio's error body, as ``error_response`` writes it."""

    code: int
    message: str
    more_info: str
    status: int
