"""How workflows call activities: every timeout and retry policy in one typed place.

``**STORE`` etc. unpack into ``workflow.execute_local_activity_method`` /
``workflow.execute_activity_method``; mypy checks each key against the SDK's parameters."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, TypedDict

from temporalio.common import RetryPolicy


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


class RemoteActivityOptions(ActivityOptions, total=False):
    """Options only a (non-local) activity takes."""

    heartbeat_timeout: timedelta


# Store writes: a message must never be dropped because the database blinked, so retry until stored.
STORE: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}

# A message to the customer's provider: 429s and 5xx are backed off up to a minute, then the
# message is recorded as failed.
DELIVERY: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60), maximum_attempts=8
    ),
}

# The longest one post to an external integration may take with its retries: the integration's
# 10 s per attempt and the waits between attempts (1 s, 2 s, 4 s).
WEBHOOK_ATTEMPT_SECONDS = 15


def webhook(retry_count: int) -> ActivityOptions:
    """One post to an external integration (runs from before batches): retried ``retry_count``
    more times after a first wait of a second, then recorded as failed."""
    return {
        "start_to_close_timeout": timedelta(seconds=15),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=retry_count + 1),
    }


def webhook_batch(posts: int, attempts: int) -> RemoteActivityOptions:
    """A batch of posts to an external integration (and trigger webhooks), ``attempts`` at most
    per message (each target's ``retry_count`` + 1, added up). It retries (a lost worker, a
    database blink) until done: the posts' own retries and recorded failures happen inside it,
    and it heartbeats its progress after every post."""
    return {
        "start_to_close_timeout": timedelta(seconds=60 + posts * attempts * WEBHOOK_ATTEMPT_SECONDS),
        "heartbeat_timeout": timedelta(seconds=30),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)),
    }


def state_event() -> RemoteActivityOptions:
    """A conversation's state change posted to its post-event webhooks while the channel waits:
    a few attempts, so a target or a database that is down does not hold the channel's close."""
    return {
        "start_to_close_timeout": timedelta(seconds=60 + WEBHOOK_ATTEMPT_SECONDS),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
    }


def http(timeout_seconds: float) -> ActivityOptions:
    """A Studio flow's HTTP call: not retried, a failed call takes the widget's failure transition."""
    return {
        "start_to_close_timeout": timedelta(seconds=timeout_seconds + 5),
        "retry_policy": RetryPolicy(maximum_attempts=1),
    }


# A TaskRouter event to the workspace's callback URL: retried a few times, then given up.
ROUTING_EVENT: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60), maximum_attempts=10
    ),
}

# Retention: which services are due, then one sweep (or erasure) each, retried until done.
RETENTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
RETENTION_DUE: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RETENTION_RETRY,
}
SWEEP: Final[ActivityOptions] = {"start_to_close_timeout": timedelta(minutes=30), "retry_policy": RETENTION_RETRY}
