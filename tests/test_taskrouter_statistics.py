"""TaskRouter statistics through the official client: a workspace's and a task queue's real-time
statistics, computed from the store, after tasks were routed, accepted, left waiting and canceled;
and their cumulative statistics over a window, after reservations were rejected and accepted."""

from __future__ import annotations

import time
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

    # Switchboard's own fields (the client above ignored them): the one wait's percentiles, and
    # the first task's handling, completed without a wrap-up (the canceled one was never handled).
    wait = accepted["max"]
    with stack.http() as http:
        base = f"/v1/Workspaces/{space.sid}"
        answers = [
            http.get(f"{base}/CumulativeStatistics").json(),
            http.get(f"{base}/Statistics").json()["cumulative"],
            http.get(f"{base}/TaskQueues/{space.queue.sid}/Statistics").json()["cumulative"],
            http.get(f"{base}/Workflows/{space.workflow.sid}/CumulativeStatistics").json(),
            http.get(f"{base}/Workers/CumulativeStatistics").json(),
            http.get(f"{base}/Workers/{taker}/Statistics").json()["cumulative"],
        ]
        refuser_own = http.get(f"{base}/Workers/{refuser}/Statistics").json()["cumulative"]
    for answer in answers:
        assert answer["switchboard_wait_time_percentiles"] == {"p50": wait, "p90": wait, "p95": wait}
        handled = answer["switchboard_handle_time"]
        assert handled["count"] == 1 and handled["talk"] == handled["handle"]
        held = handled["handle"]["total"]
        assert 0 <= held < 60 and set(handled["handle"].values()) == {held}
    assert refuser_own["switchboard_wait_time_percentiles"] == {"p50": None, "p90": None, "p95": None}
    assert refuser_own["switchboard_handle_time"]["count"] == 0
    assert refuser_own["switchboard_handle_time"]["talk"]["avg"] is None

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


