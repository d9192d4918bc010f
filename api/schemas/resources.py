"""What the response models share: a strict base (a key a route returns must be a declared field,
every declared field must be returned) and the error answers routes document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from api.twilio_shape import ErrorBody

# Statuses a route answers with Twilio's error body, and how the schema describes each.
ERROR_DESCRIPTIONS = {
    400: "Invalid parameter",
    401: "Authentication error",
    403: "Forbidden for this access token",
    404: "The resource was not found",
    409: "Conflict with the resource's state",
    413: "The upload is larger than allowed",
    415: "The upload's type is not allowed",
    429: "Too many requests for this access token",
    503: "A dependency is busy or unreachable; retry shortly",
}
# What every operator route behind ``require_account`` may answer: a bad parameter (or a value
# the store cannot hold), bad credentials, a token that may not call it, or one over its rate.
REST_ERRORS = (400, 401, 403, 429)


class Resource(BaseModel):
    """A Twilio-shaped body. Extra keys are refused and every field is required, so a route
    whose dict and model disagree fails loudly instead of losing a key."""

    model_config = ConfigDict(extra="forbid")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering these error statuses with Twilio's error body."""
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in sorted(statuses)}


# ``responses=`` of a router whose every call may meet those errors before its route runs.
REST_CALL_ERRORS = error_responses(*REST_ERRORS)
