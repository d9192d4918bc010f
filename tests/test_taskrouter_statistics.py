"""TaskRouter statistics through the official client: a workspace's and a task queue's real-time
statistics, computed from the store, after tasks were routed, accepted, left waiting and canceled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.routing import new_space
from tests.helpers.stack import Stack, eventually

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def refused(call: Callable[[], Any]) -> int:
    try:
        call()
    except TwilioRestException as exc:
        return int(exc.status)
    raise AssertionError("the call was not refused")


def test_real_time_statistics_of_a_workspace_and_a_queue(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    space.add_worker("bob", available=False)
    space.add_worker("cy", skills=("sales",))  # available, but not in the support queue

    answered = space.create_task()
    [offer] = space.pending(amy.sid)
    offer.update(reservation_status="accepted")
    eventually(lambda: _status(workspace, answered.sid, "assigned"))
    waiting = space.create_task(priority=5)  # amy's one chat slot is taken: it waits in the queue
    dropped = space.create_task()
    workspace.tasks(dropped.sid).update(assignment_status="canceled", reason="customer left")
    eventually(lambda: _status(workspace, waiting.sid, "pending"))

    stats = workspace.real_time_statistics().fetch()
    assert stats.workspace_sid == space.sid and stats.account_sid == stack.settings.account_sid
    assert stats.url == f"{stack.url}/v1/Workspaces/{space.sid}/RealTimeStatistics"
    assert stats.tasks_by_status == {
        "pending": 1,
        "reserved": 0,
        "assigned": 1,
        "canceled": 1,
        "completed": 0,
        "wrapping": 0,
    }
    assert stats.tasks_by_priority == {"0": 2, "5": 1} and stats.total_tasks == 3
    assert stats.longest_task_waiting_sid == waiting.sid and stats.longest_task_waiting_age >= 0
    by_activity = {a["friendly_name"]: a["workers"] for a in stats.activity_statistics}
    assert by_activity == {"Offline": 1, "Available": 2, "Unavailable": 0, "Break": 0}
    assert stats.total_workers == 3

    queue_stats = workspace.task_queues(space.queue.sid).real_time_statistics().fetch()
    assert queue_stats.task_queue_sid == space.queue.sid
    assert queue_stats.total_eligible_workers == 2 and queue_stats.total_available_workers == 1
    assert {a["friendly_name"]: a["workers"] for a in queue_stats.activity_statistics}["Available"] == 1
    assert queue_stats.tasks_by_status["pending"] == 1 and queue_stats.tasks_by_status["assigned"] == 1
    assert queue_stats.longest_relative_task_sid_in_queue == waiting.sid
    assert queue_stats.longest_task_waiting_sid == waiting.sid

    # TaskChannel narrows the tasks counted, by unique name or SID.
    sms = next(c for c in workspace.task_channels.list() if c.unique_name == "sms")
    assert workspace.real_time_statistics().fetch(task_channel="sms").total_tasks == 0
    assert workspace.real_time_statistics().fetch(task_channel=sms.sid).longest_task_waiting_sid is None
    assert workspace.real_time_statistics().fetch(task_channel="chat").total_tasks == 3
    assert refused(lambda: workspace.real_time_statistics().fetch(task_channel="pigeon")) == 400
    assert refused(lambda: workspace.task_queues("WQ" + "0" * 32).real_time_statistics().fetch()) == 404


def _status(workspace: Any, task_sid: str, status: str) -> None:
    assert workspace.tasks(task_sid).fetch().assignment_status == status
