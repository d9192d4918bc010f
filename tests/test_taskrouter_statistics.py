"""TaskRouter statistics through the official client: a workspace's and a task queue's real-time
statistics, computed from the store, after tasks were routed, accepted, left waiting and canceled;
and their cumulative statistics over a window, after reservations were rejected and accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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

    workers = workspace.workers.real_time_statistics().fetch()
    assert {a["friendly_name"]: a["workers"] for a in workers.activity_statistics} == by_activity
    assert workers.total_workers == 3
    assert workers.url == f"{stack.url}/v1/Workspaces/{space.sid}/Workers/RealTimeStatistics"

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


def test_cumulative_statistics_count_the_window_s_events(stack: Stack) -> None:
    begun = datetime.now(UTC)
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    bob = space.add_worker("bob")

    first = space.create_task()
    offers = eventually(lambda: _pending_offers(workspace, first.sid))
    refuser = offers[0].worker_sid
    offers[0].update(reservation_status="rejected")
    taker = bob.sid if refuser == amy.sid else amy.sid
    [offer] = space.pending(taker)
    offer.update(reservation_status="accepted")
    eventually(lambda: _status(workspace, first.sid, "assigned"))
    second = space.create_task(priority=2)
    space.pending(refuser)  # the refuser only refused the first task
    workspace.tasks(second.sid).update(assignment_status="canceled", reason="customer left")
    workspace.tasks(first.sid).update(assignment_status="completed", reason="resolved")
    eventually(lambda: _status(workspace, first.sid, "completed"))

    stats = workspace.cumulative_statistics().fetch(split_by_wait_time="3600")
    assert stats.url == f"{stack.url}/v1/Workspaces/{space.sid}/CumulativeStatistics"
    assert (stats.tasks_created, stats.tasks_canceled, stats.tasks_completed) == (2, 1, 1)
    assert (stats.reservations_created, stats.reservations_accepted, stats.reservations_rejected) == (3, 1, 1)
    # The second task's pending offer was canceled with it.
    assert stats.reservations_canceled == 1
    assert stats.reservations_timed_out == 0 and stats.tasks_moved == 0
    accepted = stats.wait_duration_until_accepted
    assert 0 <= accepted["min"] == accepted["max"] == accepted["total"] < 60  # one task accepted
    assert stats.avg_task_acceptance_time == accepted["avg"]
    assert stats.split_by_wait_time == {
        "3600": {
            "above": {"reservations_accepted": 0, "tasks_canceled": 0},
            "below": {"reservations_accepted": 1, "tasks_canceled": 1},
        }
    }
    # The default window is the last 15 minutes, ending now.
    assert stats.start_time is not None and stats.end_time is not None
    assert stats.end_time - stats.start_time == timedelta(minutes=15)

    queue_stats = workspace.task_queues(space.queue.sid).cumulative_statistics().fetch(minutes=60)
    assert queue_stats.task_queue_sid == space.queue.sid and queue_stats.tasks_entered == 2
    assert (queue_stats.reservations_accepted, queue_stats.reservations_rejected) == (1, 1)
    assert queue_stats.end_time - queue_stats.start_time == timedelta(minutes=60)
    assert queue_stats.wait_duration_in_queue_until_accepted["max"] <= accepted["max"] + 1
    assert queue_stats.split_by_wait_time is None

    flow = workspace.workflows(space.workflow.sid)
    flow_stats = flow.cumulative_statistics().fetch(split_by_wait_time="3600")
    assert flow_stats.workflow_sid == space.workflow.sid
    assert (flow_stats.tasks_entered, flow_stats.tasks_canceled, flow_stats.tasks_completed) == (2, 1, 1)
    assert (flow_stats.reservations_created, flow_stats.reservations_canceled) == (3, 1)
    assert flow_stats.wait_duration_until_accepted == accepted
    flow_realtime = flow.real_time_statistics().fetch()
    assert flow_realtime.total_tasks == 2 and flow_realtime.tasks_by_status["completed"] == 1
    assert flow_realtime.tasks_by_priority == {"0": 1, "2": 1} and flow_realtime.longest_task_waiting_sid is None
    both = flow.statistics().fetch()
    assert both.realtime["tasks_by_status"]["canceled"] == 1 and both.cumulative["tasks_entered"] == 2
    assert both.url == f"{stack.url}/v1/Workspaces/{space.sid}/Workflows/{space.workflow.sid}/Statistics"
    assert refused(lambda: workspace.workflows("WW" + "0" * 32).statistics().fetch()) == 404

    # A window before any of it, and a channel none of it used, count nothing.
    before = workspace.cumulative_statistics().fetch(
        start_date=begun - timedelta(hours=2), end_date=begun - timedelta(hours=1)
    )
    assert (before.tasks_created, before.reservations_created, before.wait_duration_until_accepted["max"]) == (0, 0, 0)
    assert workspace.cumulative_statistics().fetch(task_channel="sms").tasks_created == 0
    assert workspace.cumulative_statistics().fetch(task_channel="chat").tasks_created == 2
    assert refused(lambda: workspace.cumulative_statistics().fetch(split_by_wait_time="soon")) == 400
    later = datetime.now(UTC) + timedelta(hours=1)
    assert refused(lambda: workspace.cumulative_statistics().fetch(start_date=later)) == 400


def test_statistics_combine_real_time_and_cumulative(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    other = workspace.task_queues.create(friendly_name="Sales", target_workers='routing.skills HAS "sales"')
    space.add_worker("amy", available=False)
    waiting = space.create_task(priority=4)
    eventually(lambda: _entered(workspace, waiting.sid, space.queue.sid))

    stats = workspace.statistics().fetch(minutes=30)
    assert stats.url == f"{stack.url}/v1/Workspaces/{space.sid}/Statistics"
    assert stats.realtime["longest_task_waiting_sid"] == waiting.sid
    assert stats.realtime["tasks_by_priority"] == {"4": 1} and stats.realtime["total_workers"] == 1
    assert stats.cumulative["tasks_created"] == 1 and stats.cumulative["reservations_created"] == 0

    queue_stats = workspace.task_queues(space.queue.sid).statistics().fetch(task_channel="chat")
    assert queue_stats.task_queue_sid == space.queue.sid
    assert queue_stats.realtime["total_eligible_workers"] == 1 and queue_stats.realtime["total_available_workers"] == 0
    assert queue_stats.cumulative["tasks_entered"] == 1

    listed = {s.task_queue_sid: s for s in workspace.task_queues.statistics.list()}
    assert set(listed) == {space.queue.sid, other.sid}
    assert listed[space.queue.sid].realtime["tasks_by_status"]["pending"] == 1
    assert listed[other.sid].realtime["total_tasks"] == 0 and listed[other.sid].cumulative["tasks_entered"] == 0
    assert listed[other.sid].realtime["total_eligible_workers"] == 0
    [sales] = workspace.task_queues.statistics.list(friendly_name="Sales")
    assert sales.task_queue_sid == other.sid
    assert [s.task_queue_sid for s in workspace.task_queues.statistics.list(page_size=1, limit=1)] == [space.queue.sid]


def _entered(workspace: Any, task_sid: str, queue_sid: str) -> None:
    assert workspace.tasks(task_sid).fetch().task_queue_sid == queue_sid


def _pending_offers(workspace: Any, task_sid: str) -> list[Any]:
    found = [r for r in workspace.tasks(task_sid).reservations.list() if r.reservation_status == "pending"]
    assert len(found) == 1
    return found


def _status(workspace: Any, task_sid: str, status: str) -> None:
    assert workspace.tasks(task_sid).fetch().assignment_status == status
