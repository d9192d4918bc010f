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


# Store writes: a message must never be dropped because the database blinked, so retry until stored.
STORE: Final[ActivityOptions] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}