def _whole_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_workers_statistics_count_reservations_and_time_in_activities(stack: Stack) -> None:
    begun = _whole_second() - timedelta(seconds=1)
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    bob = space.add_worker("bob", available=False)
    cy = space.add_worker("cy", available=False, skills=("sales",))

    first = space.create_task()
    [offer] = space.pending(amy.sid)
    offer.update(reservation_status="rejected")  # amy refuses; the task waits for bob
    workspace.workers(bob.sid).update(activity_sid=space.activities["Available"])
    [offer] = space.pending(bob.sid)
    offer.update(reservation_status="accepted")
    eventually(lambda: _status(workspace, first.sid, "assigned"))
    second = space.create_task()
    space.pending(amy.sid)  # bob's one chat slot is taken: amy is offered the second task
    workspace.tasks(second.sid).update(assignment_status="canceled", reason="customer left")
    eventually(lambda: _status(workspace, second.sid, "canceled"))

    every = workspace.workers.cumulative_statistics().fetch(start_date=begun)
    assert every.url == f"{stack.url}/v1/Workspaces/{space.sid}/Workers/CumulativeStatistics"
    counted = (
        every.reservations_created,
        every.reservations_accepted,
        every.reservations_rejected,
        every.reservations_canceled,
        every.reservations_timed_out,
        every.reservations_rescinded,
    )
    assert counted == (3, 1, 1, 1, 0, 0)
    assert [d["friendly_name"] for d in every.activity_durations] == ["Offline", "Available", "Unavailable", "Break"]

    of_amy = workspace.workers(amy.sid).statistics().fetch(start_date=begun)
    assert of_amy.worker_sid == amy.sid and of_amy.workspace_sid == space.sid
    assert of_amy.url == f"{stack.url}/v1/Workspaces/{space.sid}/Workers/{amy.sid}/Statistics"
    amy_counts = of_amy.cumulative
    assert (amy_counts["reservations_created"], amy_counts["reservations_rejected"]) == (2, 1)
    assert (amy_counts["reservations_canceled"], amy_counts["reservations_accepted"]) == (1, 0)
    assert refused(lambda: workspace.workers("WK" + "0" * 32).statistics().fetch()) == 404

    # A window after all of it: each worker spent all of it in the activity it had; a change
    # inside the window splits the worker's time between the two activities.
    workspace.workers(cy.sid).update(activity_sid=space.activities["Break"])
    time.sleep(1)
    opened = _whole_second()
    time.sleep(1.2)
    workspace.workers(cy.sid).update(activity_sid=space.activities["Available"])
    time.sleep(2.1)  # at least a whole second before the window's (whole-second) end
    closed = _whole_second()
    length = int((closed - opened).total_seconds())
    spent = workspace.workers.cumulative_statistics().fetch(start_date=opened, end_date=closed)
    assert spent.start_time == opened and spent.end_time == closed
    by_name = {d["friendly_name"]: d for d in spent.activity_durations}
    assert by_name["Available"]["max"] == length  # amy and bob, the whole window
    assert 0 < by_name["Available"]["min"] < length  # cy, since her change
    assert 0 < by_name["Break"]["total"] == by_name["Break"]["max"] < length  # cy, until then
    total = sum(d["total"] for d in spent.activity_durations)
    assert abs(total - 3 * length) <= 1
    assert by_name["Offline"] == {
        "sid": space.activities["Offline"],
        "friendly_name": "Offline",
        "avg": 0,
        "min": 0,
        "max": 0,
        "total": 0,
    }

    both = workspace.workers.statistics().fetch(start_date=begun)
    assert both.url == f"{stack.url}/v1/Workspaces/{space.sid}/Workers/Statistics"
    assert both.realtime["total_workers"] == 3 and both.cumulative["reservations_created"] == 3
    # The queue's workers (amy and bob, not cy), or one worker by name.
    queue_only = workspace.workers.statistics().fetch(start_date=begun, task_queue_sid=space.queue.sid)
    assert queue_only.realtime["total_workers"] == 2
    by_queue_name = workspace.workers.statistics().fetch(start_date=begun, task_queue_name="Support")
    assert by_queue_name.realtime == queue_only.realtime
    just_bob = workspace.workers.statistics().fetch(start_date=begun, friendly_name="bob")
    assert just_bob.realtime["total_workers"] == 1 and just_bob.cumulative["reservations_accepted"] == 1
    assert just_bob.cumulative["reservations_created"] == 1
    # No queue has the name: no worker is its.
    assert workspace.workers.statistics().fetch(task_queue_name="Nobody").realtime["total_workers"] == 0
    assert refused(lambda: workspace.workers.statistics().fetch(task_queue_sid="WQ" + "0" * 32)) == 400


def test_bulk_real_time_statistics_of_queues(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    sales = workspace.task_queues.create(friendly_name="Sales", target_workers='routing.skills HAS "sales"')
    space.add_worker("amy", available=False)
    waiting = space.create_task()
    eventually(lambda: _entered(workspace, waiting.sid, space.queue.sid))

    bulk = workspace.task_queues.bulk_real_time_statistics.create(body=_Sids([space.queue.sid, sales.sid]))
    assert bulk.url == f"{stack.url}/v1/Workspaces/{space.sid}/TaskQueues/RealTimeStatistics"
    assert bulk.task_queue_response_count == 2 and bulk.workspace_sid == space.sid
    support, other = bulk.task_queue_data
    assert support["task_queue_sid"] == space.queue.sid and support["longest_task_waiting_sid"] == waiting.sid
    assert support["total_eligible_workers"] == 1 and support["tasks_by_status"]["pending"] == 1
    assert other["task_queue_sid"] == sales.sid and other["total_tasks"] == 0
    assert refused(lambda: workspace.task_queues.bulk_real_time_statistics.create(body=_Sids(["WQ" + "0" * 32]))) == 404
    assert refused(lambda: workspace.task_queues.bulk_real_time_statistics.create(body=_Sids([]))) == 400


class _Sids:
    """The bulk call's JSON body: the client sends what ``to_dict`` gives."""

    def __init__(self, sids: list[str]) -> None:
        self.sids = sids

    def to_dict(self) -> list[str]:
        return self.sids
