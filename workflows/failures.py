"""Activity failures as workflows report them."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def failure_message(exc: ActivityError | ApplicationError) -> str:
    """What went wrong in an activity, for people: its application error's message. (A local
    activity's failure can surface as the ``ApplicationError`` itself.)"""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
