"""The error answers a route documents, each in Twilio's error body."""

from __future__ import annotations

from typing import Any

from api.twilio_shape import ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the given HTTP statuses, each answered with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody} for status in statuses}
