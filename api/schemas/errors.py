"""The error answers a route documents, each in Twilio's error body."""

from __future__ import annotations

from typing import Any

from api.twilio_shape import ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the given HTTP statuses, each answered with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody} for status in statuses}


# What any REST call may be answered before its route runs: a malformed parameter, missing or bad
# credentials, a token whose role may not make the call, a token over its rate limit.
REST_CALL_ERRORS = error_responses(400, 401, 403, 429)
